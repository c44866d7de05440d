// The WebAssembly builds of the native trainer (native/wasm/, scripts/build-wasm.js: wasm-fma with relaxed SIMD,
// wasm-simd with SIMD128), which one a runtime gets, their decoding (the KV cache and window losses), and the
// self-check every compiled trainer runs when it loads. Their PyTorch fixtures are in reference.test.ts ("reference
// fixtures on the wasm trainer").
import { describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import { GPT } from '../../engine/model/gpt';
import { ADAMW_STEP_FIELDS, loadNative, runSelfCheck, SELF_CHECK_CONFIG, SELF_CHECK_EXPECTED, selfCheckInputs, type AdamWStep,
  type NativeGPTHandle } from '../../engine/compute/addon';
import { flatLayout, flattenWeights, unflatten } from '../../engine/model/flatLayout';
import { AdamW } from '../../engine/training/adamw';
import { Trainer } from '../../engine/training/trainer';
import { findWasmTrainerPath, lastWasmLoadError, loadWasmBuild, loadWasmTrainer, relaxedSimdAvailable, WASM_BUILDS, wasmGPTClass,
  wasmTrainerInfo } from '../../engine/compute/wasm';
import { KVCacheSession } from '../../engine/inference/kvCache';
import { nextTokenLogits } from '../../engine/inference/sample';
import { Rng } from '../../engine/common/rng';
import type { GPTConfig } from '../../engine/model/config';
import { testPlan } from '../helpers/plan';
import { describeTrainingPath } from '../../engine/protocol';

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
    await opt.step(inputs, targets, B, T);
    const after = tf.tidy(() => model.loss(tf.tensor2d(inputs, [B, T], 'int32'), tf.tensor2d(targets, [B, T], 'int32')).dataSync()[0]);
    opt.dispose();
    model.dispose();
    for (const [k, got] of [['loss', r.loss], ['gradNorm', r.gradNorm], ['lossAfter', after]] as const) {
      assert.ok(Math.abs(got - SELF_CHECK_EXPECTED[k]) < 2e-6 * SELF_CHECK_EXPECTED[k], `${k}: tfjs ${got}, stored ${SELF_CHECK_EXPECTED[k]}`);
    }
  });

  test('the addon and both wasm builds pass it', { skip: loadNative() ? false : 'native addon not built' }, async () => {
    assert.equal(runSelfCheck(loadNative()!.NativeGPT!, 'native'), null);
    assert.ok(await loadWasmTrainer(), lastWasmLoadError());
    assert.equal(runSelfCheck(wasmGPTClass()!, 'wasm'), null);
    for (const { name } of WASM_BUILDS) {
      const r = await loadWasmBuild(name);
      if (typeof r === 'string') return assert.fail(`${name}: ${r}`);
      assert.equal(r.info.name, name);
      assert.equal(runSelfCheck(r.cls, 'wasm'), null);
    }
  });

  test('the bridges read the AdamW record in one order: a bridge that swapped any two fields fails the self-check', async () => {
    assert.ok(await loadWasmTrainer(), lastWasmLoadError());
    const classes = [['wasm', wasmGPTClass()!], ...(loadNative() ? [['native', loadNative()!.NativeGPT!] as const] : [])] as const;
    for (const [label, cls] of classes) {
      for (let i = 0; i < ADAMW_STEP_FIELDS.length; i++) {
        for (let j = i + 1; j < ADAMW_STEP_FIELDS.length; j++) {
          const [a, b] = [ADAMW_STEP_FIELDS[i], ADAMW_STEP_FIELDS[j]];
          // What a bridge that read fields a and b from each other's places would hand the trainer.
          const Swapped = class extends cls {
            override step(inputs: Int32Array, targets: Int32Array, B: number, T: number, s: AdamWStep): ReturnType<NativeGPTHandle['step']> {
              return super.step(inputs, targets, B, T, { ...s, [a]: s[b], [b]: s[a] });
            }
          };
          assert.match(String(runSelfCheck(Swapped, label)), /^self-check failed/, `${label}: ${a} and ${b} swapped went unnoticed`);
        }
      }
    }
  });

  test('a build that computes a wrong result is refused with one line; auto falls back, an explicit choice exits 2', () => {
    // The hook that breaks a build acts only in test mode: set alone, as in a person's shell, it changes nothing.
    const ignored = train([], { GPTLAB_SELFCHECK_BREAK: 'native,wasm' });
    assert.match(ignored.start?.trainer ?? '', loadNative() ? /^native-/ : /^wasm-/);
    const broken = { GPTLAB_SELFCHECK_BREAK: 'native,wasm', GPTLAB_TEST_MODE: '1' };
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
    const onlyWasm = train([], { GPTLAB_SELFCHECK_BREAK: 'wasm', GPTLAB_TEST_MODE: '1' });
    assert.match(onlyWasm.start?.trainer ?? '', loadNative() ? /^native-/ : /^tfjs-/);
  });

  test('a corrupted wasm copy is refused, and a corrupted FMA build gives way to the SIMD128 one', { skip: findWasmTrainerPath() ? false : 'no wasm build' }, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-wasm-corrupt-'));
    const src = path.dirname(findWasmTrainerPath()!);
    for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    const truncate = (file: string): void => {
      const bytes = fs.readFileSync(path.join(dir, file));
      fs.writeFileSync(path.join(dir, file), bytes.subarray(0, bytes.length >> 1)); // as by a broken download
    };
    truncate('gptlab_trainer_fma.wasm');
    const simd = train(['--trainer', 'wasm'], { GPTLAB_WASM_PATH: dir });
    assert.equal(simd.status, 0, simd.stderr);
    assert.match(simd.start?.trainer ?? '', /^wasm-simd, /);
    truncate('gptlab_trainer.wasm');
    const r = train(['--trainer', 'wasm'], { GPTLAB_WASM_PATH: dir });
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /trainer "wasm" is not available: wasm-fma: .*; wasm-simd: /);
  });
});

