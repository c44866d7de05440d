// Interpretability probes against independent references: direct logit attribution sums to the logit, zero and mean
// ablation equal models with that head's slice of c_proj's input removed, patching the last residual restores the clean
// logits exactly, a hand-built induction circuit is found, snapshots reload within float16 tolerance, copies are found.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { GPT, NORM_EPS, tidyData } from '../../engine/model/gpt';
import { PRESETS, type GPTConfig, type ModelShape } from '../../engine/model/config';
import { paramSpecs } from '../../engine/model/params';
import { getTokenizer } from '../../engine/text/tokenizers';
import { Vocabulary } from '../../engine/text/vocab';
import { perTokenLoss, type ProbeContext } from '../../engine/probes/probes';
import { attribution } from '../../engine/probes/attribution';
import { ablate, ablationHooks, meanHeadOutputs, parseHeads, withAblation } from '../../engine/probes/ablation';
import { alignPositions, patchEdit } from '../../engine/probes/patching';
import { headRoles, headRolesOnRandom, repeatedRandomTokens } from '../../engine/probes/headRoles';
import { CopyIndex, validationStart } from '../../engine/probes/memorisation';
import { SnapshotKeeper, snapshotContext } from '../../engine/probes/snapshots';
import { decodeSnapshots, encodeSnapshots, loadSnapshots, saveSnapshots, snapshotWeights } from '../../engine/io/snapshots';
import { FLOAT16_ABSOLUTE_ERROR, FLOAT16_MAX, FLOAT16_RELATIVE_ERROR, fromFloat16, fromFloat16Bits, toFloat16, toFloat16Bits } from '../../engine/common/float16';
import { Dataset, trainOnText } from '../../engine/training/train';
import { KVCacheSession } from '../../engine/inference/kvCache';
import { nativeGPTClass, type NativeGPTConstructor } from '../../engine/compute/addon';
import { loadWasmBuild, WASM_BUILDS } from '../../engine/compute/wasm';
import { testPlan } from '../helpers/plan';

const ROOT = path.resolve(__dirname, '../../..');
const SAMPLE = fs.readFileSync(path.join(ROOT, 'media', 'tinyshakespeare-sample.txt'), 'utf8');
const TEXT = SAMPLE.slice(0, 4000);
const tokenizer = getTokenizer('char');
const vocab = Vocabulary.fromTokenIds(tokenizer.encode(TEXT));

before(async () => {
  await selectBackend('wasm');
});

const BASE: ModelShape = { ...PRESETS.tiny.model, contextLength: 16, dim: 32, heads: 4, kvHeads: 4, headDim: 8, layers: 2 };

/** Every model switch the forward pass has, each in at least one variant. */
const VARIANTS: [string, Partial<ModelShape>][] = [
  ['standard (LayerNorm, GELU, learned positions, tied)', {}],
  ['grouped-query attention, RoPE, QK-norm', { kvHeads: 2, positions: 'rope', qkNorm: true }],
  ['NoPE, attention-only blocks, RMSNorm', { positions: 'none', ffnMult: 0, norm: 'rmsnorm' }],
  ['headDim 12 (more heads than D/hs), sinusoidal, ReLU, untied, no biases', { headDim: 12, positions: 'sinusoidal', activation: 'relu', tieEmbeddings: false, bias: false, qkvBias: false }],
  ['multi-query, untied with output bias', { kvHeads: 1, tieEmbeddings: false }],
];

/** A model whose weights are GPT-2's initialisation times `scale` (norm gains kept): activations far from zero. */
function model(shape: Partial<ModelShape>, seed = 3, scale = 12): GPT {
  const config: GPTConfig = { ...BASE, ...shape, vocabSize: vocab.size };
  const init = GPT.init(config, seed);
  const tensors = new Map([...init.toTensors()].map(([name, t]) => [name, /ln_|ln_f/.test(name) ? t.data : t.data.map((x) => x * scale)]));
  init.dispose();
  return GPT.fromTensors(config, tensors);
}

