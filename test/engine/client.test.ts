// The engine in its own process, driven through the typed protocol as the extension drives it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { partialPath } from '../../engine/io/files';
import { EngineClient, EngineCrashedError } from '../../engine/host/client';
import { loadNative } from '../../engine/compute/addon';
import { type TrainEvent, type TrainParams } from '../../engine/protocol';

const crashes: string[] = [];
const client = new EngineClient({ workerPath: path.resolve(__dirname, '../../engine/host/worker.js'), maxMemoryMb: 2048, onCrash: (r) => crashes.push(r) });
after(() => client.dispose());

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-client-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));
let runs = 0;
const job = (steps: number, out = path.join(scratch, `run-${++runs}.safetensors`)): TrainParams => ({
  text: 'to be or not to be, that is the question. '.repeat(60), label: 'hamlet.txt',
  settings: { preset: 'tiny', tokenizer: 'char', contextLength: 16, dim: 32, heads: 2, layers: 1, steps, batchSize: 4, evalEvery: 5, seed: 1 },
  out, beside: `${out}.new.safetensors`, checkpoint: partialPath(out), inputs: [],
});

test('trains in the engine process with streamed events, then answers probes', async () => {
  const backend = await client.call('init', { backend: 'wasm', trainer: 'auto' });
  assert.equal(backend.name, 'wasm');
  const events: TrainEvent[] = [];
  const { result } = client.request('train', job(10), { onEvent: (e) => events.push(e) });
  const r = await result;
  assert.equal(r.steps, 10);
  assert.equal(r.cancelled, false);
  assert.equal(r.summary?.tokenizer, 'char');
  assert.deepEqual(events.map((e) => e.event).filter((e) => e !== 'step' && e !== 'checkpoint'), ['start', 'eval', 'eval', 'done']);
  const start = events[0];
  assert.ok(start.event === 'start');
  // The engine process trains on the native path whenever the addon is built (it is what the extension runs).
  assert.equal(start.training.path, loadNative() ? 'native' : 'wasm');
  const next = await client.call('nextToken', { text: 'to be or not', k: 3 });
  assert.equal(next.top.length, 3);
  // Attention as a panel reads it: typed arrays, the open map in full, every map as a thumbnail; more on request.
  const att = await client.call('attention', { text: 'to be' });
  assert.equal(att.tokens.length, 5);
  assert.ok(att.maps[0].weights instanceof Float32Array && att.maps[0].weights.length === 25, 'typed arrays cross the process boundary');
  assert.equal(att.thumbnails.values.length, att.layers * (att.heads + 1) * 5 * 5);
  const map = await client.call('attentionMap', { text: 'to be', layer: 0, head: 'mean' });
  const rows = await client.call('attentionRows', { text: 'to be', layer: 0, query: 4 });
  assert.ok(Math.abs(map.weights[24] - Array.from({ length: att.heads }, (_, h) => rows.weights[h * 5 + 4]).reduce((a, b) => a + b) / att.heads) < 1e-6);
  await assert.rejects(client.call('attentionMap', { text: 'to be', layer: 9, head: 0 }), /layer 9 is not one of the model's 1 layers/);
  const compared = await client.call('compareTokenizers', { selection: 'Привіт', file: 'Привіт, світе' });
  assert.equal(compared.encodings[0].tokens.map((t) => t.text).join(''), 'Привіт');
  const mean = await client.call('neighbours', { token: 'to', k: 3 });
  assert.deepEqual([mean.mean, mean.query.map((t) => t.text)], [true, ['t', 'o']], 'a text of two tokens: the mean of their embeddings');
  await assert.rejects(client.call('neighbours', { token: 'zz', k: 3 }), /"zz" never occurred in the training text/);
});

test('cancel stops a training request between steps', async () => {
  let cancelled = false;
  const { id, result } = client.request('train', job(100000), { onEvent: (e) => {
    if (e.event === 'step' && e.step === 2 && !cancelled) {
      cancelled = true;
      void client.cancel(id);
    }
  } });
  const r = await result;
  assert.equal(r.cancelled, true);
  assert.ok(r.steps >= 2 && r.steps < 100);
});

test('an engine killed mid-run rejects the request, is reported once, keeps its best checkpoint, and the next request starts a new engine', async () => {
  const out = path.join(scratch, 'killed.safetensors');
  let killed = false;
  const { result } = client.request('train', job(100000, out), { onEvent: (e) => {
    if (e.event === 'checkpoint' && e.step >= 10 && !killed) {
      killed = true;
      process.kill(client.pid!, 'SIGKILL');
    }
  } });
  await assert.rejects(result, (e: Error) => e instanceof EngineCrashedError && /engine process stopped \(SIGKILL\)/.test(e.message));
  assert.equal(crashes.length, 1);
  assert.ok(fs.existsSync(partialPath(out)), 'the best checkpoint so far is on disk');
  const loaded = await client.call('load', { file: partialPath(out) });
  assert.equal(loaded.partial, true);
  assert.ok(loaded.best && loaded.best.step >= 5);
  const sampled = await client.call('sample', { prompt: 'to be', tokens: 5, sampling: { temperature: 1, topK: 0, topP: 1 }, seed: 1 });
  assert.equal([...sampled.text].length, 5);
  const t = await client.call('tokenLoss', { text: 'to be' });
  assert.equal(t.length, 5);
});

test('cancel at any moment (reading the text, mid-run, between probes) returns the engine to idle and leaks no tensors', async () => {
  const idle = await client.call('status', {});
  assert.deepEqual(idle.busy, []);
  for (const after of [0, 1, 3, 7]) {
    let cancelled = false;
    const { id, result } = client.request('train', job(100000), { onEvent: (e) => {
      if (e.event === 'step' && e.step >= after && !cancelled) {
        cancelled = true;
        void client.cancel(id);
      }
    } });
    if (after === 0) void client.cancel(id); // before the first step: while the text is read
    const r = await result;
    assert.equal(r.cancelled, true);
    await client.call('nextToken', { text: 'to be', k: 3 });
    await client.call('attention', { text: 'to be or' });
    const now = await client.call('status', {});
    assert.deepEqual(now.busy, []);
    // The active model was replaced by the cancelled run's (or kept), so its weights are the only tensors.
    assert.equal(now.tensors, idle.tensors, `after cancelling at step ${after}`);
  }
});
