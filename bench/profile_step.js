#!/usr/bin/env node
// Per-kernel time breakdown of one engine training step (tf.profile), for finding what to make native next.
// usage: node bench/profile_step.js [A|B] [--no-native] [--shapes]
'use strict';
const path = require('path');
const { performance } = require('perf_hooks');
const OUT = path.join(__dirname, '..', 'out', 'engine');

(async () => {
  const which = (process.argv[2] || 'A').toUpperCase();
  const native = !process.argv.includes('--no-native');
  if (!native) process.env.GPTLAB_NATIVE = '0';
  const tf = require('@tensorflow/tfjs-core');
  const { selectBackend } = require(path.join(OUT, 'backend.js'));
  const { GPT } = require(path.join(OUT, 'model.js'));
  const { Trainer } = require(path.join(OUT, 'train.js'));
  const { PRESETS } = require(path.join(OUT, 'config.js'));
  const c = which === 'B' ? { B: 16, T: 128, D: 128, H: 4, N: 4 } : { B: 8, T: 32, D: 256, H: 8, N: 12 };
  const backend = await selectBackend('auto');
  const cfg = { vocabSize: 4744, contextLength: c.T, dim: c.D, heads: c.H, layers: c.N, ffnMult: 4, norm: 'layernorm',
    activation: 'relu', positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: false, dropout: 0 };
  const model = GPT.init(cfg, 1);
  const trainer = new Trainer(model, { ...PRESETS.classic.train, batchSize: c.B, seed: 1 });
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
  const by = new Map();
  for (const k of info.kernels) {
    const e = by.get(k.name) || { ms: 0, calls: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.calls++;
    by.set(k.name, e);
  }
  const rows = [...by.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, [, e]) => s + e.ms, 0);
  console.log(`config ${which} backend ${backend.name}${backend.kernels && backend.kernels.native ? ' + native' : ''}: step ${wall.toFixed(0)} ms under profiling, kernels sum ${total.toFixed(0)} ms, ${info.kernels.length} kernel calls`);
  if (process.argv.includes('--shapes')) {
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
})();