/** The same model with its weights changed by `edit` (PyTorch layouts). */
function edited(m: GPT, edit: (t: Map<string, Float32Array>) => void): GPT {
  const tensors = new Map([...m.toTensors()].map(([name, t]) => [name, Float32Array.from(t.data)]));
  edit(tensors);
  return GPT.fromTensors(m.config, tensors);
}

function contextOf(m: GPT): ProbeContext {
  return { model: m, vocab, tokenizer };
}

function logitsOf(m: GPT, ids: Int32Array, hooks?: Parameters<GPT['forward']>[1]): Float32Array {
  return tidyData(() => [m.forward(tf.tensor2d(ids, [1, ids.length], 'int32'), hooks).logits])[0];
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const PROMPT = TEXT.slice(200, 216);
const promptIds = vocab.encode(tokenizer.encode(PROMPT));

test('attribution: the contributions sum to the logit (1e-4) for every model switch, and the embeddings term is recomputed independently', () => {
  for (const [name, shape] of VARIANTS) {
    const m = model(shape);
    try {
      const ctx = contextOf(m);
      for (const position of [15, 7, 0]) {
        for (const token of [undefined, 5]) {
          const a = attribution(ctx, PROMPT, { position, token });
          assert.ok(Math.abs(a.sum - a.logit) < 1e-4, `${name}, position ${position}: sum ${a.sum} vs logit ${a.logit}`);
          const expectedCount = 1 + m.config.layers * (m.config.heads + (m.config.bias ? 1 : 0) + (m.config.ffnMult > 0 ? 1 : 0)) +
            (m.config.bias ? 1 : 0);
          assert.equal(a.components.length, expectedCount, name);
          assert.ok(Math.abs(a.logit) > 0.05, `${name}: a logit far enough from zero to test (${a.logit})`);
        }
      }
      // The embeddings' share, from the weights alone: s (e - mean e) . (w * u) with e = wte[id] + position, s from the model's
      // own final residual (read through the probe hooks' independent `collect` output).
      const a = attribution(ctx, PROMPT, {});
      const T = promptIds.length, D = m.config.dim, p = T - 1, id = promptIds[p];
      const w = m.toTensors();
      const e = Float64Array.from({ length: D }, (_, d) => w.get('transformer.wte.weight')!.data[id * D + d] +
        (m.config.positions === 'learned' ? w.get('transformer.wpe.weight')!.data[p * D + d] : 0) +
        (m.config.positions === 'sinusoidal' ? Math.sin(p / Math.pow(10000, (2 * Math.floor(d / 2)) / D) + (d % 2 ? Math.PI / 2 : 0)) : 0));
      const final = tidyData(() => [tf.slice(m.forward(tf.tensor2d(promptIds, [1, T], 'int32'), { collect: true }).residuals![m.config.layers], [0, p, 0], [1, 1, D])])[0];
      const layer = m.config.norm === 'layernorm';
      const mu = layer ? final.reduce((s, x) => s + x, 0) / D : 0;
      const s = 1 / Math.sqrt(final.reduce((acc, x) => acc + (x - mu) ** 2, 0) / D + NORM_EPS);
      const u = m.config.tieEmbeddings ? w.get('transformer.wte.weight')!.data.subarray(a.token.id * D, (a.token.id + 1) * D)
        : w.get('lm_head.weight')!.data.subarray(a.token.id * D, (a.token.id + 1) * D);
      const lnW = w.get('transformer.ln_f.weight')!.data;
      const eMean = layer ? e.reduce((acc, x) => acc + x, 0) / D : 0;
      let expected = 0;
      for (let d = 0; d < D; d++) expected += s * (e[d] - eMean) * lnW[d] * u[d];
      const got = a.components.find((c) => c.kind === 'embed')!.contribution;
      assert.ok(Math.abs(got - expected) < 1e-4 * Math.max(1, Math.abs(expected)), `${name}: embeddings ${got} vs ${expected}`);
    } finally {
      m.dispose();
    }
  }
});

/** Head h of layer l removed by hand: its columns of c_proj's weight [D, A] zeroed, and for mean ablation its mean output moved into c_proj's bias. */
function withoutHead(m: GPT, l: number, h: number, meanZ: Float32Array | null): GPT {
  const { dim: D, heads: H, headDim: hs } = m.config;
  return edited(m, (t) => {
    const w = t.get(`transformer.h.${l}.attn.c_proj.weight`)!; // [D, H*hs]
    const bias = t.get(`transformer.h.${l}.attn.c_proj.bias`);
    for (let d = 0; d < D; d++) {
      for (let j = 0; j < hs; j++) {
        const col = h * hs + j;
        if (meanZ && bias) bias[d] += meanZ[col] * w[d * H * hs + col];
        w[d * H * hs + col] = 0;
      }
    }
  });
}

test('ablation: zeroing a head equals the model with that head\'s slice of c_proj\'s input removed; mean ablation equals moving its mean into the bias', () => {
  for (const [name, shape] of VARIANTS) {
    const m = model(shape);
    try {
      for (const [l, h] of [[0, 1], [1, m.config.heads - 1]]) {
        const zeroRef = withoutHead(m, l, h, null);
        const zero = logitsOf(m, promptIds, { hooks: ablationHooks(m.config, [{ layer: l, head: h }], null) });
        const ref = logitsOf(zeroRef, promptIds);
        assert.ok(maxAbsDiff(zero, ref) < 1e-5, `${name} zero L${l}H${h}: ${maxAbsDiff(zero, ref)}`);
        assert.ok(maxAbsDiff(zero, logitsOf(m, promptIds)) > 1e-3, `${name}: the head matters`);
        zeroRef.dispose();
        if (!m.config.bias) continue; // mean ablation's reference needs a bias to hold the mean
        const means = meanHeadOutputs(m, promptIds);
        const meanRef = withoutHead(m, l, h, means[l]);
        const mean = logitsOf(m, promptIds, { hooks: ablationHooks(m.config, [{ layer: l, head: h }], means) });
        assert.ok(maxAbsDiff(mean, logitsOf(meanRef, promptIds)) < 1e-4, `${name} mean L${l}H${h}: ${maxAbsDiff(mean, logitsOf(meanRef, promptIds))}`);
        meanRef.dispose();
      }
    } finally {
      m.dispose();
    }
  }
});

test('ablation probe: the loss and next tokens before and after, and probes that run ablated; head lists are checked', () => {
  const m = model({});
  try {
    const ctx = contextOf(m);
    const r = ablate(ctx, PROMPT, [{ layer: 0, head: 0 }, { layer: 1, head: 2 }], 'zero', 3);
    assert.equal(r.perToken.before.length, r.tokens.length);
    assert.equal(r.perToken.before[0], null);
    const mean = r.perToken.before.slice(1).reduce((s: number, x) => s + x!, 0) / (r.tokens.length - 1);
    assert.ok(Math.abs(mean - r.loss.before!) < 1e-9);
    assert.notEqual(r.loss.after, r.loss.before);
    const ablatedPerToken = perTokenLoss(withAblation(ctx, [{ layer: 0, head: 0 }, { layer: 1, head: 2 }], 'zero', PROMPT), PROMPT);
    ablatedPerToken.slice(1).forEach((t, i) => assert.ok(Math.abs(t.loss! - r.perToken.after[i + 1]!) < 1e-5));
    assert.deepEqual(parseHeads('0.1, 1.*', m.config), [{ layer: 0, head: 1 }, ...[0, 1, 2, 3].map((head) => ({ layer: 1, head }))]);
    assert.throws(() => parseHeads('2.0', m.config), /layers 0 to 1/);
    assert.throws(() => parseHeads('0.4', m.config), /heads 0 to 3/);
    assert.throws(() => parseHeads('0-1', m.config), /is not a head/);
  } finally {
    m.dispose();
  }
});

test('patching: the whole residual at the last layer restores the clean logits exactly; each head patch equals an unbatched full rerun', () => {
  for (const [name, shape] of VARIANTS) {
    const m = model(shape);
    try {
      const ctx = contextOf(m);
      const clean = TEXT.slice(300, 316);
      const editedText = clean.slice(0, 6) + (clean[6] === 'a' ? 'o' : 'a') + clean.slice(7); // one character changed
      const p = patchEdit(ctx, clean, editedText, { positions: true });
      const N = m.config.layers;
      assert.equal(p.firstDifference, 6);
      assert.equal(p.residuals[N].metric, p.cleanMetric, `${name}: exact`);
      assert.equal(p.residuals[N].restored, p.editedMetric === p.cleanMetric ? null : 1);
      assert.equal(p.residuals[N].top.id, p.cleanToken.id);
      assert.equal(p.residuals[N].cleanTokenProb, p.clean.top[0].prob);
      assert.ok(Math.abs(p.residuals[0].metric - p.cleanMetric) < 1e-5, `${name}: patching the embeddings restores everything`);
      // Every logit, at every position: the rest of the pass from the clean residual entering ln_f is the clean pass.
      const ids = vocab.encode(tokenizer.encode(clean));
      const [whole, resumed] = tidyData(() => {
        const out = m.forward(tf.tensor2d(ids, [1, ids.length], 'int32'), { collect: true });
        return [out.logits, m.forwardFrom(N, out.residuals![N]).logits];
      });
      assert.deepEqual(resumed, whole, `${name}: bit for bit`);
      // A head patch, by a plain rerun of the whole edited text with that head's z replaced by the clean run's.
      const editedIds = vocab.encode(tokenizer.encode(editedText));
      const cleanZ = tidyData(() => m.forward(tf.tensor2d(ids, [1, ids.length], 'int32'), { hooks: { capture: true } }).z!);
      for (const [l, h] of [[0, 0], [1, m.config.heads - 1]]) {
        const { heads: H, headDim: hs } = m.config, T = ids.length;
        const logits = logitsOf(m, editedIds, { hooks: { z: (layer, z) => {
          if (layer !== l) return z;
          const data = z.dataSync().slice();
          for (let t = 0; t < T; t++) for (let j = 0; j < hs; j++) data[(h * T + t) * hs + j] = cleanZ[l][(h * T + t) * hs + j];
          return tf.tensor4d(data, [1, H, T, hs]);
        } } });
        const last = logits.subarray((T - 1) * m.config.vocabSize);
        const cleanId = p.cleanToken.id, editedId = p.editedToken.id;
        let expected: number;
        if (cleanId !== editedId) expected = last[cleanId] - last[editedId];
        else {
          const max = Math.max(...last);
          expected = last[cleanId] - max - Math.log(last.reduce((s, z) => s + Math.exp(z - max), 0));
        }
        assert.ok(Math.abs(p.heads[l][h].metric - expected) < 1e-4, `${name} L${l}H${h}: ${p.heads[l][h].metric} vs ${expected}`);
      }
      // One position at a time: nothing before the edit, and the last position at the last layer restores the clean run.
      assert.ok(p.residualPositions![0].slice(0, 6).every((r) => r === null));
      assert.equal(p.residualPositions![N][ids.length - 1]!.metric, p.cleanMetric);
    } finally {
      m.dispose();
    }
  }
});

test('patching aligns texts of different lengths by their common prefix and suffix, and the last positions always', () => {
  assert.deepEqual(alignPositions(Int32Array.of(1, 2, 3, 4, 5), Int32Array.of(1, 2, 9, 9, 4, 5)), { alignment: [0, 1, -1, -1, 3, 4], firstDifference: 2 });
  assert.deepEqual(alignPositions(Int32Array.of(1, 2, 3), Int32Array.of(1, 2, 3)), { alignment: [0, 1, 2], firstDifference: 3 });
  assert.deepEqual(alignPositions(Int32Array.of(1, 2, 3), Int32Array.of(1, 7, 8, 9)), { alignment: [0, -1, -1, 2], firstDifference: 1 });
  const m = model({});
  try {
    const p = patchEdit(contextOf(m), 'First Citizen: we', 'First Senator: we');
    assert.equal(p.residuals[m.config.layers].metric, p.cleanMetric, 'the last positions correspond');
  } finally {
    m.dispose();
  }
});

/**
 * A two-layer attention-only model with a planted induction circuit, written weight by weight. The residual stream has
 * three subspaces: the current token (one-hot, V dims), the position (one-hot, T dims) and the previous token (V dims).
 * L0H0 is a previous-token head (a query at position i matches the key of position i-1 and copies that token into the
 * previous-token subspace); L1H0 is the induction head (its query is the current token, its key the previous token, so
 * it attends to the position just after an earlier copy of the current token). L0H1 attends evenly and writes nothing;
 * L1H1 is a duplicate-token head.
 */
function plantedInduction(): GPT {
  const V = 40, T = 32, D = 2 * V + T, H = 2, hs = 40, A = H * hs;
  const config: GPTConfig = { vocabSize: V, contextLength: T, dim: D, heads: H, kvHeads: H, headDim: hs, layers: 2, ffnMult: 0,
    norm: 'rmsnorm', activation: 'gelu', positions: 'learned', tieEmbeddings: true, bias: false, qkvBias: false, dropout: 0, qkNorm: false };
  const tok = (v: number): number => v, pos = (t: number): number => V + t, prev = (v: number): number => V + T + v;
  const t = new Map(paramSpecs(config).map((s) => [s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1))]));
  const set = (name: string, row: number, col: number, cols: number, value: number): void => void (t.get(name)![row * cols + col] = value);
  for (let v = 0; v < V; v++) set('transformer.wte.weight', v, tok(v), D, 1);
  for (let p = 0; p < T; p++) set('transformer.wpe.weight', p, pos(p), D, 1);
  for (const n of ['transformer.h.0.ln_1.weight', 'transformer.h.1.ln_1.weight', 'transformer.ln_f.weight']) t.get(n)!.fill(1);
  const q = (h: number, j: number): number => h * hs + j, k = (h: number, j: number): number => A + h * hs + j, vrow = (h: number, j: number): number => 2 * A + h * hs + j;
  const attn0 = 'transformer.h.0.attn.c_attn.weight', attn1 = 'transformer.h.1.attn.c_attn.weight';
  for (let p = 0; p < T; p++) set(attn0, q(0, p), pos(p), D, 3); // L0H0 query: my position
  for (let p = 0; p + 1 < T; p++) set(attn0, k(0, p + 1), pos(p), D, 1); // L0H0 key: the position after mine
  for (let v = 0; v < V; v++) set(attn0, vrow(0, v), tok(v), D, 1); // L0H0 value: my token
  for (let v = 0; v < V; v++) set('transformer.h.0.attn.c_proj.weight', prev(v), v, A, 1); // into the previous-token subspace
  for (let v = 0; v < V; v++) {
    set(attn1, q(0, v), tok(v), D, 4); // L1H0 query: my token
    set(attn1, k(0, v), prev(v), D, 1); // L1H0 key: the token before me
    set(attn1, q(1, v), tok(v), D, 20); // L1H1 query and key: my token (duplicates)
    set(attn1, k(1, v), tok(v), D, 1);
  }
  return GPT.fromTensors(config, t);
}

