// The attention probe as a panel reads it (engine/probes/attention.ts): the same weights as the nested reference
// probe, on the tfjs path and on the native decoder's forward pass (with GQA and RoPE too); thumbnails max-pooled
// exactly; a map and a token's rows on request; the kept weights reused for the same text only; refusals.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { nativeGPTClass } from '../../engine/compute/addon';
import { applyModelOverrides, PRESETS } from '../../engine/model/config';
import { GPT } from '../../engine/model/gpt';
import { KVCacheSession } from '../../engine/inference/kvCache';
import { flatLayout, flattenWeights } from '../../engine/model/flatLayout';
import { attentionMaps, type ProbeContext } from '../../engine/probes/probes';
import { attentionLayers, attentionMap, attentionProbe, attentionRows, attentionThumbnails, AttentionStore, textAttention } from '../../engine/probes/attention';
import { getTokenizer } from '../../engine/text/tokenizers';
import { Vocabulary } from '../../engine/text/vocab';

const TEXT = 'to be or not to be, that is the question: whether tis nobler in the mind';
const contexts: { name: string; ctx: ProbeContext }[] = [];

before(async () => {
  await selectBackend('wasm');
  const tokenizer = getTokenizer('char');
  const vocab = Vocabulary.fromTokenIds(tokenizer.encode(TEXT));
  const base = applyModelOverrides(PRESETS.tiny.model, { contextLength: 40, dim: 32, heads: 4, layers: 3 });
  contexts.push({ name: 'standard', ctx: { model: GPT.init({ ...base, vocabSize: vocab.size }, 3), vocab, tokenizer } });
  const gqa = applyModelOverrides(base, { kvHeads: 2, positions: 'rope', qkNorm: true });
  contexts.push({ name: 'GQA + RoPE + QK-norm', ctx: { model: GPT.init({ ...gqa, vocabSize: vocab.size }, 4), vocab, tokenizer } });
});
after(() => contexts.forEach(({ ctx }) => ctx.model.dispose()));

test('the probe holds the reference weights: every map, the mean over heads, a token’s rows in every head', () => {
  for (const { name, ctx } of contexts) {
    const ref = attentionMaps(ctx, TEXT); // [N][H][T][T] nested: the reference
    const a = textAttention(ctx, TEXT);
    const { N, H, T } = a;
    assert.equal(T, 40, `${name}: cropped to the context`);
    assert.equal(a.cropped, ref.cropped);
    for (let l = 0; l < N; l++) {
      for (let h = 0; h < H; h++) {
        const m = attentionMap(a, l, h).weights;
        for (let q = 0; q < T; q++) for (let k = 0; k < T; k++) assert.equal(m[q * T + k], Math.fround(ref.layers[l][h][q][k]));
      }
      const mean = attentionMap(a, l, 'mean').weights;
      for (let q = 0; q < T; q += 7) {
        for (let k = 0; k <= q; k++) {
          const want = ref.layers[l].reduce((s, head) => s + head[q][k], 0) / H;
          assert.ok(Math.abs(mean[q * T + k] - want) < 1e-6, `${name}: mean of heads at layer ${l}, (${q}, ${k})`);
        }
      }
      const rows = attentionRows(a, l, 17).weights;
      assert.equal(rows.length, H * 18);
      for (let h = 0; h < H; h++) for (let k = 0; k <= 17; k++) assert.equal(rows[h * 18 + k], Math.fround(ref.layers[l][h][17][k]));
    }
  }
});

test('thumbnails: each head’s map and the layer’s mean, max-pooled exactly', () => {
  const a = textAttention(contexts[0].ctx, TEXT);
  const { N, H, T } = a;
  const res = 8;
  const pooled = attentionThumbnails(a, res);
  assert.deepEqual([pooled.from, pooled.count, pooled.res], [0, N, res]);
  const th = pooled.values;
  assert.equal(th.length, N * (H + 1) * res * res);
  const bin = (i: number): number => Math.min(res - 1, Math.floor((i * res) / T));
  for (let l = 0; l < N; l++) {
    for (let h = 0; h <= H; h++) {
      const want = new Float32Array(res * res);
      const map = attentionMap(a, l, h === H ? 'mean' : h).weights;
      for (let q = 0; q < T; q++) for (let k = 0; k <= q; k++) want[bin(q) * res + bin(k)] = Math.max(want[bin(q) * res + bin(k)], map[q * T + k]);
      const got = th.subarray((l * (H + 1) + h) * res * res, (l * (H + 1) + h + 1) * res * res);
      for (let i = 0; i < res * res; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-6, `layer ${l} ${h === H ? 'mean' : `head ${h}`} pixel ${i}`);
    }
  }
  // What a panel gets first: every thumbnail (at most T pixels a side) and the open maps in full, as typed arrays.
  const probe = attentionProbe(a, 64, [{ layer: 2, head: 'mean' }]);
  assert.equal(probe.thumbnails.res, T);
  assert.ok(probe.thumbnails.values instanceof Float32Array && probe.maps[0].weights instanceof Float32Array);
  assert.equal(probe.maps[0].weights.buffer.byteLength, T * T * 4, 'a map is its own buffer, not a view into every head');
});

