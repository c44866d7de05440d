import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { decodeModel, encodeModel, loadModel, saveModel } from '../../engine/io/checkpoint';
import { decodeSafeTensors, encodeSafeTensors } from '../../engine/io/safetensors';
import type { GPTConfig } from '../../engine/model/config';
import { parameterCount } from '../../engine/model/memory';
import { GPT, matMul } from '../../engine/model/gpt';
import { AdamW } from '../../engine/training/adamw';
import { getTokenizer } from '../../engine/text/tokenizers';
import { Vocabulary } from '../../engine/text/vocab';

const base: GPTConfig = {
  vocabSize: 50, contextLength: 12, dim: 32, heads: 4, layers: 2, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
  positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: true, dropout: 0, kvHeads: 4, headDim: 8, qkNorm: false,
};
const VARIANTS: [string, Partial<GPTConfig>][] = [
  ['layernorm/gelu/learned/untied', {}],
  ['rmsnorm/relu/sinusoidal/tied/no bias', { norm: 'rmsnorm', activation: 'relu', positions: 'sinusoidal', tieEmbeddings: true, bias: false, qkvBias: false }],
  ['grouped-query (2 of 4)/rope/QK-norm', { kvHeads: 2, positions: 'rope', qkNorm: true }],
  ['multi-query/no positions/attention-only/heads of 12', { kvHeads: 1, positions: 'none', ffnMult: 0, headDim: 12 }],
  ['rmsnorm/rope/heads of 4/no bias', { norm: 'rmsnorm', positions: 'rope', headDim: 4, bias: false, qkvBias: false }],
];

const ids = (B: number, T: number, V: number, seed: number): tf.Tensor2D =>
  tf.tensor2d(Int32Array.from({ length: B * T }, (_, i) => (i * 7 + seed * 13 + ((i * i) % 5)) % V), [B, T], 'int32');

before(async () => {
  await selectBackend('wasm');
});

for (const [label, overrides] of VARIANTS) {
  const config = { ...base, ...overrides };

  test(`${label}: changing a later token never changes earlier logits`, () => {
    const model = GPT.init(config, 3);
    const T = config.contextLength;
    tf.tidy(() => {
      const a = ids(1, T, config.vocabSize, 1);
      const changed = a.arraySync()[0].slice();
      changed[7] = (changed[7] + 1) % config.vocabSize;
      const la = model.forward(a).logits.arraySync()[0];
      const lb = model.forward(tf.tensor2d([changed], [1, T], 'int32')).logits.arraySync()[0];
      for (let t = 0; t < 7; t++) assert.deepEqual(lb[t], la[t], `position ${t}`);
      assert.notDeepEqual(lb[7], la[7]);
    });
    model.dispose();
  });

  test(`${label}: loss at initialisation is close to ln(V)`, () => {
    const model = GPT.init({ ...config, vocabSize: 400 }, 5);
    const loss = tf.tidy(() => model.loss(ids(4, 12, 400, 2), ids(4, 12, 400, 3)).dataSync()[0]);
    assert.ok(Math.abs(loss - Math.log(400)) < 0.15, `loss ${loss} vs ln V ${Math.log(400)}`);
    model.dispose();
  });

  test(`${label}: the batched attention equals the plain per-head reference path`, () => {
    const model = GPT.init(config, 7);
    tf.tidy(() => {
      const x = ids(3, 10, config.vocabSize, 4);
      const fast = model.forward(x, { collect: true }), plain = model.forward(x, { collect: true, reference: true });
      const err = tf.max(tf.abs(tf.sub(fast.logits, plain.logits))).dataSync()[0];
      assert.ok(err < 1e-5, `logits differ by ${err}`);
      fast.attention!.forEach((a, l) => assert.ok(tf.max(tf.abs(tf.sub(a, plain.attention![l]))).dataSync()[0] < 1e-6));
    });
    model.dispose();
  });

  test(`${label}: save and load round-trip every weight bit for bit`, () => {
    const model = GPT.init(config, 11);
    const vocab = new Vocabulary([null, ...Array.from({ length: config.vocabSize - 1 }, (_, i) => 100 + i)]);
    const loaded = decodeModel(encodeModel(model, vocab, 'cl100k_base', { steps: [1, 2] }));
    assert.deepEqual(loaded.model.config, model.config);
    assert.deepEqual(loaded.vocab.toTokenizer, vocab.toTokenizer);
    assert.equal(loaded.tokenizer.name, 'cl100k_base');
    assert.deepEqual(loaded.history, { steps: [1, 2] });
    const a = model.toTensors(), b = loaded.model.toTensors();
    assert.deepEqual([...b.keys()], [...a.keys()]);
    for (const [name, t] of a) assert.deepEqual(Buffer.from(b.get(name)!.data.buffer), Buffer.from(t.data.buffer), name);
    tf.tidy(() => {
      const x = ids(2, 12, config.vocabSize, 9);
      assert.deepEqual(loaded.model.forward(x).logits.dataSync(), model.forward(x).logits.dataSync());
    });
    model.dispose();
    loaded.model.dispose();
  });
}

