// The native trainer (native/src/gpt.cc) beside the tfjs reference path: the same training run step by step, results
// independent of the thread count, dropout's backward pass against finite differences, and bad input.
// (Its agreement with PyTorch is in reference.test.ts.)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import type { GPTConfig, TrainSettings } from '../../engine/model/config';
import { lastNativeLoadError, nativeGPTClass, type NativeGPTHandle } from '../../engine/compute/addon';
import { GPT } from '../../engine/model/gpt';
import { nativeAddonCandidates, prebuiltAddonRel } from '../../engine/compute/addon';
import { flatLayout, flattenWeights } from '../../engine/model/flatLayout';
import { Rng } from '../../engine/common/rng';
import { InputError } from '../../engine/common/errors';
import { batchLoss, Trainer } from '../../engine/training/trainer';
import { FIXTURE_DIR, maxAbsDiff } from '../helpers/reference';
import { testPlan } from '../helpers/plan';

const BASE: GPTConfig = {
  vocabSize: 37, contextLength: 12, dim: 32, heads: 4, layers: 2, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
  positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: true, dropout: 0, kvHeads: 4, headDim: 8, qkNorm: false,
};

/** Grouped-query attention (2 key/value heads for 4 query heads) with RoPE, QK-norm and heads wider than D/H. */
const GROUPED: GPTConfig = { ...BASE, kvHeads: 2, positions: 'rope', qkNorm: true, headDim: 12 };

const SETTINGS: TrainSettings = {
  steps: 20, batchSize: 4, learningRate: 1e-2, minLearningRate: 1e-3, warmupSteps: 3, weightDecay: 0.01, beta1: 0.9,
  beta2: 0.999, eps: 1e-8, gradClip: 1, evalEvery: 0, evalBatches: 1, sampleEvery: 0, seed: 7,
};

/** B random [T+1] windows of ids from a fixed stream with some structure (so the loss can fall). */
function batches(config: GPTConfig, B: number, count: number, seed: number): { inputs: Int32Array; targets: Int32Array }[] {
  const rng = new Rng(seed);
  const T = config.contextLength, V = config.vocabSize;
  const stream = Int32Array.from({ length: 400 }, (_, i) => (i * 7 + (i % 5)) % V);
  return Array.from({ length: count }, () => {
    const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const s = rng.int(stream.length - T - 1);
      inputs.set(stream.subarray(s, s + T), b * T);
      targets.set(stream.subarray(s + 1, s + T + 1), b * T);
    }
    return { inputs, targets };
  });
}

/** Whether this CPU runs AVX2 with FMA, from /proc/cpuinfo (false where there is none: then only generic is forced). */
function cpuHasAvx2(): boolean {
  try {
    const flags = fs.readFileSync('/proc/cpuinfo', 'utf8');
    return /\bavx2\b/.test(flags) && /\bfma\b/.test(flags);
  } catch {
    return false;
  }
}

function nativeModel(model: GPT): { native: NativeGPTHandle; params: Float32Array } {
  const layout = flatLayout(model.config);
  const params = flattenWeights(model, layout);
  return { native: new (nativeGPTClass()!)(model.config, layout.slots, params), params };
}

