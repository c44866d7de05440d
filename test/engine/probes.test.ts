import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { applyModelOverrides, PRESETS } from '../../engine/model/config';
import { analogy, attentionMaps, compareTokenizers, embeddingPca, evaluateText, logitLens, neighbours, nextToken, perTokenLoss, singleTokenId, slidingLosses, topIndices, windowLosses,
  type ProbeContext, type WindowScores } from '../../engine/probes/probes';
import { trainOnText } from '../../engine/training/train';
import { getTokenizer } from '../../engine/text/tokenizers';
import { KVCacheSession } from '../../engine/inference/kvCache';
import { testPlan } from '../helpers/plan';
import { loadNative, nativeGPTClass } from '../../engine/compute/addon';

let ctx: ProbeContext;
const TEXT = 'abcabcabd xyz xyz. '.repeat(80);

before(async () => {
  await selectBackend('wasm');
  const r = await trainOnText({ compute: await testPlan(), text: TEXT, tokenizer: 'char', model: applyModelOverrides(PRESETS.tiny.model, { contextLength: 16, dim: 32, heads: 2, layers: 2 }),
    settings: { ...PRESETS.tiny.train, steps: 40, batchSize: 8, evalEvery: 0, sampleEvery: 0, seed: 5 } });
  ctx = { model: r.model, vocab: r.vocab, tokenizer: r.tokenizer };
});
after(() => ctx.model.dispose());

test('next-token probe: probabilities sorted, summing to at most 1, logits consistent with them', () => {
  const p = nextToken(ctx, 'abcab', 5, { temperature: 1, topK: 2, topP: 1 });
  assert.equal(p.top.length, 5);
  for (let i = 1; i < 5; i++) assert.ok(p.top[i - 1].prob >= p.top[i].prob);
  // softmax: the probability ratio of two tokens is exp of their logit difference
  assert.ok(Math.abs(p.top[0].prob / p.top[1].prob - Math.exp(p.top[0].logit - p.top[1].logit)) < 1e-6 * p.top[0].prob / p.top[1].prob);
  assert.equal(p.sampled.length, 2, 'top-k 2 leaves two candidates');
  assert.ok(Math.abs(p.sampled[0].prob + p.sampled[1].prob - 1) < 1e-12);
  assert.ok(['c', 'd'].includes(p.top[0].text), `after "abcab" the model should expect c or d, got ${p.top[0].text}`);
});

test('attention probe: causal rows that sum to one, cropped to the context', () => {
  const a = attentionMaps(ctx, TEXT.slice(0, 40));
  assert.equal(a.cropped, 24);
  assert.equal(a.tokens.length, 16);
  assert.equal(a.layers.length, 2);
  for (const head of a.layers.flat()) {
    head.forEach((row, q) => {
      assert.ok(Math.abs(row.reduce((s, w) => s + w, 0) - 1) < 1e-5);
      row.forEach((w, k) => { if (k > q) assert.equal(w, 0); });
    });
  }
});

test('logit lens: one row per layer and position, the last layer equal to the model output', () => {
  const lens = logitLens(ctx, 'abcab', 3);
  assert.equal(lens.layers.length, 3);
  assert.equal(lens.layers[0].length, 5);
  const final = nextToken(ctx, 'abcab', 3);
  assert.deepEqual(lens.layers[2][4].top.map((t) => t.id), final.top.map((t) => t.id));
  assert.ok(Math.abs(lens.layers[2][4].top[0].prob - final.top[0].prob) < 1e-5);
});

test('neighbours are by cosine, descending, without the token itself', () => {
  const id = singleTokenId(ctx, 'x');
  const nb = neighbours(ctx, id, 4);
  assert.equal(nb.length, 4);
  assert.ok(nb.every((n) => n.id !== id && n.cosine <= 1 && n.cosine >= -1));
  for (let i = 1; i < nb.length; i++) assert.ok(nb[i - 1].cosine >= nb[i].cosine);
  assert.throws(() => singleTokenId(ctx, 'Q'), /never occurred in the training text/);
});

test('PCA: two orthogonal directions, the first explaining the most variance', () => {
  const { points, explained } = embeddingPca(ctx);
  assert.equal(points.length, ctx.model.config.vocabSize);
  assert.ok(explained[0] >= explained[1] && explained[1] > 0 && explained[0] + explained[1] <= 1 + 1e-9);
  const meanX = points.reduce((s, p) => s + p.x, 0) / points.length;
  const cov = points.reduce((s, p) => s + (p.x - meanX) * p.y, 0);
  assert.ok(Math.abs(cov) < 1e-6, `projections are uncorrelated (${cov})`);
});

