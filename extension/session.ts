// The current training run and the active model. Features subscribe here, never to the engine: train events,
// model changes and run changes arrive as VS Code events; probes go through `probe`, which makes sure the probing
// engine holds the active model first.
import * as vscode from 'vscode';
import { type Method, type ParamsOf, type ResultOf, type TrainChoices, type TrainerChoice, type TrainEvent,
  type TrainOutcome } from '../engine';
import { ContextKey } from './commands';
import { isCrash, type EngineHost } from './engineHost';
import type { Log } from './log';
import type { ModelStore, RunningModel, StoredModel } from './modelStore';

export interface Run {
  id: string;
  label: string;
  docUri: string;
  started: number;
  requestId: Promise<number>;
  /** The newest step the engine reported (0 before the first). */
  step: number;
}

export interface RunEvent {
  run: Run;
  event: TrainEvent;
}

export class NoModelError extends Error {}

export class Session implements vscode.Disposable {
  private activeModel: StoredModel | null;
  private currentRun: Run | null = null;
  private loadedInProber: string | null = null; // file the probing engine holds, or null
  private modelVersion = 0;
  private loading: Promise<void> | null = null;
  private readonly trainEvents = new vscode.EventEmitter<RunEvent>();
  private readonly modelChanges = new vscode.EventEmitter<StoredModel | null>();
  private readonly runChanges = new vscode.EventEmitter<Run | null>();
  readonly onDidTrainEvent = this.trainEvents.event;
  readonly onDidChangeModel = this.modelChanges.event;
  readonly onDidChangeRun = this.runChanges.event;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly host: EngineHost, private readonly store: ModelStore, private readonly log: Log) {
    this.activeModel = store.restorable();
    if (this.activeModel) log.info(`active model: ${this.activeModel.label} (${this.activeModel.file}${this.activeModel.partial ? ', partial' : ''})`);
    if (this.activeModel?.partial) {
      void store.setActive(this.activeModel).then(() => store.runEnded()); // told once
      void vscode.window.showInformationMessage(`GPT Lab: training on ${this.activeModel.label} did not finish; its best checkpoint ` +
        'so far is the active model (marked partial in the status bar).');
    }
    this.subscriptions.push(host.onDidCrash(({ role }) => {
      if (role === 'prober') this.loadedInProber = null;
    }));
  }

  get model(): StoredModel | null {
    return this.activeModel;
  }

  get run(): Run | null {
    return this.currentRun;
  }

  /** Trains on a text; resolves when the run ends (finished, cancelled or failed). Only one run at a time. */
  async train(doc: vscode.TextDocument, text: string, choices: TrainChoices, trainer: TrainerChoice = 'auto'): Promise<TrainOutcome> {
    if (this.currentRun) throw new Error(`already training on ${this.currentRun.label}`);
    const label = shortName(doc);
    const docUri = doc.uri.toString();
    const out = this.store.fileFor(docUri);
    const runId = `${Date.now().toString(36)}`;
    const run: Run = { id: runId, label, docUri, started: Date.now(), requestId: Promise.resolve(-1), step: 0 };
    let running: RunningModel | null = null; // the model this run trains, once its start event says what it is
    const request = this.host.request('trainer', 'train', { text, label, choices, trainer, out }, (event) => {
      if (event.event === 'start') {
        running = { docUri, label, tokenizer: event.tokenizer, parameters: event.parameters, contextLength: event.config.contextLength };
        void this.store.runStarted(running);
      }
      if (event.event === 'step') run.step = event.step;
      this.trainEvents.fire({ run, event });
    });
    run.requestId = request.id;
    this.setRun(run);
    try {
      const outcome = await request.result;
      if (outcome.summary) await this.activate(this.store.describe(outcome.summary, label, docUri, out));
      return outcome;
    } catch (e) {
      // The engine died mid-run: the best checkpoint so far, if any, becomes the active model (marked partial).
      const checkpoint = isCrash(e) && running ? this.store.checkpointOf(running) : null;
      if (checkpoint) await this.activate(checkpoint);
      throw e;
    } finally {
      await this.store.runEnded();
      this.setRun(null);
    }
  }

  /** Asks the run to stop after its current step; its train() then resolves with cancelled: true. */
  async stop(): Promise<boolean> {
    const run = this.currentRun;
    if (!run) return false;
    await this.host.cancel('trainer', await run.requestId);
    return true;
  }

  /** Makes a model file the active model (loading it checks it); the summary comes from the engine. */
  async load(file: string, label: string, docUri: string | null): Promise<StoredModel> {
    const summary = await this.host.call('prober', 'load', { file });
    this.loadedInProber = file;
    const model = this.store.describe(summary, label, docUri, file);
    await this.activate(model, false);
    return model;
  }

  async save(file: string): Promise<void> {
    await this.ensureLoaded();
    await this.host.call('prober', 'save', { file });
  }

  /** A request that needs the active model; throws NoModelError when there is none. */
  async probe<M extends Method>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    await this.ensureLoaded();
    return this.host.call('prober', method, params);
  }

  /** A request that needs no model (tokenizing, comparing tokenizers). */
  call<M extends Method>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    return this.host.call('prober', method, params);
  }

  private async ensureLoaded(): Promise<void> {
    const model = this.activeModel;
    if (!model) throw new NoModelError('there is no model yet');
    if (this.loadedInProber === model.file) return;
    const version = this.modelVersion;
    this.loading ??= (async () => {
      try {
        const summary = await this.host.call('prober', 'load', { file: model.file });
        this.log.info(`loaded ${model.file} into the probing engine (${(summary.parameters / 1e6).toFixed(2)}M parameters)`);
        if (version === this.modelVersion) this.loadedInProber = model.file;
      } finally {
        this.loading = null;
      }
    })();
    await this.loading;
    if (this.loadedInProber !== this.activeModel?.file) await this.ensureLoaded(); // the model changed meanwhile
  }

  private async activate(model: StoredModel, reload = true): Promise<void> {
    this.activeModel = model;
    this.modelVersion += 1;
    if (reload) this.loadedInProber = null;
    await this.store.setActive(model);
    this.log.info(`active model: ${model.label} (${model.file}${model.partial ? ', partial' : ''})`);
    this.modelChanges.fire(model);
  }

  private setRun(run: Run | null): void {
    this.currentRun = run;
    void vscode.commands.executeCommand('setContext', ContextKey.Training, run !== null);
    this.runChanges.fire(run);
  }

  dispose(): void {
    this.trainEvents.dispose();
    this.modelChanges.dispose();
    this.runChanges.dispose();
    for (const s of this.subscriptions) s.dispose();
  }
}

/** A document's name for messages: its file name, or "Untitled-1". */
export function shortName(doc: vscode.TextDocument): string {
  return doc.uri.path.split('/').pop() || doc.uri.toString();
}