describe('native trainer', { skip: nativeGPTClass() ? false : `native addon not built (${lastNativeLoadError() ?? 'no NativeGPT'})` }, () => {
  before(async () => {
    await selectBackend('cpu');
  });

  for (const variant of [
    { name: 'LayerNorm, GELU, learned, untied', config: BASE },
    { name: 'RMSNorm, ReLU, sinusoidal, tied, no biases', config: { ...BASE, norm: 'rmsnorm', activation: 'relu', positions: 'sinusoidal', tieEmbeddings: true, bias: false, qkvBias: false } as GPTConfig },
    { name: 'grouped-query, RoPE, QK-norm, heads of 12', config: GROUPED },
    { name: 'multi-query, no positions, attention-only, heads of 4', config: { ...BASE, kvHeads: 1, positions: 'none', ffnMult: 0, headDim: 4 } as GPTConfig },
  ]) {
    test(`trains like the tfjs path, step by step (${variant.name})`, async (t) => {
      const data = batches(variant.config, SETTINGS.batchSize, 12, 3);
      const runs = [];
      for (const path of ['tfjs', 'native'] as const) {
        const model = GPT.init(variant.config, 11);
        const trainer = await Trainer.create(model, SETTINGS, await testPlan(path, 'cpu'));
        assert.equal(trainer.info.path, path);
        const losses: number[] = [], norms: number[] = [];
        for (const { inputs, targets } of data) {
          const r = await trainer.step(inputs, targets);
          assert.ok(r.applied);
          losses.push(r.loss);
          norms.push(r.gradNorm);
        }
        await trainer.syncModel();
        const evalLoss = await trainer.loss(data.slice(0, 2), SETTINGS.batchSize, variant.config.contextLength);
        const weights = model.toTensors();
        trainer.dispose();
        runs.push({ losses, norms, evalLoss, weights, model });
      }
      const [ref, fast] = runs;
      const lossErr = Math.max(...ref.losses.map((l, i) => Math.abs(l - fast.losses[i])));
      const normErr = Math.max(...ref.norms.map((n, i) => Math.abs(n - fast.norms[i]) / n));
      let weightErr = 0;
      for (const [name, w] of ref.weights) weightErr = Math.max(weightErr, maxAbsDiff(w.data, fast.weights.get(name)!.data));
      t.diagnostic(`12 steps: loss ${ref.losses[0].toFixed(4)} -> ${ref.losses[11].toFixed(4)}; max |loss diff| ${lossErr.toExponential(2)}, ` +
        `grad norm rel ${normErr.toExponential(2)}, weights ${weightErr.toExponential(2)}`);
      assert.ok(ref.losses[11] < ref.losses[0] - 0.05, 'the run learns something');
      assert.ok(lossErr < 2e-5, `losses differ by ${lossErr}`);
      assert.ok(normErr < 1e-4, `gradient norms differ by ${normErr}`);
      assert.ok(weightErr < 2e-4, `weights differ by ${weightErr}`);
      // After syncModel the tfjs model holds the native weights: its own loss agrees with the native one.
      const tfjsLoss = batchLoss(fast.model, data.slice(0, 2), SETTINGS.batchSize, variant.config.contextLength);
      assert.ok(Math.abs(tfjsLoss - fast.evalLoss) < 1e-5, `tfjs ${tfjsLoss} vs native ${fast.evalLoss} on the synced model`);
      for (const r of runs) r.model.dispose();
    });
  }

  for (const config of [BASE, GROUPED]) {
    test(`results do not depend on the thread count (${config === BASE ? 'multi-head' : 'grouped-query'})`, () => {
      const model = GPT.init(config, 5);
      const data = batches(config, 8, 4, 9);
      const finals = [1, 2].map((threads) => {
        const { native, params } = nativeModel(model);
        native.setThreads(threads);
        data.forEach(({ inputs, targets }, i) => {
          native.step(inputs, targets, 8, config.contextLength, { lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1, t: i + 1, seed: 1 });
        });
        native.dispose();
        return params;
      });
      assert.deepEqual(finals[0], finals[1], 'parameters after 4 steps on 1 and 2 threads are not bit-identical');
      model.dispose();
    });
  }

  for (const base of [BASE, GROUPED]) test(`dropout: masks follow the seed, eval is deterministic, and the backward pass matches finite differences (${base === BASE ? 'multi-head' : 'grouped-query'})`, () => {
    const config: GPTConfig = { ...base, dropout: 0.25, layers: 1 };
    const model = GPT.init(config, 21);
    const { native, params } = nativeModel(model);
    const [{ inputs, targets }] = batches(config, 2, 1, 4);
    const T = config.contextLength;
    const evalLoss = native.loss(inputs, targets, 2, T);
    assert.equal(native.loss(inputs, targets, 2, T), evalLoss, 'eval has no dropout');
    const a = native.lossAndGradients(inputs, targets, 2, T, 99);
    const grads = native.gradients();
    assert.equal(native.lossAndGradients(inputs, targets, 2, T, 99), a, 'the same seed draws the same masks');
    assert.notEqual(native.lossAndGradients(inputs, targets, 2, T, 100), a, 'another seed draws other masks');
    assert.notEqual(a, evalLoss, 'training applies dropout');
    // Central differences at the largest gradients of every tensor kind, with the masks of seed 99 held fixed.
    const layout = flatLayout(config);
    let worst = 0;
    for (const [name, { offset, size }] of layout.offsets) {
      let i = offset;
      for (let j = offset; j < offset + size; j++) if (Math.abs(grads[j]) > Math.abs(grads[i])) i = j;
      if (Math.abs(grads[i]) < 1e-3) continue;
      const h = 1e-2, saved = params[i];
      params[i] = saved + h;
      const up = native.lossAndGradients(inputs, targets, 2, T, 99);
      params[i] = saved - h;
      const down = native.lossAndGradients(inputs, targets, 2, T, 99);
      params[i] = saved;
      const numeric = (up - down) / (2 * h);
      const err = Math.abs(numeric - grads[i]) / Math.abs(grads[i]);
      worst = Math.max(worst, err);
      assert.ok(err < 0.03, `${name}[${i - offset}]: analytic ${grads[i]} vs numeric ${numeric}`);
    }
    assert.ok(worst > 0, 'no gradient was checked');
    native.dispose();
    model.dispose();
  });

  test('dropout training lowers the loss', async () => {
    const config: GPTConfig = { ...BASE, dropout: 0.1 };
    const model = GPT.init(config, 2);
    const trainer = await Trainer.create(model, { ...SETTINGS, steps: 40 }, await testPlan('native', 'cpu'));
    const data = batches(config, SETTINGS.batchSize, 40, 8);
    const before = await trainer.loss(data.slice(0, 4), SETTINGS.batchSize, config.contextLength);
    for (const { inputs, targets } of data) await trainer.step(inputs, targets);
    const after = await trainer.loss(data.slice(0, 4), SETTINGS.batchSize, config.contextLength);
    assert.ok(after < before - 0.5, `loss ${before} -> ${after}`);
    trainer.dispose();
    model.dispose();
  });

  // The element-wise kernels are compiled once per ISA; the machine runs the widest, so force each narrower one in a
  // child process and hold its gradients to the PyTorch fixture.
  test('every ISA build matches the PyTorch fixture', (t) => {
    const engine = path.resolve(__dirname, '..', '..', 'engine');
    const child = `
      const { decodeModel } = require(${JSON.stringify(path.join(engine, 'io', 'checkpoint.js'))});
      const { decodeSafeTensors } = require(${JSON.stringify(path.join(engine, 'io', 'safetensors.js'))});
      const { loadNative, nativeGPTClass } = require(${JSON.stringify(path.join(engine, 'compute', 'addon.js'))});
      const { flatLayout, flattenWeights, unflatten } = require(${JSON.stringify(path.join(engine, 'model', 'flatLayout.js'))});
      const fs = require('fs');
      const dir = ${JSON.stringify(FIXTURE_DIR)};
      let worst = 0;
      for (const v of ['classic', 'gpt2', 'rms_sin', 'gqa_rope', 'mqa_nope_qknorm', 'rope_qknorm_wide', 'attn_only_narrow']) {
        const { model } = decodeModel(fs.readFileSync(dir + '/' + v + '.model.safetensors'));
        const ex = decodeSafeTensors(fs.readFileSync(dir + '/' + v + '.expected.safetensors')).tensors;
        const ids = Int32Array.from(ex.get('idx').data), tg = Int32Array.from(ex.get('targets').data);
        const [B, T] = ex.get('idx').shape;
        const layout = flatLayout(model.config);
        const n = new (nativeGPTClass())(model.config, layout.slots, flattenWeights(model, layout));
        const loss = n.lossAndGradients(ids, tg, B, T);
        worst = Math.max(worst, Math.abs(loss - ex.get('loss').data[0]) / ex.get('loss').data[0]);
        for (const [name, g] of unflatten(n.gradients(), layout)) {
          const ref = ex.get('grad.' + name).data;
          let d = 0, s = 0;
          for (let i = 0; i < g.length; i++) { d = Math.max(d, Math.abs(g[i] - ref[i])); s = Math.max(s, Math.abs(ref[i])); }
          worst = Math.max(worst, s === 0 ? d : d / s);
        }
        n.dispose();
      }
      process.stdout.write(JSON.stringify({ isa: loadNative().info().isa, worst }));`;
    for (const isa of cpuHasAvx2() ? ['avx2', 'generic'] : ['generic']) {
      const r = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8', env: { ...process.env, GPTLAB_ISA: isa }, timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { isa: string; worst: number };
      t.diagnostic(`${out.isa}: worst relative error of loss and gradients ${out.worst.toExponential(2)}`);
      assert.ok(out.isa.startsWith(isa), `asked for ${isa}, ran ${out.isa}`);
      assert.ok(out.worst < 1e-5, `${isa}: error ${out.worst}`);
    }
  });

  test('bad input is refused with a clear error, and a disposed model says so', () => {
    const model = GPT.init(BASE, 1);
    const { native } = nativeModel(model);
    const T = BASE.contextLength;
    const ids = new Int32Array(2 * T);
    assert.throws(() => native.loss(Int32Array.from(ids, () => BASE.vocabSize), ids, 2, T), /out of the model's vocabulary/);
    assert.throws(() => native.loss(Int32Array.from(ids, () => -1), ids, 2, T), /out of the model's vocabulary/);
    assert.throws(() => native.loss(new Int32Array(2 * (T + 1)), new Int32Array(2 * (T + 1)), 2, T + 1), /exceeds the context length/);
    assert.throws(() => native.loss(ids, ids.subarray(1), 2, T), /B\*T ids/);
    assert.throws(() => native.loss(ids, new Int32Array(0), 2, T), /B\*T ids/);
    assert.throws(() => native.loss(new Float32Array(2 * T) as unknown as Int32Array, ids, 2, T), /Int32Array/);
    assert.throws(() => native.step(ids, ids, 2, T, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, gradClip: 1, t: 0, seed: 1 }), /t >= 1/);
    assert.throws(() => native.attention(BASE.layers), /out of range/);
    // a layout that does not match the config
    const layout = flatLayout(BASE);
    assert.throws(() => new (nativeGPTClass()!)({ ...BASE, bias: false }, layout.slots, new Float32Array(layout.size)), /this config does not/);
    assert.throws(() => new (nativeGPTClass()!)(BASE, layout.slots, new Float32Array(layout.size - 1)), /does not fit/);
    assert.throws(() => new (nativeGPTClass()!)({ ...BASE, positions: 'rope' }, layout.slots, new Float32Array(layout.size)), /a wpe this config does not/);
    // every tensor fits, but they no longer tile the buffer: another head size or key/value head count
    for (const other of [{ ...BASE, kvHeads: 2 }, { ...BASE, headDim: 4 }]) {
      assert.throws(() => new (nativeGPTClass()!)(other, layout.slots, new Float32Array(layout.size)), /do not tile the parameter buffer/);
    }
    native.dispose();
    native.dispose(); // twice is harmless
    assert.throws(() => native.loss(ids, ids, 2, T), /disposed/);
    model.dispose();
  });

  test('a batch too large for the machine is refused with how much it needs, before anything is allocated', async () => {
    // 2048 sequences of 4096 tokens need over a terabyte of attention probabilities
    const config: GPTConfig = { ...BASE, contextLength: 4096 };
    const model = GPT.init(config, 1);
    const B = 2048, T = 4096;
    const ids = new Int32Array(B * T);
    const { native } = nativeModel(model);
    assert.throws(() => native.loss(ids, ids, B, T), (e: Error & { code?: string }) =>
      e.code === 'ERR_GPTLAB_OUT_OF_MEMORY' && /a batch of 2048 x 4096 tokens needs [\d.]+ GB but this machine has [\d.]+ GB/.test(e.message));
    native.loss(ids.subarray(0, 2 * 8), ids.subarray(0, 2 * 8), 2, 8); // still usable afterwards
    native.dispose();
    // Through the trainer it is bad input (one line, exit status 2 in the CLI), not an internal error.
    const trainer = await Trainer.create(model, { ...SETTINGS, batchSize: B }, await testPlan('native', 'cpu'));
    await assert.rejects(trainer.step(ids, ids), (e: Error) => e instanceof InputError && /use a smaller model, batch or context/.test(e.message));
    trainer.dispose();
    model.dispose();
  });

  test('a shorter sequence than the context, and probes of the last forward', () => {
    for (const config of [BASE, GROUPED]) {
      const model = GPT.init(config, 3);
      const { native } = nativeModel(model);
      const ids = Int32Array.from({ length: 5 }, (_, i) => i + 1);
      native.forward(ids, 1, 5);
      assert.equal(native.logits().length, 5 * config.vocabSize);
      const att = native.attention(0); // [1, H, 5, 5], causal rows summing to 1 (H query heads, whatever KV is)
      assert.equal(att.length, config.heads * 25);
      for (let r = 0; r < config.heads * 5; r++) {
        const row = att.subarray(r * 5, r * 5 + 5);
        const q = r % 5;
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6);
        for (let k = q + 1; k < 5; k++) assert.equal(row[k], 0, 'no attention to later positions');
      }
      assert.equal(native.residual(config.layers).length, 5 * config.dim);
      native.dispose();
      model.dispose();
    }
  });
});

