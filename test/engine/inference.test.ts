import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../../engine/backend';
import type { GPTConfig } from '../../engine/config';
import { decodeWithCache, KVCacheSession } from '../../engine/inference';
import { GPT } from '../../engine/model';
import { Rng } from '../../engine/rng';
import { nextTokenLogits, generate } from '../../engine/sample';

const base: GPTConfig = {
  vocabSize: 61, contextLength: 16, dim: 32, heads: 4, layers: 2, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
  positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: true, dropout: 0,
};
const VARIANTS: [string, Partial<GPTConfig>][] = [
  ['layernorm/gelu/learned/untied', {}],
  ['rmsnorm/relu/sinusoidal/tied/no bias', { norm: 'rmsnorm', activation: 'relu', positions: 'sinusoidal', tieEmbeddings: true, bias: false, qkvBias: false }],
];

before(async () => {
  await selectBackend('wasm');
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

for (const [label, over] of VARIANTS) {
  test(`${label}: cached logits equal the full forward pass at every position`, () => {
    const model = GPT.init({ ...base, ...over }, 4);
    const rng = new Rng(2);
    const seq = Array.from({ length: 16 }, () => rng.int(61));
    const session = new KVCacheSession(model);
    let worst = maxAbsDiff(session.feed(seq.slice(0, 5)), nextTokenLogits(model, seq.slice(0, 5))); // a five-token prefill
    for (let t = 5; t < 16; t++) {
      const cached = session.feed([seq[t]]);
      worst = Math.max(worst, maxAbsDiff(cached, nextTokenLogits(model, seq.slice(0, t + 1))));
    }
    assert.ok(worst < 2e-5, `max |cached - forward| = ${worst}`);
    assert.throws(() => session.feed([1]), /the cache holds 16 tokens; 16 \+ 1 do not fit/);
    model.dispose();
  });
}

test('greedy generation with the cache matches greedy generation by full forward passes', () => {
  const model = GPT.init(base, 9);
  const prompt = [3, 14, 15, 9];
  const argmax = (l: Float32Array): number => l.reduce((best, v, i) => (v > l[best] ? i : best), 0);
  const cached = [...decodeWithCache(new KVCacheSession(model), prompt, argmax, 12)]; // 4 + 12 = 16: fits the context
  const full: number[] = [];
  const seq = [...prompt];
  for (let i = 0; i < 12; i++) {
    const id = argmax(nextTokenLogits(model, seq));
    full.push(id);
    seq.push(id);
  }
  assert.deepEqual(cached, full);
  // past the context the cache slides and generation goes on
  assert.equal(generate(model, prompt, 40, { temperature: 0.9, topK: 5, topP: 1 }, new Rng(1)).length, 40);
  model.dispose();
});
