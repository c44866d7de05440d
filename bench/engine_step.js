#!/usr/bin/env node
// One side of the GPT Lab benchmark: engine AdamW steps on a model file, in its own process, on the training path the
// settings name (native: the addon's whole-step trainer; wasm: the same C++ built to WebAssembly (native/wasm/);
// tfjs: tfjs ops, with the native matmul kernels unless native is false, which is the stock tfjs path).
// usage: node bench/engine_step.js MODEL.safetensors BATCHES.i32 JSON_SETTINGS
'use strict';
const { exitWith } = require('./common');
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(ROOT, 'out', 'engine');

async function main() {
  const [modelPath, batchesPath, settingsJson] = process.argv.slice(2);
  const s = JSON.parse(settingsJson);
  const tf = require('@tensorflow/tfjs-core');
  const { ComputePlan } = require(path.join(OUT, 'compute', 'plan.js'));
  const kernels = require(path.join(OUT, 'compute', 'kernels', 'index.js'));
  const { loadModel } = require(path.join(OUT, 'io', 'checkpoint.js'));
  const { Trainer } = require(path.join(OUT, 'training', 'trainer.js'));
  const { loadNative } = require(path.join(OUT, 'compute', 'addon.js'));
  const { describeTrainingPath } = require(path.join(OUT, 'protocol', 'index.js'));

  // The plan selects the backend, installs (or, with native false, leaves out) the native kernels, and says how the
  // model multiplies; the trainer takes the path it names (loading the wasm build when that is the path).
  const plan = await ComputePlan.create({ backend: s.backend, trainer: s.path ?? 'auto', native: s.native });
  const backend = plan.backend;
  const kernelReport = backend.kernels ?? { native: false, isa: 'none', threads: 0, kernels: [] };

  const { model } = loadModel(modelPath, { matmul: plan.matmul });
  const settings = { ...s.train, batchSize: s.B, seed: 1 };
  const trainer = await Trainer.create(model, settings, plan);
  const all = new Int32Array(fs.readFileSync(batchesPath).buffer.slice(0));
  const per = s.B * s.T;
  const nb = all.length / (2 * per);
  const times = [], losses = [], norms = [];
  const steps = s.warmup + s.steps;
  kernels.nativeKernelStats(true);
  for (let i = 0; i < steps; i++) {
    const b = i % nb;
    const x = all.subarray(2 * b * per, 2 * b * per + per);
    const y = all.subarray(2 * b * per + per, 2 * b * per + 2 * per);
    const t0 = process.hrtime.bigint();
    const r = await trainer.step(x, y);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (i >= s.warmup) times.push(dt);
    losses.push(r.loss);
    norms.push(r.gradNorm);
  }
  const stats = kernels.nativeKernelStats();
  const addon = s.path === 'native' || s.native ? loadNative() : null;
  const result = {
    times_ms: times,
    losses,
    grad_norms: norms,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    backend: backend.name,
    backendDetail: backend.detail,
    kernels: kernelReport,
    trainingPath: trainer.info.path,
    trainer: describeTrainingPath(trainer.info),
    kernelCalls: stats,
    nativeInfo: addon ? addon.info() : null,
    numTensors: tf.memory().numTensors,
    parameters: model.parameterCount,
  };
  trainer.dispose();
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
  exitWith(1, `engine_step failed: ${e && e.stack ? e.stack : e}`);
});
