// The current training run and the active model. Features subscribe here, never to the engine: train events,
// model changes and run changes arrive as VS Code events; probes go through `probe`, which makes sure the probing
// engine holds the active model first. Which model is active: the active document's own stored model when it has
// one (loaded on an editor switch, after a short pause, a later switch cancelling it); otherwise the model stays as
// it was (a loaded model, or another document's), and the status bar and hovers name it. A run never costs the user
// a model: the engine's run policy replaces the document's stored model only with a better one (engine/host/run.ts),
// and what it kept is said with both scores.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeTrainingPath, readRunChoices, type Method, type ModelSummary, type ParamsOf, type ResultOf, type TrainEvent,
  type TrainOutcome } from '../engine';
import { ContextKey } from './commands';
import { isCrash, isStopped, type EngineHost } from './engineHost';
import type { Log } from './log';
import type { ModelStore, RunningModel, StoredModel, TextRange } from './modelStore';
import { runSettings, snapshotsToKeep } from './settings';

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

/** How a run ended, for the message: the engine's outcome, or why there is none. */
export type RunResult =
  | { kind: 'outcome'; outcome: TrainOutcome }
  /** The engine died or was stopped by force; `recovered` is the run's best checkpoint, if it wrote one. */
  | { kind: 'interrupted'; why: 'crash' | 'forced'; recovered: { model: StoredModel; stored: boolean } | null };

export class NoModelError extends Error {}

/** After a polite stop, how long a run has to end before its engine is stopped by force (and a new one starts). */
export const STOP_GRACE_MS = 10_000;

/** Quiet time after an editor switch before the document's model is loaded: flicking through tabs loads nothing. */
export const FOLLOW_DELAY_MS = 300;

