#!/usr/bin/env node
// The GPU against the CPU: AdamW steps of the WebGPU trainer and of the best CPU trainer on the same machine (the
// native addon, else its wasm build), from identical weights on identical batches, side by side; then KV-cache
// decoding (a ghost text: 32 tokens after a prompt of up to 256) on both. Prints ms/step, tokens/s, the GPU/CPU ratio
// per config, the smallest config on which the GPU wins, the dispatches of a WebGPU step and token, and writes the
// figures as JSON (bench/results/webgpu.json, or --out).
//
//   node bench/webgpu.js [--configs tiny,small,B,A,M,L] [--steps 10] [--warmup 2] [--rounds 2] [--budget-s 25]
//                        [--no-cpu] [--no-decode] [--out file.json]
//
// Configs: the presets tiny and small, npm run bench's A (classic) and B, M (D=512 N=8 T=256 B=16) and L (D=768
// N=12 T=256 B=16), every one on the bundled sample's text (char vocabulary for tiny/small, o200k_base compacted for
// the rest). Each side runs in its own process (`--side`), rounds alternate the order of the sides. A side stops
// timing steps after --steps or after --budget-s seconds of them (at least 2), so that the whole bench fits in about
// 10 minutes on a machine whose CPU takes seconds per step of L. On a software adapter (llvmpipe) the numbers say
// nothing about speed: the bench says so. bench/webgpu-kit.js packs what it needs for a machine without a registry.
'use strict';
const { exitWith } = require('./common');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'out', 'engine');
const SAMPLE = path.join(ROOT, 'media', 'tinyshakespeare-sample.txt');

const CONFIGS = {
  tiny: { B: 16, T: 64, D: 96, H: 4, N: 3, tokenizer: 'char' },
  small: { B: 12, T: 64, D: 128, H: 4, N: 4, tokenizer: 'char' },
  B: { B: 16, T: 128, D: 128, H: 4, N: 4, tokenizer: 'o200k_base' },
  A: { B: 8, T: 32, D: 256, H: 8, N: 12, tokenizer: 'o200k_base', activation: 'relu', tie: false },
  M: { B: 16, T: 256, D: 512, H: 8, N: 8, tokenizer: 'o200k_base' },
  L: { B: 16, T: 256, D: 768, H: 12, N: 12, tokenizer: 'o200k_base' },
};

function flag(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : process.argv[i + 1];
}
const has = (name) => process.argv.includes(`--${name}`);

/** The config's model and batches from the sample: ids of the text in a compacted vocabulary. */
function setup(name) {
  const c = CONFIGS[name];
  const { getTokenizer } = require(path.join(OUT, 'text', 'tokenizers.js'));
  const { Vocabulary } = require(path.join(OUT, 'text', 'vocab.js'));
  const tok = getTokenizer(c.tokenizer);
  const raw = tok.encode(fs.readFileSync(SAMPLE, 'utf8'));
  const vocab = Vocabulary.fromTokenIds(raw);
  const ids = vocab.encode(raw);
  const config = { vocabSize: vocab.size, contextLength: c.T, dim: c.D, heads: c.H, layers: c.N, ffnMult: 4, norm: 'layernorm',
    activation: c.activation ?? 'gelu', positions: 'learned', tieEmbeddings: c.tie ?? true, bias: true, qkvBias: c.tie !== false, dropout: 0, kvHeads: c.H, headDim: c.D / c.H, qkNorm: false };
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const batches = Array.from({ length: 4 }, () => {
    const x = new Int32Array(c.B * c.T), y = new Int32Array(c.B * c.T);
    for (let b = 0; b < c.B; b++) {
      const s = Math.floor(rand() * (ids.length - c.T - 1));
      x.set(ids.subarray(s, s + c.T), b * c.T);
      y.set(ids.subarray(s + 1, s + c.T + 1), b * c.T);
    }
    return { x, y };
  });
  return { c, config, batches, ids };
}

