// The engine process under the editor's hostile cases (issue #14), driven through the typed protocol as the extension
// drives it: models are never lost (a cancelled, failed or worse run keeps the stored model; a checkpoint that fails is
// a warning), bad settings are refused with the CLI's one-line messages, saves go through the --out checks, model
// files are read only from regular files, and nothing hangs (deadlines, a sample's budget).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient, EngineTimeoutError } from '../../engine/host/client';
import { partialPath } from '../../engine/io/files';
import { MAX_SAMPLE_TOKENS, type TrainEvent, type TrainParams } from '../../engine/protocol';

const WORKER = path.resolve(__dirname, '../../engine/host/worker.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-safety-'));
const clients: EngineClient[] = [];
after(() => {
  for (const c of clients) c.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

function engine(): EngineClient {
  const c = new EngineClient({ workerPath: WORKER, maxMemoryMb: 2048, cwd: os.tmpdir() });
  clients.push(c);
  return c;
}

const TEXT = 'to be or not to be, that is the question; whether tis nobler in the mind to suffer. '.repeat(40);
const SMALL = { preset: 'tiny', contextLength: 16, modelOverrides: 'dim=32,heads=2,layers=1', batchSize: 4, evalEvery: 5, seed: 1 };

function job(out: string, settings: Record<string, unknown>): TrainParams {
  return { text: TEXT, label: 'hamlet.txt', settings: { ...SMALL, ...settings }, out, beside: `${out}.candidate`,
    checkpoint: partialPath(out), inputs: [] };
}

const bytes = (f: string): Buffer => fs.readFileSync(f);

test('a cancelled run, and a finished run that is worse, keep the stored model byte for byte and say so with both scores; a better one replaces it', async () => {
  const c = engine();
  const out = path.join(dir, 'stored.safetensors');
  const first = await c.call('train', job(out, { steps: 60 }));
  assert.equal(first.kept, 'new');
  assert.equal(first.comparison, null, 'nothing to compare with');
  const good = bytes(out);

  let id = -1;
  const cancelled = c.request('train', job(out, { steps: 100000 }), { onEvent: (e: TrainEvent) => {
    if (e.event === 'step' && e.step === 3) void c.cancel(id);
  } });
  id = cancelled.id;
  const r = await cancelled.result;
  assert.equal(r.cancelled, true);
  assert.equal(r.kept, 'previous');
  assert.ok(r.comparison && r.comparison.previous.bitsPerByte < r.comparison.new.bitsPerByte, JSON.stringify(r.comparison));
  assert.deepEqual(bytes(out), good, 'the stored model is byte for byte what it was');
  assert.equal(r.summary?.file, `${out}.candidate`, 'the cancelled run\'s model is kept beside it');
  assert.match(r.notes.join(' '), /stored\.safetensors was kept: it scores [\d.]+ bits per byte \(loss [\d.]+\), the new one [\d.]+ bits per byte/);

  const worse = await c.call('train', job(out, { steps: 3 }));
  assert.equal(worse.kept, 'previous');
  assert.deepEqual(bytes(out), good);

  const better = await c.call('train', job(out, { steps: 200, learningRate: 0.01 }));
  assert.ok(better.comparison, 'compared');
  assert.ok(better.comparison.new.bitsPerByte < better.comparison.previous.bitsPerByte, JSON.stringify(better.comparison));
  assert.equal(better.kept, 'new');
  assert.notDeepEqual(bytes(out), good, 'a better model replaces it, and the note says so');
  assert.match(better.notes.join(' '), /the new model replaced .*stored\.safetensors: it scores/);
  assert.equal(fs.existsSync(partialPath(out)), false, 'the run removed its own checkpoint once its model was saved');
});

test('a run that fails (the loss turns NaN) never replaces or deletes a model, its checkpoint included', async () => {
  const c = engine();
  const out = path.join(dir, 'kept.safetensors');
  await c.call('train', job(out, { steps: 20 }));
  const good = bytes(out);
  // An earlier run's checkpoint that a crash made the active model: a failed run must not delete it.
  const partial = partialPath(out);
  fs.copyFileSync(out, partial);
  const failed = await c.call('train', { ...job(out, { steps: 50, learningRate: 1e30 }), checkpoint: null });
  assert.match(String(failed.error), /the loss became/);
  assert.equal(failed.kept, 'previous');
  assert.deepEqual(bytes(out), good);
  assert.deepEqual(bytes(partial), good, 'the checkpoint file is untouched');
});

test('a checkpoint that cannot be written (a folder in the way) is a warning; the run goes on and saves its model', async () => {
  const c = engine();
  const out = path.join(dir, 'checkpointless.safetensors');
  fs.mkdirSync(partialPath(out));
  const warnings: string[] = [];
  const r = await c.request('train', job(out, { steps: 20 }), { onEvent: (e) => {
    if (e.event === 'warning') warnings.push(`${e.code}: ${e.message}`);
  } }).result;
  assert.equal(r.error, null);
  assert.equal(r.kept, 'new');
  assert.ok(fs.statSync(out).isFile());
  assert.ok(fs.statSync(partialPath(out)).isDirectory(), 'the folder is left as it was');
  assert.match(warnings.join('\n'), /^checkpoint: the checkpoint at step \d+ was not saved \(.*is a folder, not a file\); training goes on/m);
});

test('when the final save fails, the model goes to a fallback file, says where in one sentence, and is the engine\'s model', async () => {
  const c = engine();
  const out = path.join(dir, 'vanishing', 'm.safetensors');
  fs.mkdirSync(path.dirname(out));
  const r = c.request('train', job(out, { steps: 100000 }), { onEvent: (e) => {
    if (e.event === 'step' && e.step === 3 && fs.existsSync(path.dirname(out))) {
      fs.rmSync(path.dirname(out), { recursive: true });
      fs.mkdirSync(out, { recursive: true }); // a folder where the model should go: no file can be written there now
    }
    if (e.event === 'step' && e.step === 6) void c.cancel(id);
  } });
  const id = r.id;
  const outcome = await r.result;
  assert.ok(outcome.saveProblem, 'the failed save is said');
  const fallback = /saved the model to (\S+\.safetensors) instead/.exec(outcome.saveProblem)?.[1];
  assert.ok(fallback && fs.statSync(fallback).isFile(), outcome.saveProblem);
  assert.equal(outcome.summary?.file, fallback);
  assert.ok(fs.statSync(out).isDirectory(), 'the folder in the way is left as it was');
  // The run's model is the engine's model: it answers from memory.
  const next = await c.call('nextToken', { text: 'to be', k: 2 });
  assert.equal(next.top.length, 2);
  fs.rmSync(fallback);
});

test('bad settings are refused with the CLI\'s one-line messages, naming the setting, before anything trains', async () => {
  const c = engine();
  const out = path.join(dir, 'never.safetensors');
  for (const [settings, message] of [
    [{ steps: -5 }, /^gptLab\.steps must be at least 0 \(0: sized to the text\), got -5$/],
    [{ steps: 'abc' }, /^gptLab\.steps must be a number, got "abc"$/],
    [{ steps: 2.5 }, /^gptLab\.steps must be a whole number, got 2\.5$/],
    [{ preset: 'huge' }, /^gptLab\.preset must be auto, tiny, small or classic, got "huge"$/],
    [{ learningRate: -1 }, /^gptLab\.learningRate must be at least 0 \(0: the preset's\), got -1$/],
    [{ modelOverrides: 'positions=alibi' }, /^gptLab\.modelSwitches: positions must be learned, sinusoidal, rope, none, got "alibi"$/],
    [{ tokenizer: 'gpt9' }, /^gptLab\.tokenizer must be one of o200k_base/],
  ] as const) {
    await assert.rejects(c.call('train', job(out, settings)), (e: Error) => message.test(e.message) || assert.fail(e.message));
  }
  assert.equal(fs.existsSync(out), false, 'no model was written');
});

test('"Save model as" goes through --out\'s checks: never an input file, never a device, pipe or folder', async () => {
  const c = engine();
  const out = path.join(dir, 'tosave.safetensors');
  await c.call('train', job(out, { steps: 5 }));
  const text = path.join(dir, 'poem.txt');
  fs.writeFileSync(text, 'a text the user wrote\n');
  const before = bytes(text);
  await assert.rejects(c.call('save', { file: text, inputs: [text] }), /poem\.txt is the same file as an input \(the text it trains on, or a document open in the editor\); the model would overwrite it/);
  const link = path.join(dir, 'poem-link.txt');
  fs.symlinkSync(text, link);
  await assert.rejects(c.call('save', { file: link, inputs: [text] }), /is the same file as/);
  assert.deepEqual(bytes(text), before);
  const fifo = path.join(dir, 'pipe');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  await assert.rejects(c.call('save', { file: fifo, inputs: [] }), /exists and is not a regular file/);
  assert.ok(fs.statSync(fifo).isFIFO(), 'the pipe is still a pipe');
  await assert.rejects(c.call('save', { file: '/dev/null', inputs: [] }), /exists and is not a regular file/);
  assert.ok(fs.statSync('/dev/null').isCharacterDevice());
  await assert.rejects(c.call('save', { file: dir, inputs: [] }), /is a folder/);
  const copy = path.join(dir, 'copy.safetensors');
  await c.call('save', { file: copy, inputs: [text] });
  assert.ok(fs.statSync(copy).size > 0);
});

test('a model is loaded only from a regular file: a named pipe and a link to /dev/zero are refused before they are opened', async () => {
  const c = engine();
  const fifo = path.join(dir, 'model-pipe.safetensors');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  // With no writer, opening the pipe would block the engine for ever: it must be refused without opening it.
  await assert.rejects(c.call('load', { file: fifo }, { deadlineMs: 60_000 }), /model-pipe\.safetensors is not a regular file/);
  const zero = path.join(dir, 'zero.safetensors');
  fs.symlinkSync('/dev/zero', zero);
  await assert.rejects(c.call('load', { file: zero }, { deadlineMs: 60_000 }), /zero\.safetensors is not a regular file/);
  assert.deepEqual((await c.call('status', {})).busy, [], 'and the engine is free');
});

test('a sample draws at most MAX_SAMPLE_TOKENS, whatever it is asked for', async () => {
  const c = engine();
  await c.call('train', job(path.join(dir, 'sampler.safetensors'), { steps: 5 }));
  const r = await c.call('sample', { prompt: 'to be', tokens: 1e9, sampling: { temperature: 1, topK: 0, topP: 1 }, seed: 1 });
  assert.ok([...r.text].length <= MAX_SAMPLE_TOKENS, `${[...r.text].length} characters from a char model`);
  await assert.rejects(c.call('sample', { prompt: 'x', tokens: -1, sampling: { temperature: 1, topK: 0, topP: 1 }, seed: 1 }), /tokens must be a whole number/);
});

test('every request has a deadline: a stopped engine answers nothing, and the request rejects instead of waiting for ever', async (t) => {
  const c = engine();
  await c.call('status', {});
  const pid = c.pid!;
  process.kill(pid, 'SIGSTOP');
  t.after(() => {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  });
  await assert.rejects(c.call('status', {}, { deadlineMs: 200 }), (e: Error) => e instanceof EngineTimeoutError &&
    /the engine did not answer status within 200 ms/.test(e.message));
  assert.equal(c.busy, false, 'a request that missed its deadline is no longer pending');
  process.kill(pid, 'SIGCONT');
  assert.deepEqual((await c.call('status', {})).busy, [], 'a resumed engine answers again');
});