test('file names follow nanoGPT and layouts follow PyTorch', () => {
  const model = GPT.init(base, 1);
  const t = model.toTensors();
  assert.deepEqual(t.get('transformer.h.0.attn.c_attn.weight')!.shape, [96, 32]);
  assert.deepEqual(t.get('transformer.h.1.mlp.c_fc.weight')!.shape, [128, 32]);
  assert.deepEqual(t.get('lm_head.weight')!.shape, [50, 32]);
  // PyTorch layout: row o of c_fc.weight holds the weights of output o, so x @ W^T equals the engine's matmul
  const x = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i));
  const W = t.get('transformer.h.1.mlp.c_fc.weight')!.data, b = t.get('transformer.h.1.mlp.c_fc.bias')!.data;
  const expected = Array.from({ length: 128 }, (_, o) => x.reduce((s, xi, i) => s + xi * W[o * 32 + i], b[o]));
  const internal = tf.tidy(() => tf.add(tf.matMul(tf.tensor2d(x, [1, 32]), model.param('transformer.h.1.mlp.c_fc.weight')),
    model.param('transformer.h.1.mlp.c_fc.bias')).dataSync());
  expected.forEach((v, o) => assert.ok(Math.abs(v - internal[o]) < 1e-5));
  model.dispose();
});

test('attention switches set the tensor shapes: c_attn [(H + 2 KV) hs, D], c_proj [D, H hs]; no MLP or ln_2 without a feed-forward layer', () => {
  const config: GPTConfig = { ...base, kvHeads: 1, headDim: 12, ffnMult: 0, positions: 'rope' };
  const model = GPT.init(config, 1);
  const t = model.toTensors();
  assert.deepEqual(t.get('transformer.h.0.attn.c_attn.weight')!.shape, [(4 + 2 * 1) * 12, 32]);
  assert.deepEqual(t.get('transformer.h.0.attn.c_attn.bias')!.shape, [72]);
  assert.deepEqual(t.get('transformer.h.1.attn.c_proj.weight')!.shape, [32, 48]);
  const names = [...t.keys()];
  assert.ok(!names.some((n) => /\.(mlp|ln_2)\./.test(n)), names.join(', '));
  assert.ok(!names.includes('transformer.wpe.weight'), 'rotary positions have no table');
  assert.equal(model.parameterCount, parameterCount(config));
  // residual projections: one per block without the MLP, so std 0.02/sqrt(N)
  const proj = t.get('transformer.h.0.attn.c_proj.weight')!.data;
  const std = Math.sqrt(proj.reduce((s, v) => s + v * v, 0) / proj.length);
  assert.ok(Math.abs(std - 0.02 / Math.sqrt(2)) < 0.002, `c_proj std ${std}`);
  model.dispose();
});

test('a model file from before kvHeads, headDim and qkNorm loads as the standard attention it was', () => {
  const model = GPT.init(base, 1);
  const vocab = new Vocabulary([null, ...Array.from({ length: base.vocabSize - 1 }, (_, i) => 100 + i)]);
  const file = decodeSafeTensors(encodeModel(model, vocab, 'cl100k_base', null));
  const config = JSON.parse(file.metadata['gptlab.config']) as Record<string, unknown>;
  for (const key of ['kvHeads', 'headDim', 'qkNorm']) delete config[key];
  const old = decodeModel(encodeSafeTensors(file.tensors, { ...file.metadata, 'gptlab.config': JSON.stringify(config) }));
  assert.deepEqual(old.model.config, { ...base, kvHeads: 4, headDim: 8, qkNorm: false });
  tf.tidy(() => {
    const x = ids(2, 12, base.vocabSize, 9);
    assert.deepEqual(old.model.forward(x).logits.dataSync(), model.forward(x).logits.dataSync());
  });
  model.dispose();
  old.model.dispose();
});

