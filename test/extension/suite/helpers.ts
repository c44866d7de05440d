// Shared helpers of the in-host suite: the extension's API contract, configuration, scratch files, waiting.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

export const EXTENSION_ID = 'gpt-lab.gpt-lab';

/** What `activate()` returns (the contract the tests are written against). */
export interface GptLabApi {
  enginePid(): number | undefined;
  activeModel(): { file: string | null; tokenizer: string; parameters: number; partial: boolean } | null;
  crashCount(): number;
  run(): { step: number } | null;
  restorable(): { file: string; partial: boolean; tokenizer: string } | null;
}

/** What `gptLab.train` resolves to when training ends (or `undefined` when there was nothing to train on). */
export interface TrainResult {
  cancelled: boolean;
  error: string | null;
  steps: number;
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
    api && typeof api.enginePid === 'function' && typeof api.activeModel === 'function' && typeof api.crashCount === 'function',
    `activate() must return the GptLabApi { enginePid(), activeModel(), crashCount() }; got ${repr(api)}`,
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
  await configure({ preset: undefined, steps: undefined });
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

/** Runs `gptLab.train` on the active editor and checks the shape of what it resolved to. */
export async function train(timeoutMs = 60_000): Promise<TrainResult> {
  const result = await withTimeout(
    Promise.resolve(vscode.commands.executeCommand<TrainResult | undefined>('gptLab.train')),
    timeoutMs,
    'gptLab.train to resolve',
  );
  return expectTrainResult(result);
}

export function expectTrainResult(result: unknown): TrainResult {
  assert.ok(
    result !== null &&
      typeof result === 'object' &&
      typeof (result as TrainResult).cancelled === 'boolean' &&
      typeof (result as TrainResult).steps === 'number' &&
      ((result as TrainResult).error === null || typeof (result as TrainResult).error === 'string'),
    `gptLab.train must resolve to { cancelled: boolean, error: string | null, steps: number }; got ${repr(result)}`,
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