export class Session implements vscode.Disposable {
  private activeModel: StoredModel | null;
  private currentRun: Run | null = null;
  private proberHolds: StoredModel | null = null; // the model the probing engine holds, or null (none, unknown, loading)
  private proberLoads: Promise<unknown> = Promise.resolve(); // loads into the probing engine, one at a time, in order
  /** Bumped by every editor switch and every load: a document's model that comes after it is dropped. */
  private followGeneration = 0;
  private followTimer: NodeJS.Timeout | undefined;
  private forcedStop = false;
  private readonly trainEvents = new vscode.EventEmitter<RunEvent>();
  private readonly modelChanges = new vscode.EventEmitter<StoredModel | null>();
  private readonly runChanges = new vscode.EventEmitter<Run | null>();
  readonly onDidTrainEvent = this.trainEvents.event;
  readonly onDidChangeModel = this.modelChanges.event;
  readonly onDidChangeRun = this.runChanges.event;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly host: EngineHost, private readonly store: ModelStore, private readonly log: Log) {
    this.activeModel = store.restore();
    if (this.activeModel) log.info(`active model: ${this.activeModel.label} (${this.activeModel.file ?? 'in memory'}${this.activeModel.partial ? ', partial' : ''})`);
    if (this.activeModel?.partial) {
      void store.setActive(this.activeModel).then(() => store.runEnded()); // told once
      void vscode.window.showInformationMessage(`GPT Lab: training on ${this.activeModel.label} did not finish; its best checkpoint ` +
        'so far is the active model (marked partial in the status bar).');
    } else {
      void store.runEnded();
    }
    const forget = ({ role }: { role: string }): void => {
      if (role === 'prober') this.proberHolds = null;
    };
    this.subscriptions.push(host.onDidCrash(forget), host.onDidStop((role) => forget({ role })),
      vscode.window.onDidChangeActiveTextEditor((editor) => this.followSoon(editor?.document)));
    this.followSoon(vscode.window.activeTextEditor?.document);
  }

  /** Makes the document's own stored model the active one, after FOLLOW_DELAY_MS unless another switch comes first. */
  private followSoon(doc: vscode.TextDocument | undefined): void {
    const generation = ++this.followGeneration;
    clearTimeout(this.followTimer);
    if (!doc || doc.uri.scheme === 'output' || doc.uri.scheme === 'vscode-settings') return;
    this.followTimer = setTimeout(() => {
      this.follow(doc, generation).catch((e: unknown) => this.log.error(`loading ${shortName(doc)}'s model: ${String(e)}`));
    }, FOLLOW_DELAY_MS);
  }

  private async follow(doc: vscode.TextDocument, generation: number): Promise<void> {
    const docUri = doc.uri.toString();
    const stale = (): boolean => generation !== this.followGeneration;
    if (stale() || this.activeModel?.docUri === docUri) return;
    const file = this.store.storedFileFor(docUri);
    if (!file) return; // no model of its own: the active model stays, and says whose it is
    const known = this.store.knownModel(docUri);
    const model = await this.loadIntoProber({ file }, (summary) =>
      ({ ...this.store.describe(summary, shortName(doc), docUri, file), trainedWith: known?.trainedWith,
        ...(known?.trainedOn ? { trainedOn: known.trainedOn } : {}) }), stale);
    if (!model || stale()) return;
    this.log.info(`the active document ${model.label} has its own model: it is the active model now`);
    await this.activate(model, false);
  }

  get model(): StoredModel | null {
    return this.activeModel;
  }

  get run(): Run | null {
    return this.currentRun;
  }

  /**
   * Trains on a text with the run settings (`over` replaces some, as a command link may); resolves when the run ends
   * (finished, cancelled, failed or interrupted). Only one run at a time. `trainedOn`: where the text lies in the
   * document when it is a selection (the validation marker goes there).
   */
  async train(doc: vscode.TextDocument, text: string, over: Record<string, unknown> = {}, trainedOn?: TextRange): Promise<RunResult> {
    if (this.currentRun) throw new Error(`already training on ${this.currentRun.label}`);
    const settings = { ...runSettings(), ...over };
    readRunChoices(settings, 'setting'); // a bad setting is one line now, before any engine starts (the engine checks again)
    const label = shortName(doc);
    const docUri = doc.uri.toString();
    const out = this.store.fileFor(docUri);
    const run: Run = { id: `${Date.now().toString(36)}`, label, docUri, started: Date.now(), requestId: Promise.resolve(-1), step: 0 };
    let running: RunningModel | null = null; // the model this run trains, once its start event says what it is
    let trainedWith: string | undefined;
    this.forcedStop = false;
    const request = this.host.request('trainer', 'train', {
      text, label, settings, out, beside: this.store.candidateFor(docUri), checkpoint: this.store.checkpointFor(docUri),
      inputs: doc.uri.scheme === 'file' ? [doc.uri.fsPath] : [], snapshots: snapshotsToKeep(),
    }, { onEvent: (event) => {
      if (event.event === 'start') {
        running = { docUri, label, tokenizer: event.tokenizer, parameters: event.parameters, contextLength: event.config.contextLength,
          ...(trainedOn ? { trainedOn } : {}) };
        trainedWith = describeTrainingPath(event.training);
        void this.store.runStarted(running);
      }
      if (event.event === 'step') run.step = event.step;
      this.trainEvents.fire({ run, event });
    } });
    run.requestId = request.id;
    this.setRun(run);
    try {
      const outcome = await request.result;
      // The run's model is the document's model now (or, when every save failed, lives only in the training engine).
      if (outcome.summary && outcome.kept === 'new') {
        await this.activate({ ...this.store.describe(outcome.summary, label, docUri, outcome.summary.file), trainedWith, ...(trainedOn ? { trainedOn } : {}) });
      }
      return { kind: 'outcome', outcome };
    } catch (e) {
      if (!isCrash(e) && !(isStopped(e) && this.forcedStop)) throw e;
      // The engine died or was stopped mid-run: the best checkpoint so far, if any, is kept; it becomes the active
      // model when the document had none.
      const recovered = running ? this.store.recoverCheckpoint(running) : null;
      if (recovered?.stored) await this.activate(recovered.model);
      return { kind: 'interrupted', why: isCrash(e) ? 'crash' : 'forced', recovered };
    } finally {
      await this.store.runEnded();
      this.setRun(null);
    }
  }

  /**
   * A run on the training engine that keeps no model (a comparison, extension/compare.ts): it is the session's run while
   * it lasts, so Stop stops it and Train waits for it. `send` sends its request to the training engine (and counts the
   * run's steps in `run.step`).
   */
  async runOther<T>(label: string, docUri: string,
    send: (host: EngineHost, run: Run) => { id: Promise<number>; result: Promise<T> }): Promise<T> {
    if (this.currentRun) throw new Error(`already training on ${this.currentRun.label}`);
    const run: Run = { id: `${Date.now().toString(36)}`, label, docUri, started: Date.now(), requestId: Promise.resolve(-1), step: 0 };
    this.forcedStop = false;
    const request = send(this.host, run);
    run.requestId = request.id;
    this.setRun(run);
    try {
      return await request.result;
    } finally {
      this.setRun(null);
    }
  }

  /**
   * Stops the run: a polite stop (it ends after its current step), then, if it has not ended after STOP_GRACE_MS, the
   * training engine is stopped by force (a new one starts with the next run). Resolves once the run has ended.
   */
  async stop(): Promise<boolean> {
    const run = this.currentRun;
    if (!run) return false;
    const ended = new Promise<void>((resolve) => {
      const sub = this.onDidChangeRun((r) => {
        if (r?.id !== run.id) {
          sub.dispose();
          resolve();
        }
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace'>((resolve) => (timer = setTimeout(() => resolve('grace'), STOP_GRACE_MS)));
    void (async (): Promise<void> => {
      const id = await Promise.race([run.requestId, graceOver.then(() => -1)]);
      if (id >= 0) await this.host.cancel('trainer', id).catch((e: unknown) => this.log.error(`stop: ${String(e)}`));
    })();
    if ((await Promise.race([ended, graceOver])) === 'grace' && this.currentRun?.id === run.id) {
      this.log.error(`training on ${run.label} did not stop within ${STOP_GRACE_MS / 1000} s of being asked; stopping its engine`);
      this.forcedStop = true;
      this.host.stop('trainer', 'training was stopped by force: the engine did not stop when asked');
      await ended;
    }
    clearTimeout(timer);
    return true;
  }

  /**
   * Makes a model file the active model (loading it checks it); the summary comes from the engine. It stays active,
   * in every document, until a document with its own model becomes the active editor.
   */
  async load(file: string, label: string, docUri: string | null): Promise<StoredModel> {
    ++this.followGeneration; // a document's model on its way in does not replace this one
    const model = await this.loadIntoProber({ file }, (summary) => this.store.describe(summary, label, docUri, file));
    await this.activate(model!, false);
    return model!;
  }

  /** The user chose the run's candidate over the document's stored model (see modelStore.ts). */
  async adoptCandidate(docUri: string, label: string, summary: TrainOutcome['summary'], trainedOn?: TextRange): Promise<StoredModel> {
    if (!summary) throw new Error('there is no new model to use');
    const file = this.store.adoptCandidate(docUri);
    const model = { ...this.store.describe(summary, label, docUri, file), ...(trainedOn ? { trainedOn } : {}) };
    await this.activate(model);
    return model;
  }

  /**
   * Saves the active model to a file, with the checks of the CLI's --out: never its training text or a document open
   * in the editor, never a device, pipe or folder, never GPT Lab's own model storage.
   */
  async save(file: string): Promise<void> {
    const resolved = path.resolve(file);
    if (resolved === this.store.folder || resolved.startsWith(this.store.folder + path.sep)) {
      throw new Error(`${file} is in GPT Lab's own model storage; choose another place`);
    }
    const inputs = vscode.workspace.textDocuments.filter((d) => d.uri.scheme === 'file').map((d) => d.uri.fsPath);
    const source = this.activeModel?.docUri ? vscode.Uri.parse(this.activeModel.docUri) : null;
    if (source?.scheme === 'file') inputs.push(source.fsPath);
    await this.ensureLoaded();
    await this.host.call('prober', 'save', { file, inputs });
  }

  /** A request that needs the active model; throws NoModelError when there is none. `deadlineMs` overrides the method's. */
  async probe<M extends Method>(method: M, params: ParamsOf<M>, deadlineMs?: number): Promise<ResultOf<M>> {
    await this.ensureLoaded();
    return this.host.call('prober', method, params, deadlineMs);
  }

  /** A request that needs no model (tokenizing, comparing tokenizers). */
  call<M extends Method>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    return this.host.call('prober', method, params);
  }

  /** Until the probing engine holds the active model (which may change while it loads). */
  private async ensureLoaded(): Promise<void> {
    for (;;) {
      const model = this.activeModel;
      if (!model) throw new NoModelError('there is no model yet');
      if (this.proberHolds === model) return;
      // A model no save could write lives in the training engine: the probing engine gets it from there.
      await this.loadIntoProber(model.file ? { file: model.file } : 'fromTrainer', () => model, () => this.activeModel !== model);
    }
  }

  /**
   * Loads a model into the probing engine after the loads before it (so what it holds is always known); `skip` is
   * asked when its turn comes (null when it says so), and a model it already holds is not loaded again.
   */
  private loadIntoProber(source: { file: string } | 'fromTrainer', describe: (summary: ModelSummary) => StoredModel,
    skip: () => boolean = () => false): Promise<StoredModel | null> {
    const turn = this.proberLoads.then(async () => {
      if (skip()) return null;
      const sameFile = typeof source !== 'string' && this.proberHolds?.file === source.file;
      if (sameFile && this.proberHolds === this.activeModel) return this.proberHolds;
      this.proberHolds = null;
      const summary = await this.host.call('prober', 'load', source === 'fromTrainer'
        ? { bytes: await this.host.call('trainer', 'modelBytes', {}) } : source);
      const model = describe(summary);
      this.proberHolds = model;
      this.log.info(`loaded ${model.file ?? 'the unsaved model'} into the probing engine (${(summary.parameters / 1e6).toFixed(2)}M parameters)`);
      return model;
    });
    this.proberLoads = turn.catch(() => undefined);
    return turn;
  }

  private async activate(model: StoredModel, reload = true): Promise<void> {
    this.activeModel = model;
    await this.store.setActive(model);
    this.log.info(`active model: ${model.label} (${model.file ?? 'in memory'}${model.partial ? ', partial' : ''})`);
    this.modelChanges.fire(model);
    if (!reload) return;
    // The probing engine takes the new model now, so the first hover after a run finds it there, not loading.
    this.ensureLoaded().catch((e: unknown) => this.log.error(`loading the new model for probes: ${String(e)}`));
  }

  private setRun(run: Run | null): void {
    this.currentRun = run;
    void vscode.commands.executeCommand('setContext', ContextKey.Training, run !== null);
    this.runChanges.fire(run);
  }

  dispose(): void {
    clearTimeout(this.followTimer);
    this.trainEvents.dispose();
    this.modelChanges.dispose();
    this.runChanges.dispose();
    for (const s of this.subscriptions) s.dispose();
  }
}

/**
 * What of its training document a model learned from: the range of the selection it was trained on (its offsets as
 * they were then; from storage, so used only when they hold together), or undefined for the whole document.
 */
export function trainingRange(model: StoredModel | null, doc: vscode.TextDocument): vscode.Range | undefined {
  const on = model?.trainedOn;
  return on && Number.isInteger(on.start) && Number.isInteger(on.end) && on.start >= 0 && on.start < on.end
    ? new vscode.Range(doc.positionAt(on.start), doc.positionAt(on.end)) : undefined;
}

/** A document's name for messages: its file name, or "Untitled-1". */
export function shortName(doc: vscode.TextDocument): string {
  return doc.uri.path.split('/').pop() || doc.uri.toString();
}

/**
 * The text before a position that the model reads as context, for hovers and completions alike: up to eight
 * characters per context token (no token is longer on ordinary text), at least 256.
 */
export function contextBefore(doc: vscode.TextDocument, offset: number, model: StoredModel): vscode.Range {
  const chars = Math.max(256, model.contextLength * 8);
  return new vscode.Range(doc.positionAt(Math.max(0, offset - chars)), doc.positionAt(offset));
}