test('head roles: on a hand-built two-layer model the planted induction head ranks first, and the previous-token head is found', () => {
  const m = plantedInduction();
  try {
    const r = headRolesOnRandom(m);
    const rank = (grid: number[][]): string[] => grid.flatMap((row, l) => row.map((s, h) => ({ s, name: `L${l}H${h}` }))).sort((a, b) => b.s - a.s).map((x) => x.name);
    assert.equal(rank(r.induction)[0], 'L1H0', JSON.stringify(r.induction));
    assert.ok(r.induction[1][0] > 0.5, `induction score ${r.induction[1][0]}`);
    assert.equal(rank(r.previousToken)[0], 'L0H0', JSON.stringify(r.previousToken));
    assert.ok(r.previousToken[0][0] > 0.9);
    assert.equal(rank(r.duplicateToken)[0], 'L1H1', JSON.stringify(r.duplicateToken));
    assert.equal(r.length, 16);
    // The test's sequences: 16 distinct tokens (never the unknown token 0), then the same 16 again.
    const ids = repeatedRandomTokens(40, 16, 2, 1);
    for (let b = 0; b < 2; b++) {
      const row = ids.subarray(b * 32, (b + 1) * 32);
      assert.equal(new Set(row.subarray(0, 16)).size, 16);
      assert.deepEqual(row.subarray(16), row.subarray(0, 16));
      assert.ok(!row.includes(0));
    }
  } finally {
    m.dispose();
  }
});