/** One side in this process: steps, then decoding; prints one JSON line. */
async function side(which, name, steps, warmup, budgetMs, decode) {
  const { GPT } = require(path.join(OUT, 'model', 'gpt.js'));
  const { selectBackend } = require(path.join(OUT, 'compute', 'tfjsBackend.js'));
  const { CompiledTrainer } = require(path.join(OUT, 'training', 'compiledTrainer.js'));
  const { flatLayout, flattenWeights } = require(path.join(OUT, 'model', 'flatLayout.js'));
  const { addonIsa, nativeGPTClass, loadNative } = require(path.join(OUT, 'compute', 'addon.js'));
  const { loadWasmTrainer, wasmGPTClass } = require(path.join(OUT, 'compute', 'wasm.js'));
  const { loadWebGpu } = require(path.join(OUT, 'compute', 'webgpu', 'device.js'));
  await selectBackend('cpu', { native: false });
  const { c, config, batches, ids } = setup(name);
  let cls, label;
  if (which === 'webgpu') {
    const r = await loadWebGpu();
    if (!r.ok) throw new Error(r.reason);
    cls = r.cls;
    label = r.report;
  } else if (nativeGPTClass()) {
    cls = nativeGPTClass();
    label = `native-${addonIsa(loadNative().info().isa)}, ${loadNative().info().maxThreads} threads`;
  } else {
    await loadWasmTrainer();
    cls = wasmGPTClass({ liveParams: false });
    label = 'wasm-simd';
  }
  const model = GPT.init(config, 1);
  const settings = { steps: 1000, learningRate: 1e-4, minLearningRate: 1e-4, warmupSteps: 0, weightDecay: 0.01, beta1: 0.9,
    beta2: 0.999, eps: 1e-8, gradClip: 1, seed: 1 };
  const trainer = new CompiledTrainer(model, settings, cls);
  const times = [], losses = [];
  let timed = 0;
  for (let i = 0; i < warmup + steps && !(times.length >= 2 && timed > budgetMs); i++) {
    const { x, y } = batches[i % batches.length];
    const t0 = process.hrtime.bigint();
    const r = await trainer.step(x, y, c.B, c.T);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= warmup) {
      times.push(ms);
      timed += ms;
    }
    losses.push(r.loss);
  }
  trainer.dispose();
  const layout = flatLayout(config);
  const h = new cls(config, layout.slots, flattenWeights(model, layout));
  const dispatches = typeof h.dispatchCounts === 'function' ? h.dispatchCounts(c.B, c.T) : null;
  // Ghost text: a prompt of up to 256 tokens (cropped to leave room), then 32 tokens one at a time.
  let decodeMs = null, promptMs = null, prompt = 0;
  if (decode && typeof h.decode === 'function') {
    const p = ids.subarray(0, Math.min(256, c.T - 32));
    prompt = p.length;
    const runs = [];
    for (let k = 0; k < 4; k++) {
      h.resetCache();
      const t0 = process.hrtime.bigint();
      await h.decode(p);
      const t1 = process.hrtime.bigint();
      for (let t = 0; t < 32; t++) await h.decode(Int32Array.of(ids[prompt + t]));
      runs.push({ total: Number(process.hrtime.bigint() - t0) / 1e6, prompt: Number(t1 - t0) / 1e6 });
    }
    const best = runs.slice(1).sort((a, b) => a.total - b.total)[0]; // the first run builds the plans
    decodeMs = best.total;
    promptMs = best.prompt;
  }
  h.dispose();
  model.dispose();
  process.stdout.write(JSON.stringify({ label, times, losses, decodeMs, promptMs, prompt, dispatches, parameters: model.parameterCount,
    V: config.vocabSize }) + '\n');
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