test('matMul with explicit transposes has the same values and gradients as tf.matMul', () => {
  tf.tidy(() => {
    const a = tf.randomNormal([2, 3, 5, 4], 0, 1, 'float32', 1), b = tf.randomNormal([2, 3, 6, 4], 0, 1, 'float32', 2);
    for (const mode of ['explicit-transposes', 'transpose-flags'] as const) {
      const f = (x: tf.Tensor, y: tf.Tensor): tf.Tensor => tf.sum(tf.mul(matMul(x, y, false, true, mode), tf.range(0, 6).reshape([1, 1, 1, 6])));
      const [ga, gb] = tf.grads(f)([a, b]);
      const [ra, rb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, false, true), tf.range(0, 6).reshape([1, 1, 1, 6]))))([a, b]);
      assert.ok(tf.max(tf.abs(tf.sub(ga, ra))).dataSync()[0] < 1e-5);
      assert.ok(tf.max(tf.abs(tf.sub(gb, rb))).dataSync()[0] < 1e-5);
    }
  });
});

for (const native of [true, false]) {
  test(`a training step leaks no tensors, and neither do a model and its optimiser once disposed (native kernels ${native ? 'on' : 'off'})`, async () => {
    await selectBackend('wasm', { native });
    const atStart = tf.memory().numTensors;
    const model = GPT.init(base, 2);
    const opt = new AdamW(model, { steps: 10, learningRate: 1e-3, minLearningRate: 1e-4, warmupSteps: 2, weightDecay: 0.01,
      beta1: 0.9, beta2: 0.999, eps: 1e-8, gradClip: 1 });
    const inputs = Int32Array.from({ length: 24 }, (_, i) => i % 50), targets = Int32Array.from({ length: 24 }, (_, i) => (i + 1) % 50);
    await opt.step(inputs, targets, 2, 12);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await opt.step(inputs, targets, 2, 12);
    assert.equal(tf.memory().numTensors, before);
    const probeBefore = tf.memory().numTensors;
    tf.tidy(() => { model.forward(tf.tensor2d(inputs, [2, 12], 'int32'), { collect: true }); });
    assert.equal(tf.memory().numTensors, probeBefore);
    opt.dispose();
    model.dispose();
    assert.equal(tf.memory().numTensors, atStart);
    await selectBackend('wasm');
  });
}

test('corrupt or foreign model files get a one-line error naming the problem', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-'));
  const model = GPT.init(base, 1);
  const vocab = new Vocabulary([null, ...Array.from({ length: 49 }, (_, i) => i + 40)]);
  const file = path.join(dir, 'm.safetensors');
  saveModel(file, model, vocab, 'char', null);
  const good = fs.readFileSync(file);
  assert.equal(fs.readdirSync(dir).length, 1, 'the atomic write leaves no temporary file');
  const cases: [string, Buffer, RegExp][] = [
    ['truncated', good.subarray(0, good.length - 100), /data_offsets .* do not match|does not fit/],
    ['empty', Buffer.alloc(0), /too short/],
    ['garbage header', Buffer.concat([Buffer.from([16, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{not json at all')]), /not valid JSON/],
    ['huge header length', Buffer.from([255, 255, 255, 255, 0, 0, 0, 0, 1, 2]), /does not fit/],
    ['wrong version', Buffer.from(good.toString('latin1').replace('"gptlab.format":"1"', '"gptlab.format":"9"'), 'latin1'), /format 9 is not supported/],
    ['wrong shape', Buffer.from(good.toString('latin1').replace('"shape":[50,32]', '"shape":[32,50]'), 'latin1'), /shape \[32,50\], expected \[50,32\]/],
  ];
  for (const [label, bytes, pattern] of cases) {
    const bad = path.join(dir, `${label}.safetensors`);
    fs.writeFileSync(bad, bytes);
    assert.throws(() => loadModel(bad), (e: Error) => {
      assert.match(e.message, pattern, label);
      assert.ok(!e.message.includes('\n'), `${label}: one line`);
      assert.ok(e.message.includes(bad), `${label}: names the file`);
      return true;
    });
  }
  assert.throws(() => loadModel(path.join(dir, 'missing.safetensors')), /model .*missing\.safetensors does not exist/);
  model.dispose();
  fs.rmSync(dir, { recursive: true });
});

test('tokenizer metadata survives a save: an o200k model reloads with o200k', () => {
  const tok = getTokenizer('o200k_base');
  const vocab = Vocabulary.fromTokenIds(tok.encode('hello world, hello GPT'));
  const model = GPT.init({ ...base, vocabSize: vocab.size }, 1);
  const loaded = decodeModel(encodeModel(model, vocab, 'o200k_base', null));
  assert.equal(loaded.tokenizer.name, 'o200k_base');
  assert.equal(loaded.vocab.display(loaded.tokenizer, 1), vocab.display(tok, 1));
  model.dispose();
  loaded.model.dispose();
});
