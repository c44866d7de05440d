// The interpretability methods of the engine process, driven through the typed protocol as the panels will drive
// them: a run that keeps snapshots, the timeline, probes at a snapshot, head roles, attribution, patching, ablation,
// copies of the training text, the validation split; and snapshots that follow the model through save and load.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { EngineClient } from '../../engine/host/client';

const client = new EngineClient({ workerPath: path.resolve(__dirname, '../../engine/host/worker.js'), maxMemoryMb: 2048, onCrash: () => undefined });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-interp-engine-'));
after(() => {
  client.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

const TEXT = fs.readFileSync(path.resolve(__dirname, '../../../media/tinyshakespeare-sample.txt'), 'utf8').slice(0, 12000);
const out = path.join(dir, 'run.safetensors');

test('a run with snapshots answers every interpretability method, at a snapshot too', async () => {
  await client.call('init', { backend: 'wasm', trainer: 'auto' });
  const r = await client.request('train', {
    text: TEXT, label: 'sample.txt', out, beside: `${out}.new.safetensors`, checkpoint: null, inputs: [], snapshots: 3,
    settings: { preset: 'tiny', tokenizer: 'char', contextLength: 16, dim: 32, heads: 2, layers: 2, steps: 30, batchSize: 4, evalEvery: 10, seed: 1 },
  }).result;
  assert.equal(r.error, null);
  assert.ok(fs.existsSync(path.join(dir, 'run.snapshots.safetensors')));

  const timeline = await client.call('timeline', {});
  assert.deepEqual(timeline.snapshots.map((s) => s.index), [0, 1, 2]);
  assert.equal(timeline.snapshots[0].step, 0);
  assert.equal(timeline.snapshots[2].step, 30);
  assert.ok(timeline.points.length > 3 && timeline.points.every((p) => p.roles.induction.length === 2));

  const now = await client.call('attention', { text: 'First Citizen' });
  const atInit = await client.call('attention', { text: 'First Citizen', snapshot: 0 });
  assert.notDeepEqual(Array.from(atInit.maps[0].weights), Array.from(now.maps[0].weights), 'the attention at the first snapshot is not today’s');
  // A panel's first paint: the first layer only (the open map's), then the other layers' thumbnails; both are the whole
  // probe's, now and at a snapshot. An open map of a layer the model lacks (an earlier model's) gives way to layer 1.
  for (const at of [{}, { snapshot: 0 }]) {
    const whole = await client.call('attention', { text: 'Second Citizen', open: [{ layer: 1, head: 1 }], ...at });
    const first = await client.call('attention', { text: 'First Senator', open: [{ layer: 0, head: 'mean' }], layers: 1, ...at });
    assert.deepEqual([first.layers, first.thumbnails.from, first.thumbnails.count], [2, 0, 1]);
    const rest = await client.call('attentionLayers', { text: 'First Senator', from: 1, thumbnail: first.thumbnails.res, ...at });
    const again = await client.call('attention', { text: 'First Senator', open: [{ layer: 0, head: 'mean' }], ...at });
    assert.deepEqual([...first.thumbnails.values, ...rest.values], [...again.thumbnails.values]);
    assert.deepEqual(first.maps[0].weights, again.maps[0].weights);
    const deeper = await client.call('attention', { text: 'Third Senator', open: [{ layer: 1, head: 0 }], layers: 1, ...at });
    assert.equal(deeper.thumbnails.count, 2, 'the first paint runs as far as its open map');
    const stale = await client.call('attention', { text: 'Second Citizen', open: [{ layer: 7, head: 0 }], layers: 9, ...at });
    assert.deepEqual([stale.maps.map((m) => [m.layer, m.head]), stale.thumbnails.count], [[[0, 0]], 2]);
    assert.deepEqual(whole.thumbnails.values, stale.thumbnails.values);
  }
  await assert.rejects(client.call('attention', { text: 'a', layers: 0 }), /layers must be a whole number from 1, not 0/);
  await assert.rejects(client.call('attentionLayers', { text: 'a', from: 5 }), /thumbnails from layer 5: the forward pass ran 2 layers/);
  const lossNow = await client.call('tokenLoss', { text: 'First Citizen' });
  const lossInit = await client.call('tokenLoss', { text: 'First Citizen', snapshot: 0 });
  assert.ok(lossNow.every((t, i) => i === 0 || (t.entropy !== null && t.entropy >= 0)));
  const mean = (l: typeof lossNow): number => l.slice(1).reduce((s, t) => s + t.loss!, 0) / (l.length - 1);
  assert.ok(mean(lossInit) > mean(lossNow), 'the file "lights up" less as the model learns it');
  await assert.rejects(client.call('nextToken', { text: 'a', k: 3, snapshot: 9 }), /no snapshot 9/);

  const roles = await client.call('headRoles', { text: 'abcabcabc' });
  assert.equal(roles.random.induction.length, 2);
  assert.equal(roles.text?.tokens.length, 9);
  const a = await client.call('attribution', { text: 'First Citizen' });
  assert.ok(Math.abs(a.sum - a.logit) < 1e-4);
  const a0 = await client.call('attribution', { text: 'First Citizen', snapshot: 0, token: 'e' });
  assert.equal(a0.token.text, 'e');
  const p = await client.call('patch', { clean: 'First Citizen:\nBefore', edited: 'First Senator:\nBefore', positions: true });
  assert.equal(p.heads.length, 2);
  assert.equal(p.residuals[2].metric, p.cleanMetric);
  assert.equal(p.residualPositions?.length, 3);
  const ab = await client.call('ablate', { text: 'First Citizen', heads: [{ layer: 1, head: 0 }], mode: 'mean', k: 3 });
  assert.equal(ab.next.before.length, 3);
  await assert.rejects(client.call('ablate', { text: 'a b', heads: [{ layer: 5, head: 0 }], mode: 'zero', k: 3 }), /head 5\.0 is not in a model/);

  // The run's own text is what completions are checked against.
  const copied = TEXT.slice(5000, 5030);
  const copies = await client.call('copies', { generated: `xx${copied}yy` });
  assert.equal(copies.checked, true);
  assert.equal(copies.spans.length, 1);
  assert.equal(TEXT.slice(copies.spans[0].sourceStart, copies.spans[0].sourceEnd), `xx${copied}yy`.slice(copies.spans[0].start, copies.spans[0].end));
  const split = await client.call('validationStart', { text: TEXT });
  assert.ok(split.offset !== null && split.offset > 0.85 * TEXT.length && split.offset < 0.95 * TEXT.length);
});

test('snapshots follow the model through save and load; a loaded model checks copies once given its training text', async () => {
  const copy = path.join(dir, 'copy.safetensors');
  await client.call('save', { file: copy, inputs: [] });
  assert.ok(fs.existsSync(path.join(dir, 'copy.snapshots.safetensors')));
  await client.call('load', { file: copy });
  assert.equal((await client.call('timeline', {})).snapshots.length, 3);
  const copied = TEXT.slice(7000, 7040);
  assert.deepEqual(await client.call('copies', { generated: copied }), { spans: [], checked: false });
  await client.call('copySource', { text: TEXT });
  assert.equal((await client.call('copies', { generated: copied, minChars: 25 })).spans.length, 1);
  // A model without snapshots: an empty timeline, and a one-line error for a snapshot probe.
  fs.rmSync(path.join(dir, 'copy.snapshots.safetensors'));
  await client.call('load', { file: copy });
  assert.deepEqual(await client.call('timeline', {}), { snapshots: [], points: [] });
  await assert.rejects(client.call('attention', { text: 'a', snapshot: 0 }), /kept no snapshots/);
});
