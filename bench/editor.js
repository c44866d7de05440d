// What a person in the editor waits for, through the real engine processes the extension runs (out/engine/host/worker.js
// via EngineClient), measured while another engine process trains, as in the editor:
//   hover: the tokens of a 200-character line, tokenized in the host process (what extension/hover.ts does);
//   hover with a model: the same plus the model's per-token loss over the line and its context (the `tokenLoss` request);
//   ghost text: from request to text, 32 tokens after a 256-token prefix (the `sample` request), tiny and classic.
// The model rows run twice: on the native addon, and on the wasm build as the universal VSIX runs them (the answering
// engine started with GPTLAB_NATIVE=0: its KV cache and window losses are the wasm NativeGPT's; wasm-fma where the
// runtime has relaxed SIMD). Goals for `tiny`: hover p95 <= 30 ms, ghost text p50 <= 40 ms, on either path.
// Usage: node bench/editor.js [--repeats N] [--json out.json]   (run `npm run build` first)
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const OUT = path.join(__dirname, '..', 'out', 'engine');
const { exitWith, flag, percentiles } = require('./common');
const { EngineClient } = require(path.join(OUT, 'host', 'client.js'));
const { getTokenizer, tokenChunks } = require(path.join(OUT, 'text', 'tokenizers.js'));
const { relaxedSimdAvailable } = require(path.join(OUT, 'compute', 'wasm.js'));

const repeats = Number(flag('repeats', 60));
const worker = path.join(OUT, 'host', 'worker.js');
const sample = fs.readFileSync(path.join(__dirname, '..', 'media', 'tinyshakespeare-sample.txt'), 'utf8');


async function timed(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Trains a model in a throwaway engine and returns its file. */
async function trainModel(preset, steps) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-bench-editor-'));
  const out = path.join(dir, `${preset}.safetensors`);
  const client = new EngineClient({ workerPath: worker });
  await client.call('train', { text: sample.slice(0, 200_000), label: 'sample', settings: { preset, steps }, out,
    beside: `${out}.new`, checkpoint: null, inputs: [] });
  client.dispose();
  return out;
}

async function main() {
  const results = { machine: `${os.cpus()[0].model.trim()}, ${os.cpus().length} cores`, repeats };
  const files = { tiny: await trainModel('tiny', 300), classic: await trainModel('classic', 60) };

  // A second engine trains all along, as when a person hovers and types during a run.
  const trainer = new EngineClient({ workerPath: worker, background: true }); // as the extension runs it
  const busy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-bench-editor-')), 'busy.safetensors');
  const run = trainer.request('train', { text: sample, label: 'sample', settings: { preset: 'classic', steps: 1_000_000 }, out: busy,
    beside: `${busy}.new`, checkpoint: null, inputs: [] });
  await new Promise((resolve) => setTimeout(resolve, 3000));

  const lines = sample.split('\n').filter((l) => l.length > 20);
  const line200 = (i) => {
    let s = '';
    for (let j = i; s.length < 200; j++) s += lines[j % lines.length] + ' ';
    return s.slice(0, 200);
  };
  for (const encoding of ['o200k_base', 'char']) {
    tokenChunks(getTokenizer(encoding), 'warm up');
    const ms = [];
    for (let i = 0; i < repeats; i++) ms.push(await timed(() => tokenChunks(getTokenizer(encoding), line200(i * 7))));
    results[`hover ${encoding}, no model`] = percentiles(ms);
  }

  const wasmBuild = relaxedSimdAvailable() ? 'wasm-fma' : 'wasm-simd';
  for (const [decoder, env] of [['native', {}], [wasmBuild, { GPTLAB_NATIVE: '0' }]]) {
    // As the extension runs it: every core, normal priority. EngineClient hands its own environment to the engine.
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const prober = new EngineClient({ workerPath: worker });
    await prober.call('status', {}); // started while the environment holds
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    for (const preset of ['tiny', 'classic']) {
      await prober.call('load', { file: files[preset] });
      // The first request after a load also makes the decoder (a copy of the weights; on the wasm path the first one
      // also loads the wasm build): reported on its own, not among the percentiles.
      const first = await timed(() => prober.call('tokenLoss', { text: sample.slice(4000, 4500), from: 300 }));
      results[`first hover after loading ${preset}, ${decoder}`] = { first: +first.toFixed(2) };
      const ms = [], ghost = [];
      for (let i = 0; i < repeats; i++) {
        const at = 5000 + i * 997;
        const context = sample.slice(at - 300, at); // what hover.ts sends: the line plus context before it
        ms.push(await timed(() => prober.call('tokenLoss', { text: context + line200(i), from: context.length })));
      }
      results[`hover with ${preset} model (tokenLoss), ${decoder}`] = { ...percentiles(ms), goal: preset === 'tiny' ? { p95: 30 } : undefined };
      const prefixChars = preset === 'tiny' ? 256 : 1100; // ~256 tokens: characters for tiny, o200k tokens for classic
      for (let i = 0; i < Math.min(repeats, 30); i++) {
        const at = 10_000 + i * 1511;
        ghost.push(await timed(() => prober.call('sample', { prompt: sample.slice(at - prefixChars, at), tokens: 32, seed: i,
          sampling: { temperature: 0.6, topK: 0, topP: 1 } })));
      }
      results[`ghost text ${preset}: 32 tokens after ~256, ${decoder}`] = { ...percentiles(ghost), goal: preset === 'tiny' ? { p50: 40 } : undefined };
    }
    prober.dispose();
  }
  await trainer.cancel(await run.id);
  await run.result.catch(() => undefined);
  trainer.dispose();

  console.log(`editor latency while another engine trains classic (${results.machine}), ms:`);
  for (const [k, v] of Object.entries(results)) {
    if (typeof v !== 'object') continue;
    if (v.first !== undefined) {
      console.log(`  ${k.padEnd(54)} ${String(v.first).padStart(7)} (one request)`);
      continue;
    }
    const goal = v.goal ? Object.entries(v.goal).map(([q, ms]) => `goal ${q} <= ${ms}: ${v[q] <= ms ? 'met' : 'MISSED'}`).join(', ') : '';
    console.log(`  ${k.padEnd(54)} p50 ${String(v.p50).padStart(7)}  p95 ${String(v.p95).padStart(7)}  (n=${v.n})  ${goal}`);
  }
  const json = flag('json', path.join(__dirname, 'results', 'editor.json'));
  fs.writeFileSync(json, JSON.stringify(results, null, 2));
}

main().catch((e) => {
  exitWith(1, e && e.stack ? e.stack : String(e));
});
