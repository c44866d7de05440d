// The live loss chart: the runs of this session with their training events, batched to the webview ~10 times a
// second, and replayed when the panel (re)connects. The store keeps the newest MAX_KEPT_RUNS runs: a session that
// trains all day does not grow without bound.
import type * as vscode from 'vscode';
import type { LossRun, ToHost, TrainEvent } from '../../engine';
import type { Log } from '../log';
import type { Session } from '../session';
import { PanelController } from './panel';

const FLUSH_MS = 100;
/** Runs kept for a replay (the chart draws at most as many). */
export const MAX_KEPT_RUNS = 10;

export class LossPanel extends PanelController<'loss'> {
  private readonly runs: { run: LossRun; events: TrainEvent[] }[] = [];
  private pending = new Map<string, TrainEvent[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(extensionUri: vscode.Uri, log: Log, session: Session) {
    super('loss', 'GPT Lab: Loss', extensionUri, log);
    this.disposables.push(session.onDidTrainEvent(({ run, event }) => {
      let entry = this.runs.find((r) => r.run.id === run.id);
      if (!entry) {
        entry = { run: { id: run.id, source: run.label }, events: [] };
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
    }));
  }

  /** Posts the batched events; before the webview is ready they are dropped, since onReady replays every run. */
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.isReady) for (const [runId, events] of this.pending) this.post('events', { runId, events });
    this.pending = new Map();
  }

  protected override onReady(): void {
    this.flush();
    for (const { run, events } of this.runs) {
      this.post('run', run);
      this.post('events', { runId: run.id, events });
    }
  }

  protected receive(_msg: ToHost<'loss'>): void {
    // The chart only listens.
  }

  override dispose(): void {
    clearTimeout(this.timer);
    super.dispose();
  }
}