function runSide(which, name, o) {
  const r = spawnSync(process.execPath, [__filename, '--side', which, '--config', name, '--steps', String(o.steps), '--warmup',
    String(o.warmup), '--budget-s', String(o.budgetS), ...(o.decode ? [] : ['--no-decode'])], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.trim().split('\n').pop();
  if (r.status !== 0 || !line?.startsWith('{')) throw new Error(`${which} ${name} failed: ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(line);
}

function main() {
  if (has('side')) {
    side(flag('side'), flag('config'), +flag('steps', 10), +flag('warmup', 2), 1000 * +flag('budget-s', 25), !has('no-decode')).catch((e) => {
      exitWith(1, String(e && e.stack ? e.stack : e));
    });
    return;
  }
  const o = { steps: +flag('steps', 10), warmup: +flag('warmup', 2), rounds: +flag('rounds', 2), budgetS: +flag('budget-s', 25),
    decode: !has('no-decode') };
  const began = Date.now();
  const configs = flag('configs', Object.keys(CONFIGS).join(',')).split(',');
  for (const n of configs) if (!CONFIGS[n]) throw new Error(`unknown config ${n}`);
  const sides = has('no-cpu') ? ['webgpu'] : ['webgpu', 'cpu'];
  const cpu = (os.cpus()[0]?.model ?? 'unknown CPU').trim();
  console.error(`[webgpu bench] ${new Date().toISOString()} on ${cpu} (${os.cpus().length} threads), ${o.rounds} rounds of ${o.warmup} + ` +
    `up to ${o.steps} steps or ${o.budgetS} s`);
  const results = {};
  for (let round = 0; round < o.rounds; round++) {
    for (const name of configs) {
      for (const which of round % 2 ? [...sides].reverse() : sides) {
        const r = runSide(which, name, o);
        const slot = (results[name] ??= {});
        const s = (slot[which] ??= { label: r.label, times: [], decodeMs: [], promptMs: [], prompt: r.prompt, dispatches: r.dispatches,
          parameters: r.parameters, V: r.V, firstLoss: r.losses[0] });
        s.times.push(...r.times);
        if (r.decodeMs !== null) {
          s.decodeMs.push(r.decodeMs);
          s.promptMs.push(r.promptMs);
        }
        console.error(`[webgpu bench] round ${round + 1} ${name} ${which}: ${median(r.times).toFixed(1)} ms/step (${r.label})`);
      }
    }
  }
  const rows = [];
  let software = false, smallestWin = null;
  for (const name of configs) {
    const c = CONFIGS[name], res = results[name], tokens = c.B * c.T;
    const g = res.webgpu, k = res.cpu;
    software ||= /\(software\)$/.test(g.label);
    const gms = median(g.times), kms = k ? median(k.times) : null;
    const gflop = (6 * g.parameters * tokens + 12 * c.N * c.B * c.T * c.T * c.D) / 1e9; // per step, attention included
    const row = { config: name, shape: `B=${c.B} T=${c.T} D=${c.D} H=${c.H} N=${c.N} V=${g.V}`, parameters: g.parameters, gflopPerStep: +gflop.toFixed(2),
      webgpuMs: +gms.toFixed(2), webgpuMinMs: +Math.min(...g.times).toFixed(2), webgpuTokensPerSec: Math.round(tokens / (gms / 1000)),
      cpuMs: kms && +kms.toFixed(2), cpuMinMs: k && +Math.min(...k.times).toFixed(2), cpuTokensPerSec: kms && Math.round(tokens / (kms / 1000)),
      speedup: kms && +(kms / gms).toFixed(2), firstLossDiff: k ? Math.abs(g.firstLoss - k.firstLoss) : null,
      dispatchesPerStep: g.dispatches?.step ?? null, dispatchesPerToken: g.dispatches?.decodeToken ?? null, prompt: g.prompt,
      decodeWebgpuMs: g.decodeMs.length ? Math.min(...g.decodeMs) : null, decodeCpuMs: k?.decodeMs.length ? Math.min(...k.decodeMs) : null,
      tokenWebgpuMs: g.decodeMs.length ? perToken(g) : null, tokenCpuMs: k?.decodeMs.length ? perToken(k) : null };
    rows.push(row);
    if (kms && gms < kms && (!smallestWin || gflop < smallestWin.gflopPerStep)) smallestWin = row;
  }
  const first = Object.values(results)[0];
  console.log(`\nWebGPU: ${first.webgpu.label}${first.cpu ? `\nCPU: ${first.cpu.label} on ${cpu}` : ''}`);
  if (software) console.log('The adapter is a software rasteriser: these figures show that the path runs, not its speed.');
  console.log('\n| config | shape | params | GFLOP/step | webgpu ms/step | CPU ms/step | webgpu tok/s | CPU tok/s | CPU/GPU | dispatches step / token | ' +
    'ghost text (prompt + 32 tok), GPU / CPU ms | per token, GPU / CPU ms |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const ms = (v) => v?.toFixed(1) ?? '-';
  for (const r of rows) {
    console.log(`| ${r.config} | ${r.shape} | ${(r.parameters / 1e6).toFixed(2)}M | ${r.gflopPerStep} | ${r.webgpuMs} | ${r.cpuMs ?? '-'} | ` +
      `${r.webgpuTokensPerSec} | ${r.cpuTokensPerSec ?? '-'} | ${r.speedup ?? '-'} | ${r.dispatchesPerStep ?? '-'} / ${r.dispatchesPerToken ?? '-'} | ` +
      `${r.prompt} + 32: ${ms(r.decodeWebgpuMs)} / ${ms(r.decodeCpuMs)} | ${ms(r.tokenWebgpuMs)} / ${ms(r.tokenCpuMs)} |`);
  }
  if (!has('no-cpu')) {
    console.log(smallestWin ? `\nsmallest config where the GPU wins: ${smallestWin.config} (${smallestWin.gflopPerStep} GFLOP per step, ` +
      `${(smallestWin.parameters / 1e6).toFixed(2)}M parameters, ${smallestWin.speedup}x)` : '\nthe GPU won on no config');
  }
  const out = path.resolve(flag('out', path.join(__dirname, 'results', 'webgpu.json')));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpu, cpus: os.cpus().length, webgpu: first.webgpu.label,
    cpuPath: first.cpu?.label ?? null, software, rows }, null, 2));
  console.error(`[webgpu bench] ${((Date.now() - began) / 1000).toFixed(0)} s; figures in ${out}`);
}

/** ms per decoded token after the prompt, in the best run (the prompt's own time taken out). */
function perToken(s) {
  const i = s.decodeMs.indexOf(Math.min(...s.decodeMs));
  return (s.decodeMs[i] - s.promptMs[i]) / 32;
}

main();
