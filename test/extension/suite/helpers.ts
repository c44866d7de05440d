// Shared helpers of the in-host suite: the extension's API contract, configuration, scratch files, waiting.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

export const EXTENSION_ID = 'gpt-lab.gpt-lab';

/** What `activate()` returns in test mode (extension/testApi.ts: the contract the tests are written against). */
export interface GptLabApi {
  enginePid(role?: 'trainer' | 'prober'): number | undefined;
  activeModel(): { file: string | null; tokenizer: string; parameters: number; partial: boolean; label: string;
    trainedOn?: { start: number; end: number } } | null;
  crashCount(): number;
  run(): { step: number } | null;
  modelFiles(docUri: string): { stored: string; checkpoint: string; candidate: string };
}

/** What `gptLab.train` resolves to when training ends (or `undefined` when there was nothing to train on). */
export interface TrainResult {
  cancelled: boolean;
  error: string | null;
  steps: number;
  kept: 'new' | 'previous';
  messages: string[];
}

export function extension(): vscode.Extension<GptLabApi> {
  const ext = vscode.extensions.getExtension<GptLabApi>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not installed in this host`);
  return ext;
}

/** Activates the extension and checks that it returned the API object. */
export async function activateApi(): Promise<GptLabApi> {
  const api = await extension().activate();
  assert.ok(
    api && typeof api.enginePid === 'function' && typeof api.activeModel === 'function' && typeof api.crashCount === 'function' &&
      typeof api.modelFiles === 'function',
    `activate() must return the test API { enginePid(), activeModel(), crashCount(), modelFiles() } in test mode; got ${repr(api)}`,
  );
  return api;
}

/** Sets `gptLab.*` settings in the user (global) settings; `undefined` removes one. */
export async function configure(values: Record<string, unknown>): Promise<void> {
  const config = vscode.workspace.getConfiguration('gptLab');
  for (const [key, value] of Object.entries(values)) {
    await config.update(key, value, vscode.ConfigurationTarget.Global);
  }
}

/** Settings that make training fast enough for tests. */
export async function fastTraining(steps: number): Promise<void> {
  await configure({ preset: 'tiny', steps });
}

export async function resetConfiguration(): Promise<void> {
  await configure({ preset: undefined, steps: undefined, learningRate: undefined });
}

/**
 * The hooks of a suite that trains: the API once the extension is active (then `ready`, e.g. to train a first model),
 * and, after the suite, whatever a failed test left running stopped and the settings put back.
 */
export function trainingSuite(got: (api: GptLabApi) => void, ready?: (api: GptLabApi) => Promise<void>): void {
  suiteSetup(async () => {
    const api = await activateApi();
    got(api);
    await ready?.(api);
  });
  suiteTeardown(async () => {
    await vscode.commands.executeCommand('gptLab.stopTraining').then(undefined, () => undefined);
    await resetConfiguration().then(undefined, () => undefined);
  });
}

let scratch: string | undefined;
/** A scratch folder for this run's files (outside any workspace, so nothing a test writes is left behind). */
export function scratchDir(): string {
  scratch ??= fs.mkdtempSync(path.join(os.tmpdir(), 'gpt-lab-host-tests-'));
  return scratch;
}

/** Removes the scratch folder (called once the suite has run). */
export function removeScratchDir(): void {
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
}

/** About `bytes` bytes of the bundled Shakespeare sample: plenty for the tiny preset's 64-token context. */
export function sampleText(bytes = 8_000): string {
  // out/test/extension/suite -> the repository root (the suite always runs from the repository's build output).
  const file = path.resolve(__dirname, '..', '..', '..', '..', 'media', 'tinyshakespeare-sample.txt');
  const text = fs.readFileSync(file, 'utf8');
  return text.slice(0, bytes);
}

/** Writes `content` to a new scratch file and returns its URI. */
export function scratchFile(name: string, content: string | Uint8Array): vscode.Uri {
  const file = path.join(scratchDir(), name);
  fs.writeFileSync(file, content);
  return vscode.Uri.file(file);
}

export async function show(docOrUri: vscode.TextDocument | vscode.Uri): Promise<vscode.TextEditor> {
  const doc = docOrUri instanceof vscode.Uri ? await vscode.workspace.openTextDocument(docOrUri) : docOrUri;
  return vscode.window.showTextDocument(doc, { preview: false, preserveFocus: false });
}

/** Runs `gptLab.train` on the active editor and checks the shape of what it resolved to; waits while it makes progress. */
export async function train(api: GptLabApi): Promise<TrainResult> {
  const result = await whileProgressing(api, Promise.resolve(vscode.commands.executeCommand<TrainResult | undefined>('gptLab.train')),
    'gptLab.train to resolve');
  return expectTrainResult(result);
}

export function expectTrainResult(result: unknown): TrainResult {
  assert.ok(
    result !== null &&
      typeof result === 'object' &&
      typeof (result as TrainResult).cancelled === 'boolean' &&
      typeof (result as TrainResult).steps === 'number' &&
      ((result as TrainResult).error === null || typeof (result as TrainResult).error === 'string') &&
      ((result as TrainResult).kept === 'new' || (result as TrainResult).kept === 'previous') &&
      Array.isArray((result as TrainResult).messages),
    `gptLab.train must resolve to { cancelled, error, steps, kept, messages }; got ${repr(result)}`,
  );
  return result as TrainResult;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with "timed out after Nms waiting for <what>" unless `promise` settles first. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How long a wait may go without progress before it fails: progress is a run's next step, or (between runs) nothing,
 * so a machine that is merely slow never fails a wait, while a hang does within this.
 */
export const STALL_MS = 60_000;

/** The step the run under way has reached, or -1 between runs. */
function progress(api: GptLabApi): number {
  return api.run()?.step ?? -1;
}

/** Settles with `promise`; fails only when no run step has been made for STALL_MS while waiting. */
export async function whileProgressing<T>(api: GptLabApi, promise: Promise<T>, what: string): Promise<T> {
  let settled = false;
  const done = promise.finally(() => (settled = true));
  await waitForProgress(api, () => settled, what);
  return done;
}

/** Polls `condition` until it is truthy; fails with `what` only when the run has made no step for STALL_MS. */
export async function waitForProgress<T>(api: GptLabApi, condition: () => T | Promise<T>, what: string): Promise<NonNullable<T>> {
  let last = progress(api), since = Date.now();
  for (;;) {
    const value = await condition();
    if (value) return value;
    const now = progress(api);
    if (now !== last) [last, since] = [now, Date.now()];
    if (Date.now() - since > STALL_MS) throw new Error(`no progress for ${STALL_MS / 1000} s while waiting for ${what}`);
    await sleep(50);
  }
}

/** The hover's text at a position: it must come (tokens at least) well within the time a stuck engine would take. */
export async function hoverText(uri: vscode.Uri, position: vscode.Position): Promise<string> {
  const hovers = await withTimeout(Promise.resolve(vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, position)),
    HOVER_ANSWER_MS, 'a hover to answer');
  return (hovers ?? []).flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
}

/**
 * What a hover may take at most, whatever the engines are doing: its own deadline for surprise (HOVER_SURPRISE_MS,
 * 500 ms) with room for a loaded machine. A hover that waited on a stopped engine would never come at all.
 */
export const HOVER_ANSWER_MS = 10_000;

/** A file's bytes, or null when it does not exist. */
export function bytesOf(file: string | null | undefined): Buffer | null {
  return file && fs.existsSync(file) ? fs.readFileSync(file) : null;
}

/** Polls `condition` every 50 ms until it is truthy; fails with `what` after `ms`. */
export async function waitFor<T>(condition: () => T | Promise<T>, ms: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function repr(value: unknown): string {
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'function' ? '[function]' : v));
  } catch {
    return Object.prototype.toString.call(value);
  }
}
