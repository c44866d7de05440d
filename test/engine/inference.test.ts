import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import type { GPTConfig } from '../../engine/model/config';
import { decodeWithCache, KVCacheSession, type DecodePath } from '../../engine/inference/kvCache';
import { loadNative, nativeGPTClass } from '../../engine/compute/addon';
import { GPT } from '../../engine/model/gpt';
import { Rng } from '../../engine/common/rng';
import { nextTokenLogits, generate } from '../../engine/inference/sample';

const base: GPTConfig = {
  vocabSize: 61, contextLength: 16, dim: 32, heads: 4, layers: 2, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
  positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: true, dropout: 0, kvHeads: 4, headDim: 8, qkNorm: false,
};
const VARIANTS: [string, Partial<GPTConfig>][] = [
  ['layernorm/gelu/learned/untied', {}],
  ['rmsnorm/relu/sinusoidal/tied/no bias', { norm: 'rmsnorm', activation: 'relu', positions: 'sinusoidal', tieEmbeddings: true, bias: false, qkvBias: false }],
  ['grouped-query (2 of 4)/rope/QK-norm', { kvHeads: 2, positions: 'rope', qkNorm: true }],
  ['multi-query/no positions/attention-only/heads of 12', { kvHeads: 1, positions: 'none', ffnMult: 0, headDim: 12 }],
  ['rmsnorm/rope/heads of 4/no bias', { norm: 'rmsnorm', positions: 'rope', headDim: 4, bias: false, qkvBias: false }],
];

before(async () => {
  await selectBackend('wasm');
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

// The typed-array reference everywhere; the addon's decoder where it is built (CI builds it).
const COMPUTE = { decoderClass: nativeGPTClass(), addon: loadNative() };
const PATHS: DecodePath[] = nativeGPTClass() ? ['native', 'typed'] : ['typed'];

for (const path of PATHS) {
  for (const [label, over] of VARIANTS) {
    test(`${path} decoder, ${label}: cached logits equal the full forward pass at every position`, () => {
      const model = GPT.init({ ...base, ...over }, 4);
      const rng = new Rng(2);
      const seq = Array.from({ length: 16 }, () => rng.int(61));
      const session = new KVCacheSession(model, COMPUTE, path);
      assert.equal(session.path, path);
      let worst = maxAbsDiff(session.feed(seq.slice(0, 5)), nextTokenLogits(model, seq.slice(0, 5))); // a five-token prefill
      for (let t = 5; t < 16; t++) {
        const cached = session.feed([seq[t]]);
        worst = Math.max(worst, maxAbsDiff(cached, nextTokenLogits(model, seq.slice(0, t + 1))));
      }
      assert.ok(worst < 2e-5, `max |cached - forward| = ${worst}`);
      assert.throws(() => session.feed([1]), /the cache holds 16 tokens; 16 \+ 1 do not fit/);
      assert.throws(() => session.rowLosses(Int32Array.of(1, 61), Int32Array.of(61, 1), 1, 2), /token id 61 is not in the model's vocabulary/);
      assert.throws(() => session.rowLosses(new Int32Array(17), new Int32Array(17), 1, 17), /no \[1, 17\] batch fits a context of 16/);

      // A probe's windows, two of 9 tokens in one batch: every row's loss equals the cross-entropy of a forward over
      // the prefix it ends, in its own window.
      const windows = [seq.slice(0, 10), seq.slice(5, 15)];
      const inputs = Int32Array.from(windows.flatMap((w) => w.slice(0, 9)));
      const targets = Int32Array.from(windows.flatMap((w) => w.slice(1, 10)));
      const losses = session.rowLosses(inputs, targets, 2, 9);
      assert.equal(losses.length, 18);
      worst = 0;
      windows.forEach((w, b) => {
        for (let r = 0; r < 9; r++) {
          const logits = nextTokenLogits(model, w.slice(0, r + 1));
          const max = Math.max(...logits);
          const expected = max + Math.log(logits.reduce((sum, z) => sum + Math.exp(z - max), 0)) - logits[w[r + 1]];
          worst = Math.max(worst, Math.abs(losses[b * 9 + r] - expected));
        }
      });
      assert.ok(worst < 2e-5, `max |window loss - forward loss| = ${worst}`);
      assert.equal(session.length, 0, 'scoring windows leaves the cache empty');
      assert.equal(session.feed(seq.slice(0, 16)).length, 61, 'and the whole context fits again');
      session.dispose();
      model.dispose();
    });
  }

  test(`${path} decoder: greedy generation with the cache matches greedy generation by full forward passes`, () => {
    const model = GPT.init(base, 9);
    const prompt = [3, 14, 15, 9];
    const argmax = (l: Float32Array): number => l.reduce((best, v, i) => (v > l[best] ? i : best), 0);
    const session = new KVCacheSession(model, COMPUTE, path);
    const cached = [...decodeWithCache(session, prompt, argmax, 12)]; // 4 + 12 = 16: fits the context
    const full: number[] = [];
    const seq = [...prompt];
    for (let i = 0; i < 12; i++) {
      const id = argmax(nextTokenLogits(model, seq));
      full.push(id);
      seq.push(id);
    }
    assert.deepEqual(cached, full);
    // past the context the cache slides and generation goes on
    assert.equal(generate(session, prompt, 40, { temperature: 0.9, topK: 5, topP: 1 }, new Rng(1)).length, 40);
    session.dispose();
    model.dispose();
  });
}

test('the native and typed decoders agree on a 40-token sampled continuation past the context', (t) => {
  if (!nativeGPTClass()) return t.skip('the native addon is not built');
  const model = GPT.init(base, 5);
  const run = (path: DecodePath): number[] => {
    const session = new KVCacheSession(model, COMPUTE, path);
    const ids = Array.from(generate(session, [1, 2, 3], 40, { temperature: 0.8, topK: 0, topP: 0.95 }, new Rng(7)));
    session.dispose();
    return ids;
  };
  assert.deepEqual(run('native'), run('typed'));
  model.dispose();
});
