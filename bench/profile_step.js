#!/usr/bin/env node
// Where a training step's time goes, for finding what to speed up next.
//   node bench/profile_step.js [A|B] [--repeats N] [--wasm] [--threads N] the native trainer (or its wasm build): forward + loss,
//                                                           backward, optimiser
//   node bench/profile_step.js [A|B] --tfjs [--no-native] [--shapes]
//                                                           the tfjs path, per kernel (tf.profile)
'use strict';
const { exitWith } = require('./common');
const path = require('path');
const { performance } = require('perf_hooks');
const OUT = path.join(__dirname, '..', 'out', 'engine');

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Medians of forward + loss (loss()), + backward (lossAndGradients()), + clipping and AdamW (step()). */
async function nativePhases(model, c, repeats, wasm, threads) {
  const { flatLayout, flattenWeights } = require(path.join(OUT, 'model', 'flatLayout.js'));
  const { loadNative, nativeGPTClass } = require(path.join(OUT, 'compute', 'addon.js'));
  const wt = require(path.join(OUT, 'compute', 'wasm.js'));
  if (wasm && !(await wt.loadWasmTrainer())) throw new Error(`the wasm trainer did not load: ${wt.lastWasmLoadError()}`);
  const cls = wasm ? wt.wasmGPTClass({ liveParams: false }) : nativeGPTClass();
  if (!cls) throw new Error('the native addon is not built (npm run build:native)');
  const maxThreads = wasm ? wt.wasmTrainerInfo().maxThreads : loadNative().info().maxThreads;
  const layout = flatLayout(model.config);
  const native = new cls(model.config, layout.slots, flattenWeights(model, layout));
  const useThreads = threads || maxThreads;
  native.setThreads(useThreads);
  const n = c.B * c.T;
  const x = new Int32Array(n).map((_, i) => 1 + ((i * 7919) % 4743));
  const y = new Int32Array(n).map((_, i) => 1 + ((i * 104729) % 4743));
  const time = (f) => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  const fwd = [], fb = [], step = [];
  let t = 0;
  // Interleaved, so that a noisy moment hits all three alike.
  for (let i = 0; i < repeats + 2; i++) {
    const a = time(() => native.loss(x, y, c.B, c.T));
    const b = time(() => native.lossAndGradients(x, y, c.B, c.T));
    const s = time(() => native.step(x, y, c.B, c.T, { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1, t: ++t, seed: 1 }));
    if (i >= 2) {
      fwd.push(a);
      fb.push(b);
      step.push(s);
    }
  }
  native.dispose();
  const f = median(fwd), b = median(fb), s = median(step);
  return { forwardMs: f, backwardMs: b - f, optimiserMs: s - b, stepMs: s, threads: useThreads };
}

async function tfjsKernels(model, c, shapes) {
  const tf = require('@tensorflow/tfjs-core');
  const { Trainer } = require(path.join(OUT, 'training', 'trainer.js'));
  const { PRESETS } = require(path.join(OUT, 'model', 'config.js'));
  const { ComputePlan } = require(path.join(OUT, 'compute', 'plan.js'));
  const trainer = await Trainer.create(model, { ...PRESETS.classic.train, batchSize: c.B, seed: 1 }, await ComputePlan.create({ backend: 'auto', trainer: 'tfjs' }));
  const n = c.B * c.T;
  const x = new Int32Array(n).map((_, i) => 1 + ((i * 7919) % 4743));
  const y = new Int32Array(n).map((_, i) => 1 + ((i * 104729) % 4743));
  for (let i = 0; i < 2; i++) await trainer.step(x, y);
  let wall = 0;
  const info = await tf.profile(async () => {
    const t0 = performance.now();
    await trainer.step(x, y);
    wall = performance.now() - t0;
  });
  trainer.dispose();
  const by = new Map();
  for (const k of info.kernels) {
    const e = by.get(k.name) || { ms: 0, calls: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.calls++;
    by.set(k.name, e);
  }
  const rows = [...by.entries()].sort((p, q) => q[1].ms - p[1].ms);
  const total = rows.reduce((sum, [, e]) => sum + e.ms, 0);
  console.log(`step ${wall.toFixed(0)} ms under profiling, kernels sum ${total.toFixed(0)} ms, ${info.kernels.length} kernel calls`);
  if (shapes) {
    const mm = new Map();
    for (const k of info.kernels) {
      if (k.name !== 'BatchMatMul' && k.name !== '_FusedMatMul') continue;
      const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
      const e = mm.get(key) || { ms: 0, calls: 0 };
      e.ms += k.kernelTimeMs;
      e.calls++;
      mm.set(key, e);
    }
    for (const [key, e] of [...mm.entries()].sort((p, q) => q[1].ms - p[1].ms).slice(0, 20)) {
      console.log(`${key.padEnd(60)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(4)} calls`);
    }
  }
  for (const [name, e] of rows.slice(0, 25)) console.log(`${name.padEnd(24)} ${e.ms.toFixed(1).padStart(8)} ms ${String(e.calls).padStart(5)} calls ${(100 * e.ms / total).toFixed(1).padStart(5)}%`);
}

(async () => {
  const args = process.argv.slice(2);
  const which = (args.find((a) => /^[AB]$/i.test(a)) || 'A').toUpperCase();
  const tfjs = args.includes('--tfjs');
  if (args.includes('--no-native')) process.env.GPTLAB_NATIVE = '0';
  const repeatsAt = args.indexOf('--repeats');
  const repeats = repeatsAt >= 0 ? parseInt(args[repeatsAt + 1], 10) : 20;
  const { ComputePlan } = require(path.join(OUT, 'compute', 'plan.js'));
  const { GPT } = require(path.join(OUT, 'model', 'gpt.js'));
  const c = which === 'B' ? { B: 16, T: 128, D: 128, H: 4, N: 4 } : { B: 8, T: 32, D: 256, H: 8, N: 12 };
  const plan = await ComputePlan.create({ backend: 'auto', trainer: 'auto' });
  const backend = plan.backend;
  const model = GPT.init({ vocabSize: 4744, contextLength: c.T, dim: c.D, heads: c.H, layers: c.N, ffnMult: 4, norm: 'layernorm',
    activation: 'relu', positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: false, dropout: 0,
    kvHeads: c.H, headDim: c.D / c.H, qkNorm: false }, 1, plan.matmul);
  if (tfjs) {
    console.log(`config ${which}, tfjs path on ${backend.name}${backend.kernels && backend.kernels.native ? ' + native kernels' : ''}:`);
    await tfjsKernels(model, c, args.includes('--shapes'));
  } else {
    const wasm = args.includes('--wasm');
    const threadsAt = args.indexOf('--threads');
    const p = await nativePhases(model, c, repeats, wasm, threadsAt >= 0 ? parseInt(args[threadsAt + 1], 10) : 0);
    const pct = (ms) => `${((100 * ms) / p.stepMs).toFixed(0)}%`;
    console.log(`config ${which}, ${wasm ? 'wasm' : 'native'} trainer, ${p.threads} threads, medians of ${repeats}: step ${p.stepMs.toFixed(1)} ms = ` +
      `forward + loss ${p.forwardMs.toFixed(1)} ms (${pct(p.forwardMs)}), backward ${p.backwardMs.toFixed(1)} ms (${pct(p.backwardMs)}), ` +
      `gradient norm + AdamW ${p.optimiserMs.toFixed(1)} ms (${pct(p.optimiserMs)})`);
  }
  model.dispose();
})().catch((e) => {
  exitWith(1, String(e && e.message ? e.message : e));
});