describe('instruction set', { skip: nativeGPTClass() ? false : 'native addon not built' }, () => {
  test('the kernels are the widest this CPU runs, read with cpuid and xgetbv (as /proc/cpuinfo lists them)', (t) => {
    if (process.platform !== 'linux' || process.arch !== 'x64') return t.skip('compares with /proc/cpuinfo on x86-64 Linux');
    const flags = new Set((/^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '').trim().split(/\s+/));
    const want = ['avx512f', 'avx512dq', 'avx512vl'].every((f) => flags.has(f)) ? 'avx512f'
      : flags.has('avx2') && flags.has('fma') ? 'avx2+fma' : 'generic';
    const env = { ...process.env };
    delete env.GPTLAB_ISA;
    const addon = path.resolve(__dirname, '..', '..', 'engine', 'compute', 'addon.js');
    const r = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(addon)}).loadNative().info().isa)`],
      { encoding: 'utf8', env, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, want);
  });
});

/** scripts/cross/check-darwin.js: the static checks of a macOS addon. */
const { checkDarwinAddon } = createRequire(__filename)(path.resolve(__dirname, '..', '..', '..', 'scripts', 'cross', 'check-darwin.js')) as {
  checkDarwinAddon: (file: string, arch: 'arm64' | 'x64') => string[];
};
const darwinAddon = (arch: string): string => path.resolve(__dirname, '..', '..', '..', prebuiltAddonRel('darwin', arch));

// Nothing built for macOS runs here: scripts/cross/build-darwin.sh's addons are checked as files. CI builds them.
describe('macOS addons, checked statically', () => {
  for (const arch of ['arm64', 'x64'] as const) {
    test(`darwin-${arch}: Mach-O ${arch}, libSystem only, undefined symbols napi_* and libSystem's, signature`, (t) => {
      if (!fs.existsSync(darwinAddon(arch))) return t.skip('not built (scripts/cross/build-darwin.sh)');
      assert.deepEqual(checkDarwinAddon(darwinAddon(arch), arch), []);
      assert.match(checkDarwinAddon(darwinAddon(arch), arch === 'arm64' ? 'x64' : 'arm64').join('\n'), /CPU type 0x[0-9a-f]+, expected/);
    });
  }

  test('a byte changed after signing, or a file that is no Mach-O, is refused', (t) => {
    const local = nativeAddonCandidates().find((f) => fs.existsSync(f));
    if (local) assert.match(checkDarwinAddon(local, 'x64').join('\n'), /not a 64-bit Mach-O file/);
    if (!fs.existsSync(darwinAddon('arm64'))) return t.skip('darwin-arm64 not built (scripts/cross/build-darwin.sh)');
    const bytes = fs.readFileSync(darwinAddon('arm64'));
    bytes[20000] ^= 0xff;
    const changed = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-darwin-')), 'gptlab_native.node');
    fs.writeFileSync(changed, bytes);
    assert.match(checkDarwinAddon(changed, 'arm64').join('\n'), /code signature: page \d+ does not match its hash/);
  });
});