test('the native decoder’s forward pass gives the same attention as the tfjs model', { skip: nativeGPTClass() ? false : 'the native addon is not built' }, () => {
  for (const { name, ctx } of contexts) {
    const decoder = new KVCacheSession(ctx.model, { decoderClass: nativeGPTClass(), addon: null }, 'native');
    try {
      const native = textAttention(ctx, TEXT, (ids) => decoder.attention(ids));
      const tfjs = textAttention(ctx, TEXT);
      let worst = 0;
      native.layers.forEach((layer, l) => layer.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - tfjs.layers[l][i])); }));
      assert.ok(worst < 2e-6, `${name}: native and tfjs attention differ by ${worst}`);
      // The decoder still decodes after a probe (the probe leaves its cache empty).
      assert.equal(decoder.length, 0);
      assert.equal(decoder.feed([1, 2]).length, ctx.model.config.vocabSize);
    } finally {
      decoder.dispose();
    }
  }
});

test('a first paint’s probe of the first layers: the same maps and thumbnails as the whole pass’s, and the rest after', { skip: nativeGPTClass() ? false : 'the native addon is not built' }, () => {
  for (const { name, ctx } of contexts) {
    const decoder = new KVCacheSession(ctx.model, { decoderClass: nativeGPTClass(), addon: null }, 'native');
    try {
      const forward = (ids: Int32Array, upTo?: number): Float32Array[] | null => decoder.attention(ids, upTo);
      const whole = textAttention(ctx, TEXT, forward);
      const store = new AttentionStore();
      const first = store.of(ctx, TEXT, forward, 1);
      assert.equal(first.layers.length, 1, `${name}: the pass stopped after layer 1`);
      assert.deepEqual(first.layers[0], whole.layers[0], `${name}: layer 1 is the whole pass's, bit for bit`);
      const probe = attentionProbe(first, 16, [{ layer: 0, head: 1 }]);
      assert.deepEqual([probe.layers, probe.thumbnails.from, probe.thumbnails.count], [3, 0, 1]);
      const wholeProbe = attentionProbe(whole, 16, [{ layer: 0, head: 1 }]);
      const layerSize = (whole.H + 1) * 16 * 16;
      assert.deepEqual(probe.thumbnails.values, wholeProbe.thumbnails.values.subarray(0, layerSize));
      assert.deepEqual(probe.maps[0].weights, wholeProbe.maps[0].weights);
      assert.throws(() => attentionProbe(first, 16, [{ layer: 2, head: 0 }]), /layer 2 is past the 1 layers this forward pass ran/);
      assert.throws(() => attentionLayers(first, 1, 16), /need the whole forward pass/);
      // The rest: the store runs the whole pass, and its thumbnails continue the first ones.
      const rest = attentionLayers(store.of(ctx, TEXT, forward), 1, 16);
      assert.deepEqual([rest.from, rest.count, rest.res], [1, 2, 16]);
      assert.deepEqual(rest.values, wholeProbe.thumbnails.values.subarray(layerSize));
      assert.equal(store.of(ctx, TEXT, forward, 1).layers.length, 3, 'the whole pass answers for its first layers too');
      assert.throws(() => textAttention(ctx, TEXT, forward, 4), /layers must be 1 to the model's 3, not 4/);
      // The compiled pass that stopped early has no logits, and says so rather than hand back an older pass's.
      const cls = nativeGPTClass()!;
      const layout = flatLayout(ctx.model.config);
      const flat = new cls(ctx.model.config, layout.slots, flattenWeights(ctx.model, layout));
      try {
        const ids = Int32Array.from({ length: 8 }, (_, i) => i % ctx.model.config.vocabSize);
        flat.forward(ids, 1, 8, 1);
        assert.throws(() => flat.logits(), /logits: the last forward stopped after 1 layers/);
        assert.throws(() => flat.attention(1), /layer 1 is past the 1 layers of the last forward/);
        flat.forward(ids, 1, 8);
        assert.equal(flat.logits().length, 8 * ctx.model.config.vocabSize);
        assert.throws(() => flat.forward(ids, 1, 8, 0), /layers must be 1 to the model's 3/);
      } finally {
        flat.dispose();
      }
    } finally {
      decoder.dispose();
    }
  }
});

test('the store keeps the last text’s weights for its maps and rows, and refuses what the model does not have', () => {
  const { ctx } = contexts[0];
  const store = new AttentionStore();
  let forwards = 0;
  const counting = (ids: Int32Array): null => { forwards++; void ids; return null; }; // counts, then falls back to tfjs
  const a = store.of(ctx, TEXT, counting);
  assert.equal(store.of(ctx, TEXT, counting), a, 'the same text: the kept weights');
  assert.equal(forwards, 1);
  store.of(ctx, `${TEXT}!`, counting);
  assert.equal(forwards, 2, 'another text: a new forward pass');
  assert.throws(() => attentionMap(a, 3, 0), /layer 3 is not one of the model's 3 layers/);
  assert.throws(() => attentionMap(a, 0, 4), /head 4 is not one of the model's 4 heads/);
  assert.throws(() => attentionRows(a, 0, 40), /token 40 is not one of the 40 probed tokens/);
  assert.throws(() => attentionProbe(a, 0), /a thumbnail is 1 to 256 pixels/);
  assert.throws(() => textAttention(ctx, ''), /no tokens/);
});