test('per-token loss: none for the first token, its mean is the eval loss within one context, and tokens carry offsets', () => {
  const T = ctx.model.config.contextLength;
  const text = TEXT.slice(0, T + 1);
  const per = perTokenLoss(ctx, text);
  assert.equal(per[0].loss, null);
  const losses = per.slice(1).map((t) => t.loss!);
  const ev = evaluateText(ctx, text);
  assert.equal(ev.tokens, T);
  assert.ok(Math.abs(losses.reduce((s, l) => s + l, 0) / losses.length - ev.loss) < 1e-9);
  assert.equal(perTokenLoss(ctx, 'aQ')[1].unknown, true);
  assert.deepEqual(per.slice(0, 3).map((t) => text.slice(t.start, t.end)), [...text.slice(0, 3)]);
});

test('per-token loss past one context: each prediction sees at least half a context before it', () => {
  const T = ctx.model.config.contextLength;
  const text = TEXT.slice(0, 3 * T + 7);
  const ids = ctx.vocab.encode(ctx.tokenizer.encode(text));
  const sliding = slidingLosses(ctx.model, ids);
  assert.equal(sliding.length, ids.length - 1);
  // The first window is the plain one; after it, the loss of ids[i+1] must equal a forward over some window that ends
  // at i and starts at least T/2 tokens back (checked against all candidate starts).
  const blocks = windowLosses(ctx.model, ids.subarray(0, T + 1));
  for (let i = 0; i < T; i++) assert.ok(Math.abs(sliding[i] - blocks[i]) < 1e-6);
  for (const i of [T, T + 5, 2 * T + 1, ids.length - 2]) {
    const matches = [];
    for (let s = Math.max(0, i + 1 - T); s <= i - Math.floor(T / 2); s++) {
      const w = windowLosses(ctx.model, ids.subarray(s, i + 2));
      if (Math.abs(w[w.length - 1] - sliding[i]) < 1e-5) matches.push(s);
    }
    assert.ok(matches.length > 0, `prediction ${i} sees at least T/2 tokens of context`);
  }
});

