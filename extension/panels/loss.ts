// The live loss chart: the runs of this session with their training events, batched to the webview ~10 times a
// second, and replayed when the panel (re)connects; the tables of "Compare on this file" (extension/compare.ts posts
// its runs and table here); and, when a run ends with its model kept, that model's head-role timeline for the
// induction overlay. The store keeps the newest MAX_KEPT_RUNS runs: a session that trains all day does not grow
// without bound.
import type * as vscode from 'vscode';
import type { LossCompareTable, LossRun, LossTimeline, ToHost, TrainEvent } from '../../engine';
import type { Log } from '../log';
import type { Session } from '../session';
import { PanelController } from './panel';

const FLUSH_MS = 100;
/** Runs kept for a replay (the chart draws at most as many: a comparison of six variants with five seeds each). */
export const MAX_KEPT_RUNS = 30;
const MAX_KEPT_TABLES = 3;

export class LossPanel extends PanelController<'loss'> {
  private readonly runs: { run: LossRun; events: TrainEvent[] }[] = [];
  private readonly tables: LossCompareTable[] = [];
  private readonly timelines: LossTimeline[] = [];
  private pending = new Map<string, TrainEvent[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(extensionUri: vscode.Uri, log: Log, private readonly session: Session) {
    super('loss', 'GPT Lab: Loss', extensionUri, log);
    let runId: string | null = null; // the session's train run under way, and whether its model became the active one
    let kept = false;
    this.disposables.push(
      session.onDidTrainEvent(({ run, event }) => {
        runId = run.id;
        this.record({ id: run.id, source: run.label }, event);
      }),
      session.onDidChangeRun((run) => {
        if (run) {
          runId = null;
          kept = false;
        } else if (runId && kept) {
          void this.askTimeline(runId);
        }
      }),
      // The run's model became the active one (a model loaded by hand meanwhile is another document's, or no run's).
      session.onDidChangeModel((model) => {
        if (session.run && model?.docUri === session.run.docUri) kept = true;
      }),
    );
  }

  /** One training event of a run (a session run, or a comparison's), drawn live. */
  record(run: LossRun, event: TrainEvent): void {
    let entry = this.runs.find((r) => r.run.id === run.id);
    if (!entry) {
      entry = { run, events: [] };
      this.runs.push(entry);
      if (this.runs.length > MAX_KEPT_RUNS) this.runs.splice(0, this.runs.length - MAX_KEPT_RUNS);
      this.flush();
      if (this.isReady) this.post('run', entry.run);
    }
    entry.events.push(event);
    const batch = this.pending.get(run.id) ?? [];
    batch.push(event);
    this.pending.set(run.id, batch);
    // The end of a run is drawn at once; steps go in batches (a step timer is usually pending when `done` comes).
    if (event.event === 'done') this.flush();
    else this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** A comparison's table, shown under the chart (and again after the panel reopens). */
  showCompareTable(table: LossCompareTable): void {
    this.flush();
    this.tables.push(table);
    if (this.tables.length > MAX_KEPT_TABLES) this.tables.shift();
    if (this.isReady) this.post('compareTable', table);
  }

  /** The kept model's head roles per snapshot, for the induction overlay of the run that trained it. */
  private async askTimeline(runId: string): Promise<void> {
    try {
      const timeline = await this.session.probe('timeline', {});
      const entry = { runId, timeline };
      this.timelines.push(entry);
      if (this.timelines.length > MAX_KEPT_TABLES) this.timelines.shift();
      if (this.isReady) this.post('timeline', entry);
    } catch (e) {
      this.log.error(`the head-role timeline of the new model: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Posts the batched events; before the webview is ready they are dropped, since onReady replays every run. */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.isReady) for (const [runId, events] of this.pending) this.post('events', { runId, events });
    this.pending = new Map();
  }

  /**
   * The webview (re)connected: every run is replayed whole, its `run` before its events, so batches still pending are
   * dropped, not posted. Posted first, they named a run the webview did not know yet.
   */
  protected override onReady(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = new Map();
    for (const { run, events } of this.runs) {
      this.post('run', run);
      this.post('events', { runId: run.id, events });
    }
    for (const t of this.tables) this.post('compareTable', t);
    for (const t of this.timelines) this.post('timeline', t);
  }

  protected receive(_msg: ToHost<'loss'>): void {
    // The chart only listens.
  }

  override dispose(): void {
    clearTimeout(this.timer);
    super.dispose();
  }
}
