// The WebGPU trainer (engine/compute/webgpu/) beside the native trainer, step by step on every GPTConfig switch:
// training runs, dropout masks, probes of a forward pass, KV-cache decoding and row losses; its limits and bad input;
// and the `--trainer webgpu` path end to end. Its agreement with PyTorch is in reference.test.ts. On lavapipe in CI
// (a software adapter: tiny models only); skipped, saying why, only where there is no adapter.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { selectBackend } from '../../engine/compute/tfjsBackend';
import type { GPTConfig, TrainSettings } from '../../engine/model/config';
import { GPT } from '../../engine/model/gpt';
import { nativeGPTClass, type AsyncGPTConstructor, type NativeGPTConstructor } from '../../engine/compute/addon';
import { loadWasmTrainer, wasmGPTClass } from '../../engine/compute/wasm';
import { loadWebGpu, webGpuContext } from '../../engine/compute/webgpu/device';
import { rowsByToken, siteSeeds, type WebGpuGPT } from '../../engine/compute/webgpu/gpt';
import { CompiledTrainer } from '../../engine/training/compiledTrainer';
import { flatLayout, flattenWeights } from '../../engine/model/flatLayout';
import { Trainer } from '../../engine/training/trainer';
import { InputError } from '../../engine/common/errors';
import { Rng } from '../../engine/common/rng';
import { maxAbsDiff, relMaxErr } from '../helpers/reference';
import { webGpuTestAdapter } from '../helpers/webgpu';
import { testPlan } from '../helpers/plan';
import { describeTrainingPath } from '../../engine/protocol';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI = path.join(ROOT, 'out', 'engine', 'host', 'cli.js');
const TEXT = path.join(ROOT, 'media', 'tinyshakespeare-sample.txt');

const BASE: GPTConfig = {
  vocabSize: 29, contextLength: 12, dim: 24, heads: 3, layers: 2, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
  positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: true, dropout: 0, kvHeads: 3, headDim: 8, qkNorm: false,
};

/**
 * Grouped queries, RoPE and QK-norm, heads wider than D/H, a context longer than one 16-row block of the attention
 * kernels (nanochat's attention).
 */
const ROPE_GQA: GPTConfig = { ...BASE, contextLength: 20, heads: 4, kvHeads: 2, headDim: 8, positions: 'rope', qkNorm: true, norm: 'rmsnorm',
  bias: false, qkvBias: false };

/** Every switch on and off across the variants. */
const VARIANTS: { name: string; config: GPTConfig }[] = [
  { name: 'LayerNorm, GELU, learned, untied, biases', config: BASE },
  { name: 'RMSNorm, ReLU, sinusoidal, tied, no biases', config: { ...BASE, norm: 'rmsnorm', activation: 'relu', positions: 'sinusoidal',
    tieEmbeddings: true, bias: false, qkvBias: false } },
  { name: 'LayerNorm without bias, c_attn bias, tied, dropout 0.2', config: { ...BASE, bias: false, tieEmbeddings: true, dropout: 0.2 } },
  { name: 'GQA, RoPE, QK-norm, A > D, T = 20', config: ROPE_GQA },
  { name: 'MQA, no positions, attention-only blocks, A < D, dropout 0.2', config: { ...BASE, kvHeads: 1, headDim: 6, positions: 'none',
    ffnMult: 0, dropout: 0.2, tieEmbeddings: true } },
];

const SETTINGS: TrainSettings = {
  steps: 10, batchSize: 3, learningRate: 1e-2, minLearningRate: 1e-3, warmupSteps: 2, weightDecay: 0.01, beta1: 0.9,
  beta2: 0.999, eps: 1e-8, gradClip: 1, evalEvery: 0, evalBatches: 1, sampleEvery: 0, seed: 5,
};