describe('which wasm build runs', { skip: findWasmTrainerPath() ? false : 'no wasm build' }, () => {
  test('the FMA build needs relaxed SIMD and the SIMD128 build does not', (t) => {
    const dir = path.dirname(findWasmTrainerPath()!);
    const child = `const fs = require('fs');
      const valid = (f) => WebAssembly.validate(fs.readFileSync(${JSON.stringify(dir)} + '/' + f));
      process.stdout.write(JSON.stringify({ fma: valid('gptlab_trainer_fma.wasm'), simd: valid('gptlab_trainer.wasm') }));`;
    const r = spawnSync(process.execPath, ['--no-experimental-wasm-relaxed-simd', '-e', child], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0 && /bad option|unrecognized/i.test(r.stderr)) return t.skip(`this Node has no flag to turn relaxed SIMD off: ${r.stderr.trim()}`);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { fma: false, simd: true });
  });

  test('auto takes the FMA build where relaxed SIMD runs (Node 20: behind a flag that the engine turns on)', async () => {
    assert.ok(await loadWasmTrainer(), lastWasmLoadError());
    assert.equal(wasmTrainerInfo()?.name, relaxedSimdAvailable() ? 'wasm-fma' : 'wasm-simd');
    assert.match(wasmTrainerInfo()!.isa, relaxedSimdAvailable() ? /^wasm-relaxed-simd / : /^wasm-simd128 /);
  });

  test('GPTLAB_WASM_BUILD names one; auto without the addon says why it took wasm, in the one start line', () => {
    const simd = train(['--trainer', 'wasm'], { GPTLAB_WASM_BUILD: 'wasm-simd' });
    assert.equal(simd.status, 0, simd.stderr);
    assert.match(simd.start?.trainer ?? '', /^wasm-simd, \d+ threads?$/);
    const unknown = train(['--trainer', 'wasm'], { GPTLAB_WASM_BUILD: 'fma' });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr.trim(), /^[^\n]*GPTLAB_WASM_BUILD must be wasm-fma or wasm-simd, not "fma"$/);
    const auto = train([], { GPTLAB_NATIVE: '0' });
    assert.equal(auto.status, 0, auto.stderr);
    assert.match(auto.start?.trainer ?? '', /^wasm-(fma|simd), \d+ threads?, native trainer unavailable: disabled by GPTLAB_NATIVE=0$/);
  });
});