test('topIndices returns the k largest, largest first, including ties and k beyond the length', () => {
  assert.deepEqual(topIndices([3, 1, 4, 1, 5, 9, 2, 6], 3), [5, 7, 4]);
  assert.deepEqual(topIndices([2, 2, 1], 2).sort(), [0, 1]);
  assert.deepEqual(topIndices([1, 2], 5), [1, 0]);
  const rng = Array.from({ length: 500 }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
  assert.deepEqual(topIndices(rng, 20), Array.from(rng.keys()).sort((a, b) => rng[b] - rng[a]).slice(0, 20));
});

test('analogy: a - b + c is ranked by cosine against a brute-force computation, leaving out the query tokens', () => {
  const r = analogy(ctx, 'b', 'a', 'x', 5);
  const E = ctx.model.embeddingMatrix(), D = ctx.model.config.dim, V = ctx.model.config.vocabSize;
  const id = (t: string): number => singleTokenId(ctx, t);
  const q = Array.from({ length: D }, (_, d) => E[id('b') * D + d] - E[id('a') * D + d] + E[id('x') * D + d]);
  const cos = (v: number): number => {
    let dot = 0, n1 = 0, n2 = 0;
    for (let d = 0; d < D; d++) { dot += E[v * D + d] * q[d]; n1 += E[v * D + d] ** 2; n2 += q[d] ** 2; }
    return dot / Math.sqrt(n1 * n2);
  };
  const expected = Array.from({ length: V }, (_, v) => v).filter((v) => ![id('a'), id('b'), id('x')].includes(v))
    .sort((u, v) => cos(v) - cos(u)).slice(0, 5);
  assert.deepEqual(r.nearest.map((n) => n.id), expected);
  r.nearest.forEach((n) => assert.ok(Math.abs(n.cosine - cos(n.id)) < 1e-6));
  assert.throws(() => analogy(ctx, 'b', 'a', 'Q', 3), /never occurred in the training text/);
});

test('compareTokenizers: every encoding, counts that match each tokenizer, and which tokens the model knows', () => {
  const file = TEXT + 'Zebra!';
  const c = compareTokenizers(ctx, 'xyz Zebra', file);
  assert.deepEqual(c.encodings.map((e) => e.encoding), ['o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base', 'char']);
  for (const e of c.encodings) {
    assert.equal(e.fileTokens, getTokenizer(e.encoding).encode(file).length);
    assert.equal(e.tokens.map((t) => t.text).join(''), 'xyz Zebra');
    assert.ok(Math.abs(e.charsPerToken - file.length / e.fileTokens) < 1e-12);
  }
  const char = c.encodings.find((e) => e.encoding === 'char')!;
  assert.deepEqual(char.inModel, [...'xyz Zebra'].map((ch) => 'abcdxyz. '.includes(ch)));
  assert.equal(c.encodings[0].inModel, null, 'only the model\'s own tokenizer is checked against its vocabulary');
});

test('next-token probe: the kept mass is the raw probability of what the sampler can still draw', () => {
  const p = nextToken(ctx, 'abcab', 5, { temperature: 1, topK: 1, topP: 1 });
  assert.ok(Math.abs(p.keptMass - p.top[0].prob) < 1e-9);
  assert.equal(p.top[0].sampledProb, 1);
  assert.ok(p.top.slice(1).every((t) => t.sampledProb === 0), 'tokens cut by top-k have no sampled probability');
  assert.ok(Math.abs(nextToken(ctx, 'abcab', 5).keptMass - 1) < 1e-9);
});

test('per-token loss from an offset: a short tail is scored in one window ending at the last token', () => {
  const T = ctx.model.config.contextLength;
  const text = TEXT.slice(0, 3 * T);
  const ids = ctx.vocab.encode(ctx.tokenizer.encode(text));
  const tail = perTokenLoss(ctx, text, text.length - 5);
  assert.deepEqual(tail.map((t) => t.start), [0, 1, 2, 3, 4].map((k) => text.length - 5 + k));
  const plain = windowLosses(ctx.model, ids.subarray(ids.length - 1 - T)); // one forward over the last T+1 tokens
  tail.forEach((t, j) => assert.ok(Math.abs(t.loss! - plain[plain.length - 5 + j]) < 1e-5));
  assert.equal(perTokenLoss(ctx, 'abc', 0)[0].loss, null);
  assert.deepEqual(perTokenLoss(ctx, text, 0).map((t) => t.loss), perTokenLoss(ctx, text).map((t) => t.loss));
});

test('per-token loss on the native forward pass over batched windows matches the tfjs model, short and sliding', (t) => {
  const decoder = new KVCacheSession(ctx.model, { decoderClass: nativeGPTClass(), addon: loadNative() });
  if (decoder.path !== 'native') return t.skip('the native addon is not built');
  const scoreWindows = (inputs: Int32Array, targets: Int32Array, B: number, T: number): WindowScores => decoder.rowScores(inputs, targets, B, T);
  try {
    const T = ctx.model.config.contextLength;
    let calls = 0;
    const counted: typeof scoreWindows = (...args) => (calls++, scoreWindows(...args));
    // one window; a few in one batch; 1,520 characters: 189 windows of 16, in batches of 16 windows (256 rows)
    for (const text of [TEXT.slice(0, T - 3), TEXT.slice(0, 3 * T + 5), TEXT]) {
      calls = 0;
      const plain = perTokenLoss(ctx, text);
      const fast = perTokenLoss({ ...ctx, scoreWindows: counted }, text);
      assert.equal(calls, text === TEXT ? 12 : 1, `${text.length} characters`);
      assert.equal(fast.length, plain.length);
      fast.forEach((f, i) => assert.ok(f.loss === plain[i].loss || Math.abs(f.loss! - plain[i].loss!) < 1e-4,
        `token ${i}: native ${f.loss} vs tfjs ${plain[i].loss}`));
      fast.forEach((f, i) => assert.ok(f.entropy === plain[i].entropy || Math.abs(f.entropy! - plain[i].entropy!) < 1e-4,
        `token ${i}: native entropy ${f.entropy} vs tfjs ${plain[i].entropy}`));
    }
    const tail = perTokenLoss({ ...ctx, scoreWindows }, TEXT.slice(0, 3 * T), 3 * T - 4);
    assert.equal(tail.length, 4);
  } finally {
    decoder.dispose();
  }
});
