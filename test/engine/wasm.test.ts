// The WebAssembly build of the native trainer (native/wasm/, scripts/build-wasm.js) and the self-check every compiled
// trainer runs when it loads. Its PyTorch fixtures are in reference.test.ts ("reference fixtures on the wasm trainer").
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { GPT } from '../../engine/model/gpt';
import { loadNative, runSelfCheck, SELF_CHECK_CONFIG, SELF_CHECK_EXPECTED, selfCheckInputs } from '../../engine/compute/addon';
import { flatLayout, unflatten } from '../../engine/model/flatLayout';
import { AdamW } from '../../engine/training/adamw';
import { Trainer } from '../../engine/training/trainer';
import { findWasmTrainerPath, lastWasmLoadError, loadWasmTrainer, wasmGPTClass } from '../../engine/compute/wasm';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'out', 'engine', 'host', 'cli.js');
const TEXT = path.join(ROOT, 'media', 'tinyshakespeare-sample.txt');

/** Runs `gpt-lab train` (tsc output) in a child with extra environment; returns status, stderr and the start event. */
function train(args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string; start: { trainer?: string } | null } {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-wasm-')), 'm.safetensors');
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(CLI)}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`,
    'train', TEXT, '--preset', 'tiny', '--steps', '2', '--json', '--out', out, ...args],
  { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  const startLine = r.stdout.split('\n').find((l) => l.includes('"event":"start"'));
  return { status: r.status, stderr: r.stderr, start: startLine ? JSON.parse(startLine) as { trainer: string } : null };
}

describe('self-check', () => {
  test('the stored result is what the tfjs reference path computes', async () => {
    await selectBackend('cpu', { native: false });
    const { params, inputs, targets, B, T, settings: s } = selfCheckInputs();
    const model = GPT.init(SELF_CHECK_CONFIG, 1);
    model.setWeights(unflatten(params, flatLayout(SELF_CHECK_CONFIG)));
    const opt = new AdamW(model, { steps: 10, learningRate: s.lr, minLearningRate: s.lr, warmupSteps: 0, beta1: s.beta1,
      beta2: s.beta2, eps: s.eps, weightDecay: s.weightDecay, gradClip: s.gradClip });
    const r = await opt.step(inputs, targets, B, T);
    const after = tf.tidy(() => model.loss(tf.tensor2d(inputs, [B, T], 'int32'), tf.tensor2d(targets, [B, T], 'int32')).dataSync()[0]);
    opt.dispose();
    model.dispose();
    for (const [k, got] of [['loss', r.loss], ['gradNorm', r.gradNorm], ['lossAfter', after]] as const) {
      assert.ok(Math.abs(got - SELF_CHECK_EXPECTED[k]) < 2e-6 * SELF_CHECK_EXPECTED[k], `${k}: tfjs ${got}, stored ${SELF_CHECK_EXPECTED[k]}`);
    }
  });

  test('the addon and the wasm build pass it', { skip: loadNative() ? false : 'native addon not built' }, async () => {
    assert.equal(runSelfCheck(loadNative()!.NativeGPT!, 'native'), null);
    assert.ok(await loadWasmTrainer(), lastWasmLoadError());
    assert.equal(runSelfCheck(wasmGPTClass()!, 'wasm'), null);
  });

  test('a build that computes a wrong result is refused with one line; auto falls back, an explicit choice exits 2', () => {
    const broken = { GPTLAB_SELFCHECK_BREAK: 'native,wasm' };
    const auto = train([], broken);
    assert.equal(auto.status, 0, auto.stderr);
    assert.match(auto.start?.trainer ?? '', /^tfjs-/);
    for (const choice of ['native', 'wasm']) {
      const r = train(['--trainer', choice], broken);
      assert.equal(r.status, 2);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], new RegExp(`trainer "${choice}" is not available: .*refused: self-check failed: lossAfter`));
    }
    // Only the wasm build broken: auto still takes the addon when there is one.
    const onlyWasm = train([], { GPTLAB_SELFCHECK_BREAK: 'wasm' });
    assert.match(onlyWasm.start?.trainer ?? '', loadNative() ? /^native-/ : /^tfjs-/);
  });

  test('a corrupted wasm copy is refused', { skip: findWasmTrainerPath() ? false : 'no wasm build' }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-wasm-corrupt-'));
    const src = path.dirname(findWasmTrainerPath()!);
    for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    const wasm = path.join(dir, 'gptlab_trainer.wasm');
    const bytes = fs.readFileSync(wasm);
    fs.writeFileSync(wasm, bytes.subarray(0, bytes.length >> 1)); // truncated, as by a broken download
    const r = train(['--trainer', 'wasm'], { GPTLAB_WASM_PATH: dir });
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /trainer "wasm" is not available/);
  });
});

describe('training paths', { skip: findWasmTrainerPath() ? false : 'no wasm build' }, () => {
  test('native, wasm and tfjs train the same run', async () => {
    await selectBackend('cpu', { native: false });
    const config = { ...SELF_CHECK_CONFIG, vocabSize: 17, contextLength: 8, dim: 16, headDim: 8, dropout: 0 };
    const settings = { steps: 6, learningRate: 3e-3, minLearningRate: 3e-4, warmupSteps: 2, weightDecay: 0.01, beta1: 0.9,
      beta2: 0.999, eps: 1e-8, gradClip: 1, seed: 3, batchSize: 2, evalEvery: 0, evalBatches: 1, sampleEvery: 0 };
    const x = Int32Array.from({ length: 16 }, (_, i) => (i * 5 + 1) % 17), y = Int32Array.from({ length: 16 }, (_, i) => (i * 3 + 2) % 17);
    const losses: Record<string, number[]> = {};
    for (const choice of [...(loadNative() ? ['native' as const] : []), 'wasm' as const, 'tfjs' as const]) {
      const model = GPT.init(config, 7);
      const trainer = await Trainer.create(model, settings, choice);
      assert.equal(trainer.path, choice);
      assert.match(trainer.describe(), choice === 'wasm' ? /^wasm-simd, \d+ threads?$/ : choice === 'native' ? /^native-/ : /^tfjs-cpu$/);
      losses[choice] = [];
      for (let i = 0; i < 6; i++) losses[choice].push((await trainer.step(x, y)).loss);
      trainer.dispose();
      model.dispose();
    }
    for (const [k, v] of Object.entries(losses)) {
      for (let i = 0; i < v.length; i++) assert.ok(Math.abs(v[i] - losses.tfjs[i]) < 1e-5, `${k} step ${i}: ${v[i]} vs tfjs ${losses.tfjs[i]}`);
    }
  });
});