// The editor's fast paths on the universal VSIX: the wasm NativeGPT's KV cache (ghost text) and batched window losses
// (hover surprise), held to the full forward pass as inference.test.ts holds the addon's.
describe('decoding on the wasm builds', { skip: findWasmTrainerPath() ? false : 'no wasm build' }, () => {
  const base: GPTConfig = {
    vocabSize: 61, contextLength: 16, dim: 32, heads: 4, layers: 2, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
    positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: true, dropout: 0, kvHeads: 4, headDim: 8, qkNorm: false,
  };
  const variants: [string, Partial<GPTConfig>][] = [
    ['layernorm/gelu/learned/untied', {}],
    ['rmsnorm/relu/sinusoidal/tied/no bias', { norm: 'rmsnorm', activation: 'relu', positions: 'sinusoidal', tieEmbeddings: true, bias: false, qkvBias: false }],
    ['grouped queries/rope/qk-norm/wide heads', { kvHeads: 2, headDim: 12, positions: 'rope', qkNorm: true }],
    ['one key-value head/no positions/attention only', { kvHeads: 1, positions: 'none', ffnMult: 0 }],
  ];
  const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    return m;
  };

  for (const build of WASM_BUILDS.map((b) => b.name)) {
    for (const [label, over] of variants) {
      test(`${build}, ${label}: cached logits and window losses equal the full forward pass; bad input is refused`, async (t) => {
        await selectBackend('cpu', { native: false });
        const loaded = await loadWasmBuild(build);
        if (typeof loaded === 'string') {
          assert.ok(build === 'wasm-fma' && !relaxedSimdAvailable(), loaded); // only a runtime without relaxed SIMD may lack one
          return t.skip(loaded);
        }
        const model = GPT.init({ ...base, ...over }, 4);
        const rng = new Rng(2);
        const seq = Array.from({ length: 16 }, () => rng.int(61));
        const session = new KVCacheSession(model, { decoderClass: loaded.cls, addon: null }, 'native');
        let worst = maxAbsDiff(session.feed(seq.slice(0, 5)), nextTokenLogits(model, seq.slice(0, 5))); // a five-token prefill
        for (let i = 5; i < 16; i++) worst = Math.max(worst, maxAbsDiff(session.feed([seq[i]]), nextTokenLogits(model, seq.slice(0, i + 1))));
        assert.ok(worst < 2e-5, `max |cached - forward| = ${worst}`);
        assert.throws(() => session.feed([1]), /the cache holds 16 tokens; 16 \+ 1 do not fit/);

        const windows = [seq.slice(0, 10), seq.slice(5, 15)];
        const losses = session.rowLosses(Int32Array.from(windows.flatMap((w) => w.slice(0, 9))),
          Int32Array.from(windows.flatMap((w) => w.slice(1, 10))), 2, 9);
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
        assert.equal(session.feed(seq).length, 61, 'scoring windows leaves the cache empty: the whole context fits again');
        session.dispose();

        // The class itself, as the addon's: one-line errors, and nothing works after dispose.
        const layout = flatLayout(model.config);
        const raw = new loaded.cls(model.config, layout.slots, flattenWeights(model, layout));
        assert.throws(() => raw.decode!(Int32Array.of(61)), (e: Error) => e instanceof RangeError && /token id out of the model's vocabulary/.test(e.message));
        assert.throws(() => raw.decode!(new Int32Array(17)), (e: Error) => e instanceof RangeError && /the cache holds 16 tokens; 0 \+ 17 do not fit/.test(e.message));
        assert.throws(() => raw.decode!([1] as unknown as Int32Array), /decode\(ids: Int32Array\)/);
        assert.equal(raw.decode!(Int32Array.of(1, 2)).length, 61);
        raw.resetCache!();
        assert.equal(raw.decode!(new Int32Array(16)).length, 61, 'resetCache empties the cache');
        // A probe's first layers (an attention panel's first paint): layer 1 as the whole pass gives it, and no logits.
        const ids = Int32Array.from(seq);
        raw.forward(ids, 1, 16);
        const whole = raw.attention(0);
        raw.forward(ids, 1, 16, 1);
        assert.deepEqual(raw.attention(0), whole);
        assert.throws(() => raw.attention(1), /layer 1 is past the 1 layers of the last forward/);
        assert.throws(() => raw.logits(), /logits: the last forward stopped after 1 layers/);
        assert.throws(() => raw.forward(ids, 1, 16, 3), /layers must be 1 to the model's 2/);
        raw.dispose();
        assert.throws(() => raw.decode!(Int32Array.of(1)), /the model was disposed/);
        model.dispose();
      });
    }
  }
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
      const trainer = await Trainer.create(model, settings, await testPlan(choice, 'cpu'));
      assert.equal(trainer.info.path, choice);
      assert.match(describeTrainingPath(trainer.info), choice === 'wasm' ? /^wasm-(fma|simd), \d+ threads?$/ : choice === 'native' ? /^native-/ : /^tfjs-cpu$/);
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
