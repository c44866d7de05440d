import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../../engine/backend';
import { PRESETS } from '../../engine/config';
import { attentionMaps, embeddingPca, evaluateText, logitLens, neighbours, nextToken, perTokenLoss, singleTokenId, topIndices,
  type ProbeContext } from '../../engine/probes';
import { trainOnText } from '../../engine/train';

let ctx: ProbeContext;
const TEXT = 'abcabcabd xyz xyz. '.repeat(80);

before(async () => {
  await selectBackend('wasm');
  const r = await trainOnText({ text: TEXT, tokenizer: 'char', model: { ...PRESETS.tiny.model, contextLength: 16, dim: 32, heads: 2, layers: 2 },
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

test('per-token loss: none for the first token, and its mean is the eval loss', () => {
  const text = TEXT.slice(0, 50);
  const per = perTokenLoss(ctx, text);
  assert.equal(per[0].loss, null);
  const losses = per.slice(1).map((t) => t.loss!);
  const ev = evaluateText(ctx, text);
  assert.equal(ev.tokens, 49);
  assert.ok(Math.abs(losses.reduce((s, l) => s + l, 0) / losses.length - ev.loss) < 1e-9);
  assert.equal(perTokenLoss(ctx, 'aQ')[1].unknown, true);
});

test('topIndices returns the k largest, largest first, including ties and k beyond the length', () => {
  assert.deepEqual(topIndices([3, 1, 4, 1, 5, 9, 2, 6], 3), [5, 7, 4]);
  assert.deepEqual(topIndices([2, 2, 1], 2).sort(), [0, 1]);
  assert.deepEqual(topIndices([1, 2], 5), [1, 0]);
  const rng = Array.from({ length: 500 }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
  assert.deepEqual(topIndices(rng, 20), Array.from(rng.keys()).sort((a, b) => rng[b] - rng[a]).slice(0, 20));
});