test('head roles on a text score the same definitions on its own tokens; every score is a fraction', () => {
  const m = model({});
  try {
    const r = headRoles(contextOf(m), 'abcabcabcabcabca');
    for (const grid of [r.random.induction, r.random.previousToken, r.text!.scores.duplicateToken, r.text!.scores.firstToken]) {
      assert.equal(grid.length, 2);
      for (const row of grid) for (const s of row) assert.ok(s >= 0 && s <= 1 + 1e-6);
    }
    assert.equal(headRoles(contextOf(m)).text, null);
  } finally {
    m.dispose();
  }
});

test('float16: every half round-trips, rounding is to nearest even, overflow is infinite', () => {
  for (let h = 0; h < 65536; h++) {
    const v = fromFloat16Bits(h);
    if (Number.isNaN(v)) continue;
    assert.equal(toFloat16Bits(v), h, `half ${h.toString(16)}`);
  }
  assert.equal(fromFloat16Bits(toFloat16Bits(1 + 2 ** -11)), 1, 'a tie rounds to the even 1');
  assert.equal(fromFloat16Bits(toFloat16Bits(1 + 3 * 2 ** -11)), 1 + 2 ** -9, 'a tie rounds to the even neighbour above');
  assert.equal(fromFloat16Bits(toFloat16Bits(FLOAT16_MAX)), FLOAT16_MAX);
  assert.equal(fromFloat16Bits(toFloat16Bits(65520)), Infinity);
  assert.equal(fromFloat16Bits(toFloat16Bits(2 ** -25)), 0);
  assert.equal(fromFloat16Bits(toFloat16Bits(2 ** -24)), 2 ** -24);
  const random = Float32Array.from({ length: 10000 }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 12) - 8));
  const back = fromFloat16(toFloat16(random));
  random.forEach((x, i) => assert.ok(Math.abs(back[i] - x) <= FLOAT16_RELATIVE_ERROR * Math.abs(x) + FLOAT16_ABSOLUTE_ERROR, `${x} -> ${back[i]}`));
});

