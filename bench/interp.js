// Interpretability timings (issue #19's goals): head roles for every head of `classic` (< 1 s), attribution for one
// position (< 100 ms), patching every head of `classic` for a 64-token text (< 2 s), a snapshot loaded and the
// attention probe answered at it (the timeline slider), and a copy check of a completion against 1 MB of training text.
// Usage: node bench/interp.js [--repeats N] [--json out.json]   (run `npm run build` first)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const OUT = path.join(__dirname, '..', 'out', 'engine');
const { flag, percentiles } = require('./common');
const { selectBackend, describeBackend } = require(path.join(OUT, 'compute', 'tfjsBackend.js'));
const { PRESETS, applyModelOverrides } = require(path.join(OUT, 'model', 'config.js'));
const { GPT } = require(path.join(OUT, 'model', 'gpt.js'));
const { Vocabulary } = require(path.join(OUT, 'text', 'vocab.js'));
const { getTokenizer } = require(path.join(OUT, 'text', 'tokenizers.js'));
const { attentionMaps } = require(path.join(OUT, 'probes', 'probes.js'));
const { headRoles } = require(path.join(OUT, 'probes', 'headRoles.js'));
const { attribution } = require(path.join(OUT, 'probes', 'attribution.js'));
const { patchEdit } = require(path.join(OUT, 'probes', 'patching.js'));
const { CopyIndex } = require(path.join(OUT, 'probes', 'memorisation.js'));
const { snapshotContext } = require(path.join(OUT, 'probes', 'snapshots.js'));
const { compressWeights, snapshotBytes } = require(path.join(OUT, 'io', 'snapshots.js'));

const repeats = Number(flag('repeats', 5));

function time(fn) {
  const t0 = process.hrtime.bigint();
  const value = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

/** Runs fn `repeats` times after one warm-up; the median and p95 in ms. */
function measure(fn, n = repeats) {
  fn();
  const ms = [];
  for (let r = 0; r < n; r++) ms.push(time(fn).ms);
  return percentiles(ms);
}

const fmt = (p) => `median ${p.p50.toFixed(0)} ms (p95 ${p.p95.toFixed(0)})`;

async function main() {
  const backend = await selectBackend('auto');
  const text = fs.readFileSync(path.join(__dirname, '..', 'media', 'tinyshakespeare-sample.txt'), 'utf8');
  const o200k = getTokenizer('o200k_base');
  const ids = o200k.encode(text);
  const vocab = Vocabulary.fromTokenIds(ids);
  const cpu = `${os.cpus()[0].model}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`;
  console.log(`interpretability on ${describeBackend(backend)}; ${cpu}; ${repeats} runs each`);
  const results = { backend: describeBackend(backend), cpu, repeats };

  // A 64-token passage and a copy with a name changed: "Caius Marcius" -> "Titus Lartius", the same token count.
  const start = text.indexOf('Caius Marcius') - 150;
  const passage = o200k.decode(o200k.encode(text.slice(start)).slice(0, 64));
  const edited = passage.replace('Caius Marcius', 'Titus Lartius');

  for (const [label, shape] of [['classic (context 32: the last 32 of the 64 tokens)', PRESETS.classic.model],
    ['classic with context 64', applyModelOverrides(PRESETS.classic.model, { contextLength: 64 })]]) {
    const model = GPT.init({ ...shape, vocabSize: vocab.size }, 1);
    const ctx = { model, vocab, tokenizer: o200k };
    const reference = measure(() => attentionMaps(ctx, passage)); // an existing probe, for scale on a busy machine
    const roles = measure(() => headRoles(ctx, passage));
    const attr = measure(() => attribution(ctx, passage));
    let first = 0;
    const patch = measure(() => {
      first = patchEdit(ctx, passage, edited).firstDifference;
    });
    const patchPositions = measure(() => patchEdit(ctx, passage, edited, { positions: true }), Math.max(1, Math.floor(repeats / 2)));
    const row = { model: label, parameters: model.parameterCount, attentionProbeMs: reference, headRolesMs: roles, attributionMs: attr, patchHeadsMs: patch,
      patchWithPositionsMs: patchPositions, firstDifference: first };
    results[label.startsWith('classic (') ? 'classic' : 'classic64'] = row;
    console.log(`${label}, ${(model.parameterCount / 1e6).toFixed(2)}M parameters (vocabulary ${vocab.size}):`);
    console.log(`  (for scale: the attention probe, one forward pass:   ${fmt(reference)})`);
    console.log(`  head roles, every head (induction test + the text): ${fmt(roles)}   goal < 1000 ms`);
    console.log(`  attribution of the last position:                   ${fmt(attr)}   goal < 100 ms`);
    console.log(`  patching all ${shape.layers * shape.heads} heads and ${shape.layers + 1} residuals (edit from token ${first}): ${fmt(patch)}   goal < 2000 ms`);
    console.log(`  ... and the residual at every position too:          ${fmt(patchPositions)}`);

    // The timeline: a snapshot (float16) built into a model, then the attention probe at it.
    const snapshot = { step: 0, loss: null, weights: compressWeights(model.toTensors()) };
    const set = { snapshots: [snapshot], timeline: [] };
    const load = [], probe = [];
    for (let r = 0; r < repeats; r++) {
      const l = time(() => snapshotContext(ctx, set, 0));
      const a = time(() => attentionMaps(l.value, passage));
      l.value.model.dispose();
      load.push(l.ms);
      probe.push(a.ms);
    }
    row.snapshotBytes = snapshotBytes(snapshot);
    row.snapshotLoadMs = percentiles(load);
    row.attentionAtSnapshotMs = percentiles(probe);
    console.log(`  a snapshot (${(row.snapshotBytes / 1e6).toFixed(1)} MB float16): loaded ${fmt(row.snapshotLoadMs)}, then attention at it ${fmt(row.attentionAtSnapshotMs)}   goal < 100 ms`);
    model.dispose();
  }

  // Snapshot memory of the presets (float16: 2 bytes a weight), on the bundled sample's vocabularies.
  const charVocab = Vocabulary.fromTokenIds(getTokenizer('char').encode(text));
  results.snapshotMB = {};
  for (const [name, v] of [['tiny', charVocab], ['small', charVocab], ['classic', vocab]]) {
    const m = GPT.init({ ...PRESETS[name].model, vocabSize: v.size }, 1);
    results.snapshotMB[name] = (2 * m.parameterCount) / 1e6;
    m.dispose();
  }
  console.log(`snapshot size (float16): ${Object.entries(results.snapshotMB).map(([k, mb]) => `${k} ${mb.toFixed(2)} MB`).join(', ')}`);

  // Copies: 1 MiB of training text indexed once, then a 200-character completion checked.
  let big = '';
  while (big.length < 1 << 20) big += text;
  big = big.slice(0, 1 << 20);
  const built = time(() => new CopyIndex(big));
  const completion = `${'The quick brown fox jumps over the lazy dog. '.repeat(3)}${text.slice(90000, 90060)}`;
  const check = measure(() => built.value.find(completion), 50);
  results.copyIndexBuildMs = built.ms;
  results.copyCheckMs = check;
  console.log(`copies: 1 MiB indexed in ${built.ms.toFixed(0)} ms; a ${completion.length}-character completion checked in median ${check.p50.toFixed(3)} ms ` +
    `(${built.value.find(completion).length} copy found)`);

  const json = flag('json', null);
  if (json) fs.writeFileSync(json, JSON.stringify(results, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
