// The live loss chart: every run of this session with its training events, batched to the webview ~10 times a
// second, and replayed whole when the panel (re)connects.
import type * as vscode from 'vscode';
import type { TrainEvent } from '../../engine';
import type { LossRun, ToHost } from '../../engine';
import type { Log } from '../log';
import type { Session } from '../session';
import { PanelController } from './panel';

const FLUSH_MS = 100;

export class LossPanel extends PanelController<'loss'> {
  private readonly runs: { run: LossRun; events: TrainEvent[] }[] = [];
  private pending = new Map<string, TrainEvent[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(extensionUri: vscode.Uri, log: Log, session: Session) {
    super('loss', 'GPT Lab: Loss', extensionUri, log);
    this.disposables.push(session.onDidTrainEvent(({ run, event }) => {
      let entry = this.runs.find((r) => r.run.id === run.id);
      if (!entry) {
        entry = { run: { id: run.id, label: `${run.label} · run ${this.runs.length + 1}` }, events: [] };
        this.runs.push(entry);
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