test('snapshots: a run keeps N of them, from the initial weights to the last step, and each reloads within float16 tolerance', async () => {
  const keeper = new SnapshotKeeper(4, 60);
  const exact = new Map<number, Map<string, Float32Array>>(); // the float32 weights at every step the keeper was handed
  const hook = {
    observe: (step: number, loss: number) => keeper.observe(step, loss),
    take: (step: number, m: GPT) => {
      exact.set(step, new Map([...m.toTensors()].map(([n, t]) => [n, Float32Array.from(t.data)])));
      keeper.take(step, m);
    },
  };
  const r = await trainOnText({ text: TEXT, tokenizer: 'char', model: BASE, snapshots: hook, compute: await testPlan(),
    settings: { ...PRESETS.tiny.train, steps: 60, batchSize: 4, evalEvery: 0, sampleEvery: 0, seed: 2 } });
  try {
    const set = keeper.result();
    assert.equal(set.snapshots.length, 4);
    assert.equal(set.snapshots[0].step, 0);
    assert.equal(set.snapshots.at(-1)!.step, 60);
    assert.equal(set.timeline.length, exact.size, 'head roles at every candidate');
    assert.ok(set.snapshots.every((s) => typeof s.loss === 'number'));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-snap-'));
    try {
      const file = path.join(dir, 'm.snapshots.safetensors');
      saveSnapshots(file, r.model.config, set);
      const back = loadSnapshots(file, r.model.config, 1 << 30);
      assert.deepEqual(back.timeline, JSON.parse(JSON.stringify(set.timeline)));
      const bytes = fs.statSync(file).size;
      assert.ok(bytes < 4 * 2 * r.model.parameterCount + 65536, `float16: ${bytes} bytes for 4 snapshots of ${r.model.parameterCount} weights`);
      for (const s of back.snapshots) {
        const reference = exact.get(s.step)!;
        for (const [name, w] of snapshotWeights(s)) {
          const x = reference.get(name)!;
          for (let i = 0; i < x.length; i++) assert.ok(Math.abs(w[i] - x[i]) <= FLOAT16_RELATIVE_ERROR * Math.abs(x[i]) + FLOAT16_ABSOLUTE_ERROR, `${name}[${i}] at step ${s.step}`);
        }
      }
      // A model at a snapshot: the last one predicts as the trained model does, to float16's precision.
      const ctx = snapshotContext({ model: r.model, vocab: r.vocab, tokenizer: r.tokenizer }, back, 3);
      try {
        const ids = r.vocab.encode(r.tokenizer.encode(PROMPT));
        assert.ok(maxAbsDiff(logitsOf(ctx.model, ids), logitsOf(r.model, ids)) < 0.05);
      } finally {
        ctx.model.dispose();
      }
      assert.throws(() => decodeSnapshots(encodeSnapshots({ ...r.model.config, dim: 64 }, set), r.model.config), /different model/);
      assert.throws(() => snapshotContext({ model: r.model, vocab: r.vocab, tokenizer: r.tokenizer }, back, 4), /no snapshot 4/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    r.model.dispose();
  }
});

test('snapshot spacing: dense where the loss falls, sparse on a plateau, the first and last kept', () => {
  const m = model({}, 1, 1);
  try {
    const keeper = new SnapshotKeeper(6, 400, false);
    keeper.take(0, m);
    // a plateau at 3 until step 200, a steep fall to 1 by step 240, then flat again
    const lossAt = (s: number): number => (s < 200 ? 3 : s < 240 ? 3 - (2 * (s - 200)) / 40 : 1);
    for (let step = 1; step <= 400; step++) if (keeper.observe(step, lossAt(step))) keeper.take(step, m);
    const steps = keeper.result().snapshots.map((s) => s.step);
    assert.equal(steps.length, 6);
    assert.equal(steps[0], 0);
    assert.equal(steps.at(-1), 400);
    const inFall = steps.filter((s) => s > 200 && s <= 260).length;
    assert.ok(inFall >= 2, `at least two snapshots where the loss falls: ${steps.join(', ')}`);
    assert.ok(steps.filter((s) => s > 0 && s < 200).length <= 2, `few on the plateau: ${steps.join(', ')}`);
  } finally {
    m.dispose();
  }
});

test('copies: a planted 30-character copy is found with its source span; held-out text gives none; 1 MB indexes and answers fast', () => {
  const training = SAMPLE.slice(0, 100_000);
  const index = new CopyIndex(training);
  const planted = training.slice(54_321, 54_351);
  const generated = 'the model wrote: ' + planted + ' and then went on';
  const spans = index.find(generated);
  assert.equal(spans.length, 1);
  const s = spans[0];
  assert.ok(s.end - s.start >= 30);
  assert.equal(generated.slice(s.start, s.end), training.slice(s.sourceStart, s.sourceEnd));
  assert.ok(s.start <= generated.indexOf(planted) && s.end >= generated.indexOf(planted) + 30);
  // Held-out text (not from the file) has no 20-character run in common with it.
  const heldOut = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').slice(0, 20_000);
  assert.deepEqual(index.find(heldOut), []);
  assert.deepEqual(index.find(generated, 40), [], 'a setting of 40 characters ignores a 30-character copy');
  // 1 MB of training text: the index once, then a completion's check.
  let big = '';
  while (big.length < 1 << 20) big += SAMPLE;
  const t0 = performance.now();
  const bigIndex = new CopyIndex(big);
  const built = performance.now() - t0;
  const t1 = performance.now();
  for (let i = 0; i < 100; i++) bigIndex.find(generated);
  const perCompletion = (performance.now() - t1) / 100;
  assert.equal(bigIndex.find(generated).length, 1);
  assert.ok(built < 5000 && perCompletion < 50, `1 MB indexed in ${built.toFixed(0)} ms, ${perCompletion.toFixed(2)} ms per completion`);
});

test('entropy beside surprise: each token\'s entropy is that of the full next-token distribution before it', () => {
  const m = model({}, 5, 4);
  try {
    const ctx = contextOf(m);
    const per = perTokenLoss(ctx, PROMPT);
    assert.equal(per[0].entropy, null);
    const logits = logitsOf(m, promptIds);
    const V = m.config.vocabSize;
    for (let i = 1; i < per.length; i++) {
      const row = logits.subarray((i - 1) * V, i * V);
      const max = Math.max(...row);
      const z = row.reduce((s, x) => s + Math.exp(x - max), 0);
      let h = 0;
      for (const x of row) {
        const p = Math.exp(x - max) / z;
        if (p > 0) h -= p * Math.log(p);
      }
      assert.ok(Math.abs(per[i].entropy! - h) < 1e-4, `token ${i}: ${per[i].entropy} vs ${h}`);
      assert.ok(per[i].entropy! >= 0 && per[i].entropy! <= Math.log(V) + 1e-6);
    }
  } finally {
    m.dispose();
  }
});

test('entropy from every decoder (the addon, both wasm builds, typed arrays) equals the tfjs model\'s, and so do the losses', async (t) => {
  const m = model({ kvHeads: 2, positions: 'rope' }, 6, 4);
  try {
    const ids = vocab.encode(tokenizer.encode(TEXT.slice(500, 532))); // two windows of 16
    const inputs = Int32Array.from([...ids.subarray(0, 15), ...ids.subarray(16, 31)]), targets = Int32Array.from([...ids.subarray(1, 16), ...ids.subarray(17, 32)]);
    const expected = [ids.subarray(0, 16), ids.subarray(16, 32)].map((w) => perTokenLoss(contextOf(m), tokenizer.decode(vocab.decode(w))).slice(1));
    const decoders: [string, NativeGPTConstructor | null][] = [['addon', nativeGPTClass()], ['typed', null]];
    for (const build of WASM_BUILDS.map((b) => b.name)) {
      const loaded = await loadWasmBuild(build);
      decoders.push([build, typeof loaded === 'string' ? null : loaded.cls]);
    }
    for (const [name, cls] of decoders) {
      if (name !== 'typed' && !cls) {
        t.diagnostic(`${name} is not available here`);
        continue;
      }
      const session = new KVCacheSession(m, { decoderClass: cls, addon: null }, cls ? 'native' : 'typed');
      try {
        const r = session.rowScores(inputs, targets, 2, 15);
        expected.flat().forEach((e, i) => {
          assert.ok(Math.abs(r.losses[i] - e.loss!) < 1e-4, `${name} loss ${i}: ${r.losses[i]} vs ${e.loss}`);
          assert.ok(Math.abs(r.entropies[i] - e.entropy!) < 1e-4, `${name} entropy ${i}: ${r.entropies[i]} vs ${e.entropy}`);
        });
      } finally {
        session.dispose();
      }
    }
  } finally {
    m.dispose();
  }
});

test('the validation split begins where training splits the tokens', () => {
  const m = model({});
  try {
    const offset = validationStart(contextOf(m), TEXT);
    const data = new Dataset(vocab.encode(tokenizer.encode(TEXT)), m.config.contextLength);
    assert.equal(offset, data.train.length, 'a char model: one token per character');
    assert.equal(validationStart(contextOf(m), 'short'), null);
  } finally {
    m.dispose();
  }
});