/** B random [T+1] windows of ids from a stream with some structure (so the loss can fall). */
function batches(config: GPTConfig, B: number, T: number, count: number, seed: number): { inputs: Int32Array; targets: Int32Array }[] {
  const rng = new Rng(seed);
  const V = config.vocabSize;
  const stream = Int32Array.from({ length: 300 }, (_, i) => (i * 7 + (i % 5)) % V);
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

/** The CPU trainer to hold WebGPU to: the native addon, else its wasm build (the same C++). */
async function cpuClass(): Promise<NativeGPTConstructor> {
  const native = nativeGPTClass();
  if (native) return native;
  await loadWasmTrainer();
  const wasm = wasmGPTClass({ liveParams: false });
  assert.ok(wasm, 'neither the native addon nor the wasm trainer loads');
  return wasm;
}

/** Runs `gpt-lab train` (tsc output) on the sample in a child process. */
function train(args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string; lines: Record<string, unknown>[]; out: string } {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gptlab-webgpu-')), 'm.safetensors');
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(CLI)}).main(process.argv.slice(1)).then((c) => { process.exitCode = c; })`,
    'train', TEXT, '--preset', 'tiny', '--steps', '3', '--context', '16', '--dim', '32', '--layers', '2', '--batch', '2', '--json',
    '--out', out, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { status: r.status, stderr: r.stderr, lines, out };
}

/**
 * Dawn itself prints two "Warning: max...artificially reduced" lines when it opens a software (Mesa) adapter; the
 * engine's own message is everything else.
 */
function ownLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() && !/^Warning: max\w+ artificially reduced/.test(l));
}

const adapter = webGpuTestAdapter();

test('dropout seeds and the rows-by-token table', () => {
  // gpt.cc: site_seed(seed | 1, site) = mix64((seed | 1) * golden + site); 2 layers have 7 sites.
  const seeds = siteSeeds(42, 2);
  assert.equal(seeds.length, 14);
  assert.deepEqual(siteSeeds(42, 2), seeds, 'a seed gives the same masks');
  assert.deepEqual(siteSeeds(43, 2), seeds, 'seeds differing only in the lowest bit agree (gpt.cc ORs in 1)');
  assert.notDeepEqual(siteSeeds(44, 2), seeds);
  // [U][tokens][starts][rows]: tokens 5, 2, 9 hold rows {0, 3}, {1}, {2, 4}
  assert.deepEqual([...rowsByToken(Int32Array.from([5, 2, 9, 5, 9]), 5)], [3, 5, 2, 9, 0, 2, 3, 5, 0, 3, 1, 2, 4]);
});

describe('WebGPU trainer', { skip: adapter.skip }, () => {
  let gpu: AsyncGPTConstructor;
  let cpu: NativeGPTConstructor;
  before(async () => {
    await selectBackend('cpu', { native: false });
    const r = await loadWebGpu();
    assert.ok(r.ok, r.ok ? '' : r.reason);
    gpu = r.cls;
    cpu = await cpuClass();
  });

  for (const variant of VARIANTS) {
    test(`trains like the native trainer, step by step (${variant.name})`, async (t) => {
      const data = batches(variant.config, SETTINGS.batchSize, variant.config.contextLength, 8, 3);
      const runs = [];
      for (const cls of [cpu, gpu]) {
        const model = GPT.init(variant.config, 11);
        const trainer = new CompiledTrainer(model, SETTINGS, cls);
        const losses: number[] = [], norms: number[] = [];
        for (const { inputs, targets } of data) {
          const r = await trainer.step(inputs, targets, SETTINGS.batchSize, variant.config.contextLength);
          assert.ok(r.applied);
          losses.push(r.loss);
          norms.push(r.gradNorm);
        }
        const evalLoss = await trainer.loss(data.slice(0, 2), SETTINGS.batchSize, variant.config.contextLength);
        await trainer.syncModel();
        runs.push({ losses, norms, evalLoss, weights: model.toTensors() });
        trainer.dispose();
        model.dispose();
      }
      const [ref, webgpu] = runs;
      const lossErr = Math.max(...ref.losses.map((l, i) => Math.abs(l - webgpu.losses[i])));
      const normErr = Math.max(...ref.norms.map((n, i) => Math.abs(n - webgpu.norms[i]) / n));
      let weightErr = 0;
      for (const [name, w] of ref.weights) weightErr = Math.max(weightErr, maxAbsDiff(w.data, webgpu.weights.get(name)!.data));
      t.diagnostic(`8 steps: loss ${ref.losses[0].toFixed(4)} -> ${ref.losses[7].toFixed(4)}; max |loss diff| ${lossErr.toExponential(2)}, ` +
        `grad norm rel ${normErr.toExponential(2)}, weights ${weightErr.toExponential(2)}, eval ${Math.abs(ref.evalLoss - webgpu.evalLoss).toExponential(2)}`);
      assert.ok(Math.max(...ref.losses) - Math.min(...ref.losses) > 0.05, 'the run moves: the comparison is not of a standstill');
      assert.ok(lossErr < 2e-5, `losses differ by ${lossErr}`);
      assert.ok(normErr < 1e-4, `gradient norms differ by ${normErr}`);
      assert.ok(weightErr < 2e-4, `weights differ by ${weightErr}`);
      assert.ok(Math.abs(ref.evalLoss - webgpu.evalLoss) < 2e-5, `eval loss ${webgpu.evalLoss} vs ${ref.evalLoss}`);
    });
  }

  test('dropout draws the native trainer\'s masks: the same loss and gradients for a seed', async () => {
    const config: GPTConfig = { ...BASE, dropout: 0.3 };
    const model = GPT.init(config, 21);
    const layout = flatLayout(config);
    const [{ inputs, targets }] = batches(config, 2, 9, 1, 4); // T = 9 < context 12
    const native = new cpu(config, layout.slots, flattenWeights(model, layout));
    const webgpu = new gpu(config, layout.slots, flattenWeights(model, layout));
    try {
      for (const seed of [99, 12345678901]) {
        const a = native.lossAndGradients(inputs, targets, 2, 9, seed);
        const b = await webgpu.lossAndGradients(inputs, targets, 2, 9, seed);
        assert.ok(Math.abs(a - b) < 1e-5 * a, `seed ${seed}: loss ${b} vs native ${a}`);
        const e = relMaxErr(await webgpu.gradients(), native.gradients());
        assert.ok(e < 1e-4, `seed ${seed}: gradients differ by ${e} (relative, max norm)`);
      }
      const evalLoss = await webgpu.loss(inputs, targets, 2, 9);
      assert.ok(Math.abs(evalLoss - native.loss(inputs, targets, 2, 9)) < 1e-5, 'eval has no dropout');
      assert.notEqual(await webgpu.lossAndGradients(inputs, targets, 2, 9, 99), evalLoss, 'training applies dropout');
      assert.notEqual(await webgpu.lossAndGradients(inputs, targets, 2, 9, 100), await webgpu.lossAndGradients(inputs, targets, 2, 9, 98),
        'another seed draws other masks');
    } finally {
      native.dispose();
      webgpu.dispose();
      model.dispose();
    }
  });

  // Sinusoidal positions: decoding reads the table at p0 + r; RoPE with grouped queries: it turns q and k at p0 + r and
  // keeps KV heads in the cache, over more than one block of rows.
  const decodeCases: [string, GPTConfig][] = [['sinusoidal', VARIANTS[1].config], ['RoPE, GQA, QK-norm', ROPE_GQA]];
  for (const [name, config] of decodeCases) {
    test(`probes of a forward pass, row losses and KV-cache decoding match the native trainer (${name})`, async () => {
      const model = GPT.init(config, 4);
      const layout = flatLayout(config);
      const native = new cpu(config, layout.slots, flattenWeights(model, layout));
      const webgpu = new gpu(config, layout.slots, flattenWeights(model, layout));
      try {
        const B = 2, T = config.contextLength > 16 ? 17 : 7;
        const [{ inputs, targets }] = batches(config, B, T, 1, 8);
        native.forward(inputs, B, T);
        await webgpu.forward(inputs, B, T);
        assert.ok(maxAbsDiff(await webgpu.logits(), native.logits()) < 1e-4, 'logits');
        for (let l = 0; l < config.layers; l++) assert.ok(maxAbsDiff(await webgpu.attention(l), native.attention(l)) < 1e-5, `attention ${l}`);
        for (let l = 0; l <= config.layers; l++) assert.ok(maxAbsDiff(await webgpu.residual(l), native.residual(l)) < 1e-5, `residual ${l}`);
        await assert.rejects(webgpu.attention(config.layers), RangeError);
        // Row losses and decoding against the addon's (the wasm build has neither); by definition otherwise.
        const native2 = typeof native.decode === 'function' ? native : null;
        const rowRef = native2 ? native2.rowLosses!(inputs, targets, B, T) : await (async () => {
          const z = await webgpu.logits(); // after the forward above: -log softmax at each target
          return Float32Array.from({ length: B * T }, (_, r) => {
            const row = z.subarray(r * config.vocabSize, (r + 1) * config.vocabSize);
            const m = Math.max(...row);
            return m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[targets[r]];
          });
        })();
        assert.ok(maxAbsDiff(await webgpu.rowLosses(inputs, targets, B, T), rowRef) < 1e-5, 'row losses');
        // A prompt (longer than a block of 16 rows when the context allows), then one token at a time up to the
        // context; each step's logits are those of a full forward pass over the sequence so far, and the addon's decode.
        webgpu.resetCache();
        native2?.resetCache!();
        const prompt = config.contextLength > 16 ? 17 : 5;
        const sequence = Int32Array.from({ length: config.contextLength }, (_, i) => i < prompt ? inputs[i] : (3 * i + 1) % config.vocabSize);
        let worst = 0, worstFull = 0, first: Float32Array | null = null;
        for (let end = prompt; end <= config.contextLength; end++) {
          const ids = end === prompt ? sequence.subarray(0, prompt) : sequence.subarray(end - 1, end);
          const got = await webgpu.decode(ids);
          first ??= got;
          if (native2) worst = Math.max(worst, maxAbsDiff(got, native2.decode!(ids)));
          native.forward(sequence.subarray(0, end), 1, end);
          worstFull = Math.max(worstFull, maxAbsDiff(got, native.logits().subarray((end - 1) * config.vocabSize, end * config.vocabSize)));
        }
        assert.ok(worst < 1e-4 && worstFull < 1e-4, `decoded logits differ by ${worst} from the addon's, ${worstFull} from a forward pass`);
        await assert.rejects(webgpu.decode(Int32Array.of(1)), new RegExp(`the cache holds ${config.contextLength} tokens; ${config.contextLength} \\+ 1 do not fit`));
        // The plans are kept across tokens and resets: the same prompt gives the same logits, bit for bit.
        webgpu.resetCache();
        assert.deepEqual(await webgpu.decode(sequence.subarray(0, prompt)), first);
        webgpu.resetCache();
        await webgpu.decode(Int32Array.of(1, 2));
      } finally {
        native.dispose();
        webgpu.dispose();
        model.dispose();
      }
    });
  }

  test('a training step is one command buffer of a few dispatches per block, a decoded token fewer', (t) => {
    // Per block: forward 7 (attention-only 4), backward 8 (5), RoPE or QK-norm one more each way; 8 for the whole step.
    // Per token: 7 per block (4), RoPE or QK-norm one more, and 2.
    const cases: [string, GPTConfig, number, number][] = [['standard', BASE, 15, 7], ['RoPE, GQA, QK-norm', ROPE_GQA, 17, 8],
      ['attention-only', { ...BASE, ffnMult: 0 }, 9, 4]];
    for (const [name, config, perBlock, perBlockDecoding] of cases) {
      const model = GPT.init(config, 1);
      const layout = flatLayout(config);
      const webgpu = new gpu(config, layout.slots, flattenWeights(model, layout)) as WebGpuGPT;
      const { step, decodeToken } = webgpu.dispatchCounts(3, config.contextLength);
      t.diagnostic(`${name}, ${config.layers} blocks: ${step} dispatches per step (the first pass had ${13 + 26 * config.layers}), ${decodeToken} per token`);
      assert.equal(step, 8 + perBlock * config.layers, name);
      assert.equal(decodeToken, 2 + perBlockDecoding * config.layers, name);
      webgpu.dispose();
      model.dispose();
    }
  });

  test('batches of any shape up to the context, bad input refused, a disposed model refused', async () => {
    const model = GPT.init(BASE, 6);
    const layout = flatLayout(BASE);
    const native = new cpu(BASE, layout.slots, flattenWeights(model, layout));
    const webgpu = new gpu(BASE, layout.slots, flattenWeights(model, layout));
    try {
      // Small first, then larger (the buffers grow), then small again (the plans of each shape are kept).
      for (const [B, T] of [[1, 3], [4, 12], [2, 5]]) {
        const [{ inputs, targets }] = batches(BASE, B, T, 1, B * 100 + T);
        const want = native.loss(inputs, targets, B, T);
        const got = await webgpu.loss(inputs, targets, B, T);
        assert.ok(Math.abs(got - want) < 1e-5, `[${B}, ${T}]: ${got} vs ${want}`);
      }
      const ids = new Int32Array(12).fill(1);
      await assert.rejects(webgpu.loss(ids, Int32Array.of(...ids.subarray(0, 11), BASE.vocabSize), 1, 12), /out of the model's vocabulary/);
      await assert.rejects(webgpu.loss(new Int32Array(13), new Int32Array(13), 1, 13), /T exceeds the context length/);
      await assert.rejects(webgpu.loss(ids, ids, 2, 12), /B\*T ids/);
      await assert.rejects(webgpu.gradients(), /call lossAndGradients or step first/);
      assert.ok(Number.isFinite(await webgpu.loss(ids, ids, 1, 12)), 'still usable after refusals');
    } finally {
      native.dispose();
      webgpu.dispose();
      model.dispose();
    }
    await assert.rejects(webgpu.loss(new Int32Array(1), new Int32Array(1), 1, 1), /disposed/);
  });

  test('a tensor larger than the adapter can bind is one line of bad input, before anything runs', async (t) => {
    const limit = webGpuContext()!.maxBindingBytes;
    if (limit > 2 ** 29) {
      t.skip(`this adapter binds ${limit} bytes; the model that exceeds it is too large for a test`);
      return;
    }
    // The logits of one batch, [B*T, V], exceed the limit.
    const B = 16, T = 64, V = Math.ceil(limit / 4 / (B * T)) + 1;
    const config: GPTConfig = { ...BASE, vocabSize: V, contextLength: T, dim: 4, heads: 1, kvHeads: 1, headDim: 4, layers: 1 };
    const model = GPT.init(config, 1);
    const trainer = await Trainer.create(model, { ...SETTINGS, batchSize: B }, await testPlan('webgpu'));
    const ids = new Int32Array(B * T).fill(1);
    await assert.rejects(trainer.step(ids, ids), (e: Error) => e instanceof InputError &&
      /the logits of a batch of 16 x 64 tokens needs \d+ MB in one GPU buffer but this adapter binds at most \d+ MB; use a smaller model, batch or context/.test(e.message));
    trainer.dispose();
    model.dispose();
  });

  test('Trainer: the webgpu path names its adapter', async () => {
    const model = GPT.init(BASE, 2);
    const trainer = await Trainer.create(model, SETTINGS, await testPlan('webgpu'));
    assert.equal(trainer.info.path, 'webgpu');
    assert.match(describeTrainingPath(trainer.info), /^webgpu: .+ \((software|GPU)\)$/);
    assert.equal(describeTrainingPath(trainer.info), (await loadWebGpu() as { report: string }).report);
    const [{ inputs, targets }] = batches(BASE, SETTINGS.batchSize, BASE.contextLength, 1, 1);
    assert.ok((await trainer.step(inputs, targets)).applied);
    trainer.dispose();
    model.dispose();
  });

  test('gpt-lab train --trainer webgpu: trains, prints the adapter and saves a model that loads', () => {
    const r = train(['--trainer', 'webgpu']);
    assert.equal(r.status, 0, r.stderr);
    const start = r.lines.find((l) => l.event === 'start');
    assert.match(String(start?.trainer), /^webgpu: .+ \((software|GPU)\)$/);
    assert.equal(r.lines.filter((l) => l.event === 'step').length, 3);
    assert.ok(fs.statSync(r.out).size > 0);
  });

  test('an explicit --trainer webgpu that cannot load exits 2 with one line saying why', () => {
    const off = train(['--trainer', 'webgpu'], { GPTLAB_WEBGPU: '0' });
    assert.equal(off.status, 2);
    assert.deepEqual(ownLines(off.stderr), ['gpt-lab: trainer "webgpu" is not available: disabled by GPTLAB_WEBGPU=0']);
    const broken = train(['--trainer', 'webgpu'], { GPTLAB_SELFCHECK_BREAK: 'webgpu', GPTLAB_TEST_MODE: '1' });
    assert.equal(broken.status, 2);
    const lines = ownLines(broken.stderr);
    assert.equal(lines.length, 1, broken.stderr);
    assert.match(lines[0], /trainer "webgpu" is not available: webgpu: .+ refused: self-check failed: lossAfter/);
    const missing = train(['--trainer', 'webgpu'], { GPTLAB_WEBGPU_PATH: path.join(os.tmpdir(), 'no-such-dawn.node') });
    assert.equal(missing.status, 2);
    assert.equal(ownLines(missing.stderr).length, 1, missing.stderr);
  });
});