// Where the engine looks for the addon: a local build, then the per-platform prebuilt one that a VSIX carries.
describe('finding the addon', () => {
  test('the prebuilt folder is native/prebuilt/<platform>-<arch>', () => {
    assert.equal(prebuiltAddonRel('linux', 'arm64'), path.join('native', 'prebuilt', 'linux-arm64', 'gptlab_native.node'));
    assert.equal(prebuiltAddonRel('win32', 'x64'), path.join('native', 'prebuilt', 'win32-x64', 'gptlab_native.node'));
    assert.equal(prebuiltAddonRel(), path.join('native', 'prebuilt', `${process.platform}-${process.arch}`, 'gptlab_native.node'));
  });

  test('GPTLAB_NATIVE_PATH is the only candidate when set; otherwise a local build comes before the prebuilt one', () => {
    const saved = process.env.GPTLAB_NATIVE_PATH;
    try {
      process.env.GPTLAB_NATIVE_PATH = path.join(FIXTURE_DIR, 'no-such-addon.node');
      assert.deepEqual(nativeAddonCandidates(), []);
      delete process.env.GPTLAB_NATIVE_PATH;
      const found = nativeAddonCandidates();
      const local = found.findIndex((f) => f.endsWith(path.join('build', 'Release', 'gptlab_native.node')));
      const prebuilt = found.findIndex((f) => f.endsWith(prebuiltAddonRel()));
      if (local >= 0 && prebuilt >= 0) assert.ok(local < prebuilt, found.join(', '));
      for (const f of found) assert.ok(fs.existsSync(f), f);
    } finally {
      if (saved === undefined) delete process.env.GPTLAB_NATIVE_PATH;
      else process.env.GPTLAB_NATIVE_PATH = saved;
    }
  });
});
