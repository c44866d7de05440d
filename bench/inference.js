// Inference latency (ghost text and probes) and the effect of vocabulary compaction on a training step.
// Usage: node bench/inference.js [--repeats N] [--json out.json]   (run `npm run build` first)
'use strict';
const fs = require('fs');
const path = require('path');
const OUT = path.join(__dirname, '..', 'out', 'engine');
const { exitWith, flag, percentiles } = require('./common');
const { describeBackend } = require(path.join(OUT, 'compute', 'tfjsBackend.js'));
const { ComputePlan } = require(path.join(OUT, 'compute', 'plan.js'));
const { PRESETS } = require(path.join(OUT, 'model', 'config.js'));
const { GPT } = require(path.join(OUT, 'model', 'gpt.js'));
const { KVCacheSession, decodeWithCache } = require(path.join(OUT, 'inference', 'kvCache.js'));
const { Trainer } = require(path.join(OUT, 'training', 'trainer.js'));
const { Vocabulary } = require(path.join(OUT, 'text', 'vocab.js'));
const { getTokenizer } = require(path.join(OUT, 'text', 'tokenizers.js'));
const { nextToken, attentionMaps, logitLens } = require(path.join(OUT, 'probes', 'probes.js'));

const repeats = Number(flag('repeats', 30));


function time(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const argmax = (l) => l.reduce((best, v, i) => (v > l[best] ? i : best), 0);

async function main() {
  const plan = await ComputePlan.create({ backend: 'auto', trainer: 'auto' });
  const backend = plan.backend;
  const text = fs.readFileSync(path.join(__dirname, '..', 'media', 'tinyshakespeare-sample.txt'), 'utf8');
  const results = { backend: describeBackend(backend), repeats };

  // Ghost text on the tiny preset: a 256-token prompt, cropped so that the completion fits the context.
  const charVocab = Vocabulary.fromTokenIds(getTokenizer('char').encode(text));
  const tiny = GPT.init({ ...PRESETS.tiny.model, vocabSize: charVocab.size }, 1, plan.matmul);
  const session = new KVCacheSession(tiny, plan);
  const prompt = Array.from({ length: 256 }, (_, i) => 1 + (i % (charVocab.size - 1)));
  const window = prompt.slice(-(tiny.config.contextLength - 32));
  const first = [], full = [];
  for (let r = 0; r < repeats + 3; r++) {
    const a = time(() => { decodeWithCache(session, window, argmax, 1).next(); });
    const b = time(() => { for (const _ of decodeWithCache(session, window, argmax, 32)) void _; });
    if (r >= 3) { first.push(a); full.push(b); }
  }
  results.tinyFirstToken = percentiles(first);
  results.tiny32Tokens = percentiles(full);
  tiny.dispose();

  // Probes on the classic preset for a 512-token selection (cropped to its 32-token context).
  const o200k = getTokenizer('o200k_base');
  const ids = o200k.encode(text);
  const vocab = Vocabulary.fromTokenIds(ids);
  const classic = GPT.init({ ...PRESETS.classic.model, vocabSize: vocab.size }, 1, plan.matmul);
  const ctx = { model: classic, vocab, tokenizer: o200k };
  const selection = o200k.decode(ids.slice(0, 512));
  const probes = { topk: [], attention: [], lens: [] };
  for (let r = 0; r < Math.max(5, Math.floor(repeats / 3)) + 2; r++) {
    const t1 = time(() => nextToken(ctx, selection, 10));
    const t2 = time(() => attentionMaps(ctx, selection));
    const t3 = time(() => logitLens(ctx, selection, 5));
    if (r >= 2) { probes.topk.push(t1); probes.attention.push(t2); probes.lens.push(t3); }
  }
  results.classicProbes512 = { topk: percentiles(probes.topk), attention: percentiles(probes.attention), lens: percentiles(probes.lens),
    vocabSize: vocab.size };
  classic.dispose();

  // Compaction: one classic training step with the compacted vocabulary vs the tokenizer's whole id space.
  results.compaction = {};
  for (const [label, V] of [['compacted', vocab.size], ['full', o200k.vocabSize]]) {
    const model = GPT.init({ ...PRESETS.classic.model, vocabSize: V }, 1, plan.matmul);
    const trainer = await Trainer.create(model, { ...PRESETS.classic.train, seed: 1 }, plan);
    const B = 8, T = 32, x = new Int32Array(B * T), y = new Int32Array(B * T);
    for (let i = 0; i < B * T; i++) { x[i] = (i * 7919) % V; y[i] = (i * 104729 + 1) % V; }
    const ms = [];
    try {
      for (let r = 0; r < 4; r++) {
        const t0 = process.hrtime.bigint();
        await trainer.step(x, y);
        if (r > 0) ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      results.compaction[label] = { vocabSize: V, parameters: model.parameterCount, stepMs: percentiles(ms).p50 };
    } catch (e) {
      results.compaction[label] = { vocabSize: V, parameters: model.parameterCount, error: String(e.message || e).split('\n')[0] };
    }
    trainer.dispose();
    model.dispose();
  }

  const f = (x) => x.toFixed(1);
  console.log(`backend: ${results.backend}`);
  console.log(`tiny, ghost text (256-token prompt cropped to ${window.length}): first token p50 ${f(results.tinyFirstToken.p50)} ms, p95 ${f(results.tinyFirstToken.p95)} ms; 32 tokens p50 ${f(results.tiny32Tokens.p50)} ms, p95 ${f(results.tiny32Tokens.p95)} ms`);
  const p = results.classicProbes512;
  console.log(`classic, 512-token selection (V=${p.vocabSize}): top-k p50 ${f(p.topk.p50)} ms, attention p50 ${f(p.attention.p50)} ms, lens p50 ${f(p.lens.p50)} ms`);
  for (const [label, c] of Object.entries(results.compaction)) {
    console.log(`classic step, ${label} vocabulary V=${c.vocabSize}: ${(c.parameters / 1e6).toFixed(1)}M parameters, ${c.stepMs ? `${f(c.stepMs)} ms/step` : `failed: ${c.error}`}`);
  }
  const { compacted, full: whole } = results.compaction;
  if (compacted.stepMs && whole.stepMs) console.log(`compaction: ${(whole.parameters / compacted.parameters).toFixed(1)}x fewer parameters, ${(whole.stepMs / compacted.stepMs).toFixed(1)}x faster step`);
  const out = flag('json', path.join(__dirname, 'results', 'inference.json'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(results, null, 2));
}

main().catch((e) => {
  exitWith(1, e && e.stack ? e.stack : String(e));
});
