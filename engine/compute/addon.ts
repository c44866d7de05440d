// The one door to the native addon: finding it (a local build, native/build/Release/gptlab_native.node, then the
// packaged one for this platform, native/prebuilt/<platform>-<arch>/gptlab_native.node, both inside GPT Lab's own
// package folder, or the file GPTLAB_NATIVE_PATH names), loading it, its types, the reason it did not load, the AdamW
// step record every compiled trainer takes, and the self-check each of them (this addon on each ISA, the wasm build in
// wasm.ts, the WebGPU trainer) runs when it loads. Nothing else in the engine calls process.dlopen.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GPTConfig } from '../model/config';
import { flatLayout } from '../model/flatLayout';
import { testHook } from '../common/testMode';

export interface NativeInfo {
  isa: string;
  threads: number;
  maxThreads: number;
  adaptive: boolean;
  mr: number;
  nr: number;
  lastThreads: number;
  minParallelFlops: number;
}

/** The addon's exports (see native/src/addon.cc and gpt_napi.cc). */
export interface NativeAddon {
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, lda: number, B: Float32Array, ldb: number, beta: number,
    C: Float32Array, ldc: number,
  ): void;
  /** Offsets/strides in floats; a stride of 0 broadcasts that operand. */
  sgemmBatched(
    transA: boolean, transB: boolean, batch: number, M: number, N: number, K: number,
    alpha: number,
    A: Float32Array, offA: number, strideA: number, lda: number,
    B: Float32Array, offB: number, strideB: number, ldb: number,
    beta: number,
    C: Float32Array, offC: number, strideC: number, ldc: number,
  ): void;
  /** In place: rows x N floats at offC; bias per column (biasLen N) or scalar (1). */
  biasAct(
    C: Float32Array, offC: number, rows: number, N: number,
    bias: Float32Array | null, offBias: number, biasLen: number, act: number, alpha: number,
  ): void;
  /** X viewed as [outer, mid, inner]; Y[o, i] = sum over m of X[o, m, i]. */
  sumAxis(X: Float32Array, offX: number, outer: number, mid: number, inner: number, Y: Float32Array, offY: number): void;
  /** Y[offY..] = exp(X[offX..]) for n floats (vectorized, ~1 ulp). */
  exp(X: Float32Array, offX: number, n: number, Y: Float32Array, offY: number): void;
  /** Sum of squares of n floats at off (double accumulation). */
  sumSquares(X: Float32Array, off: number, n: number): number;
  /** In-place torch.optim.AdamW update of n floats (see native/src/addon.cc for the exact order). */
  adamw(
    P: Float32Array, offP: number, G: Float32Array, offG: number, M: Float32Array, offM: number,
    V: Float32Array, offV: number, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, bc1: number, bc2Sqrt: number, clip: number,
  ): void;
  info(): NativeInfo;
  /** Caps the thread count (clamped to the pool); adaptive re-enables the 1-vs-N tuner. */
  setThreads(n: number, adaptive?: boolean): number;
  setMinParallelFlops(flops: number): void;
  /** The trainer class, its step record packed at the boundary (the module's own export takes the packed record). */
  NativeGPT?: NativeGPTConstructor;
}

/** NativeGPT's interface (native/src/gpt_napi.cc; the wasm build's WasmGPT has the same). Ids are model ids. */
export interface NativeGPTHandle {
  loss(inputs: Int32Array, targets: Int32Array, B: number, T: number): number;
  /** With a nonzero seed, a training forward: dropout on, its masks drawn from the seed. */
  lossAndGradients(inputs: Int32Array, targets: Int32Array, B: number, T: number, seed?: number): number;
  /** A copy of the gradients of the last lossAndGradients or step, laid out like the parameters. */
  gradients(): Float32Array;
  step(inputs: Int32Array, targets: Int32Array, B: number, T: number, settings: AdamWStep): NativeStepResult;
  /** layers (1..N): only the first blocks, without logits (a probe's first layers; an addon built before ignores it). */
  forward(inputs: Int32Array, B: number, T: number, layers?: number): void;
  /** Of the last forward: logits [B, T, V], attention of layer l [B, H, T, T], residual stream entering layer l [B, T, D]. */
  logits(): Float32Array;
  attention(layer: number): Float32Array;
  residual(layer: number): Float32Array;
  /**
   * Inference (the addon's and the wasm builds' classes have these; an addon built before them does not). decode: ids
   * join a KV cache at the next positions (at most T in all; resetCache empties it) and the last one's logits [V] come
   * back. rowLosses: the cross-entropy of every row of a [B, T] batch [B*T], by one forward pass without dropout;
   * rowScores: the same losses followed by every row's entropy [2*B*T].
   */
  decode?(ids: Int32Array): Float32Array;
  rowLosses?(inputs: Int32Array, targets: Int32Array, B: number, T: number): Float32Array;
  rowScores?(inputs: Int32Array, targets: Int32Array, B: number, T: number): Float32Array;
  resetCache?(): void;
  /** Threads per step; 0 (the default) times whole steps and picks between all threads and one. */
  setThreads(n: number): void;
  /**
   * Copies the current parameters into the caller's buffer. The addon trains that buffer in place and has no
   * such method; the wasm build trains a copy in its own memory and, when created with { liveParams: false },
   * copies back only here.
   */
  syncParams?(): void;
  dispose(): void;
}

/** What step() reports: the loss and gradient norm before the update, and whether it was applied (both finite). */
export interface NativeStepResult {
  loss: number;
  gradNorm: number;
  applied: boolean;
  threads: number;
}

/**
 * NativeGPTHandle for a device that answers asynchronously (the WebGPU trainer, engine/compute/webgpu/): the same
 * methods and contracts, every result a promise, because reading a GPU buffer back (mapAsync) is asynchronous.
 * Calls run in the order they are made. The parameters live on the device: syncParams() copies them back.
 */
export interface AsyncGPTHandle {
  loss(inputs: Int32Array, targets: Int32Array, B: number, T: number): Promise<number>;
  lossAndGradients(inputs: Int32Array, targets: Int32Array, B: number, T: number, seed?: number): Promise<number>;
  gradients(): Promise<Float32Array>;
  step(inputs: Int32Array, targets: Int32Array, B: number, T: number, settings: AdamWStep): Promise<NativeStepResult>;
  forward(inputs: Int32Array, B: number, T: number): Promise<void>;
  logits(): Promise<Float32Array>;
  attention(layer: number): Promise<Float32Array>;
  residual(layer: number): Promise<Float32Array>;
  decode(ids: Int32Array): Promise<Float32Array>;
  rowLosses(inputs: Int32Array, targets: Int32Array, B: number, T: number): Promise<Float32Array>;
  resetCache(): void;
  setThreads(n: number): void;
  syncParams(): Promise<void>;
  dispose(): void;
}

export type AsyncGPTConstructor = new (shape: GPTConfig, offsets: Float64Array, params: Float32Array) => AsyncGPTHandle;

/** Either kind of compiled trainer: CompiledTrainer awaits every call, which costs the synchronous ones nothing. */
export type GPTHandle = NativeGPTHandle | AsyncGPTHandle;
export type GPTConstructor = NativeGPTConstructor | AsyncGPTConstructor;

/**
 * One AdamW step as every compiled trainer takes it: the run's AdamW settings (TrainSettings) with the learning rate
 * of this step (training/adamw.ts, adamwStep). At the C boundaries it travels as eight numbers in ADAMW_STEP_FIELDS
 * order, the same for the addon (gpt_napi.cc) and the wasm build (gpt_wasm.cc), into C++'s AdamWSettings.
 */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number; // max global L2 norm; 0 disables
  t: number; // 1-based update number, for the bias corrections
  seed: number; // draws the dropout masks
}

/** The order of the packed record: one list for every bridge; the self-check gives each field a distinct value. */
export const ADAMW_STEP_FIELDS = ['lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'gradClip', 't', 'seed'] as const satisfies
  readonly (keyof AdamWStep)[];

/** The record as the C boundaries read it: Float64Array in ADAMW_STEP_FIELDS order. */
export function packAdamWStep(s: AdamWStep): Float64Array {
  return Float64Array.from(ADAMW_STEP_FIELDS, (k) => s[k]);
}

/** error.code of an addon or wasm error that means "needs more memory than the machine has" (gpt_napi.cc, gpt_wasm.cc). */
export const OUT_OF_MEMORY_CODE = 'ERR_GPTLAB_OUT_OF_MEMORY';

export type NativeGPTConstructor = new (shape: GPTConfig, offsets: Float64Array, params: Float32Array) => NativeGPTHandle;

/** The addon's own class: the same, but its step takes the packed record (packAdamWStep); loadNative wraps it. */
type RawNativeGPTHandle = Omit<NativeGPTHandle, 'step'> & {
  step: (this: RawNativeGPTHandle, inputs: Int32Array, targets: Int32Array, B: number, T: number, packed: Float64Array) => NativeStepResult;
};
type RawNativeGPTConstructor = new (...args: ConstructorParameters<NativeGPTConstructor>) => RawNativeGPTHandle;

/** The addon's class with the AdamWStep record packed at its boundary, as wasm.ts packs it at the wasm one. */
function packingStep(raw: RawNativeGPTConstructor): NativeGPTConstructor {
  const rawStep = (raw.prototype as RawNativeGPTHandle).step;
  return class NativeGPT extends (raw as unknown as new (...args: ConstructorParameters<NativeGPTConstructor>) => object) {
    step(inputs: Int32Array, targets: Int32Array, B: number, T: number, settings: AdamWStep): NativeStepResult {
      return rawStep.call(this as unknown as RawNativeGPTHandle, inputs, targets, B, T, packAdamWStep(settings));
    }
  } as unknown as NativeGPTConstructor;
}

// ------------------------------------------------------------------ the self-check

/** The self-check's model: every switch that has its own kernel (biases, GELU, untied head), small enough for ~1 ms. */
export const SELF_CHECK_CONFIG: GPTConfig = {
  vocabSize: 13, contextLength: 6, dim: 8, heads: 2, layers: 2, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
  positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: true, dropout: 0, kvHeads: 2, headDim: 4, qkNorm: false,
};

/** Deterministic weights, ids and first step's settings of the self-check (the same for every path; tests run it on tfjs too). */
export function selfCheckInputs(): { params: Float32Array; inputs: Int32Array; targets: Int32Array; B: number; T: number;
  settings: AdamWStep } {
  const layout = flatLayout(SELF_CHECK_CONFIG);
  const params = new Float32Array(layout.size);
  for (let i = 0; i < params.length; i++) params[i] = 0.3 * Math.sin(0.37 * i + 0.11) + 0.05 * Math.cos(1.3 * i);
  const B = 2, T = SELF_CHECK_CONFIG.contextLength, V = SELF_CHECK_CONFIG.vocabSize;
  const inputs = Int32Array.from({ length: B * T }, (_, i) => (7 * i + 3) % V);
  const targets = Int32Array.from({ length: B * T }, (_, i) => (5 * i + 1) % V);
  return { params, inputs, targets, B, T,
    // Every field distinct, and every one but the seed (unused without dropout) changes the result (gradClip is below
    // the gradient norm, so the step clips), so a bridge that reads the packed record in another order fails the check.
    settings: { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 0.25, t: 1, seed: 7 } };
}

/**
 * The stored result: the loss before the steps, the first step's gradient norm, and the loss after two AdamW steps
 * (a first step alone does not depend on the betas or the gradient's scale), as computed by the tfjs reference path
 * (test/engine/wasm.test.ts checks that it still agrees, and native.test.ts the addon).
 */
export const SELF_CHECK_EXPECTED = { loss: 2.667717, gradNorm: 0.2996264, lossAfter: 2.4915986 };
/** Relative tolerance: float32 paths differ by ~1e-6 here; a wrong kernel is off by far more. */
const SELF_CHECK_TOLERANCE = 1e-4;

/** Null when a self-check's results match the stored ones, else the one-line reason. */
function selfCheckVerdict(got: { loss: number; gradNorm: number; lossAfter: number }, label: string): string | null {
  if ((testHook('GPTLAB_SELFCHECK_BREAK') ?? '').split(',').includes(label)) got = { ...got, lossAfter: got.lossAfter * 1.01 };
  for (const k of ['loss', 'gradNorm', 'lossAfter'] as const) {
    const want = SELF_CHECK_EXPECTED[k];
    if (!(Math.abs(got[k] - want) <= SELF_CHECK_TOLERANCE * Math.abs(want))) {
      return `self-check failed: ${k} ${got[k]} instead of ${want}`;
    }
  }
  return null;
}

/**
 * Runs the tiny known step on a compiled trainer; null when it matches, else a one-line reason. `label` names the
 * build for GPTLAB_SELFCHECK_BREAK, the test hook (test mode only) that perturbs a result as a miscompiled binary would.
 */
export function runSelfCheck(cls: NativeGPTConstructor, label: string): string | null {
  const { params, inputs, targets, B, T, settings } = selfCheckInputs();
  let h: NativeGPTHandle | null = null;
  try {
    h = new cls(SELF_CHECK_CONFIG, flatLayout(SELF_CHECK_CONFIG).slots, params);
    h.setThreads(1);
    const loss = h.loss(inputs, targets, B, T);
    const r = h.step(inputs, targets, B, T, settings);
    h.step(inputs, targets, B, T, { ...settings, t: settings.t + 1 });
    return selfCheckVerdict({ loss, gradNorm: r.gradNorm, lossAfter: h.loss(inputs, targets, B, T) }, label);
  } catch (e) {
    return `self-check failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  } finally {
    h?.dispose();
  }
}

/** runSelfCheck for a trainer that answers asynchronously (WebGPU). */
export async function runSelfCheckAsync(cls: AsyncGPTConstructor, label: string): Promise<string | null> {
  const { params, inputs, targets, B, T, settings } = selfCheckInputs();
  let h: AsyncGPTHandle | null = null;
  try {
    h = new cls(SELF_CHECK_CONFIG, flatLayout(SELF_CHECK_CONFIG).slots, params);
    const loss = await h.loss(inputs, targets, B, T);
    const r = await h.step(inputs, targets, B, T, settings);
    await h.step(inputs, targets, B, T, { ...settings, t: settings.t + 1 });
    return selfCheckVerdict({ loss, gradNorm: r.gradNorm, lossAfter: await h.loss(inputs, targets, B, T) }, label);
  } catch (e) {
    return `self-check failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  } finally {
    h?.dispose();
  }
}

// ------------------------------------------------------------------ finding and loading the addon

const ADDON_REL = path.join('native', 'build', 'Release', 'gptlab_native.node');
const ADDON_FILE = 'gptlab_native.node';

/** "linux-x64", "linux-arm64", "win32-x64", ...: the folder of native/prebuilt/ that this process can load. */
export function prebuiltPlatform(platform: string = process.platform, arch: string = process.arch): string {
  return `${platform}-${arch}`;
}

/** native/prebuilt/<platform>-<arch>/gptlab_native.node, relative to the package root (what a per-platform VSIX carries). */
export function prebuiltAddonRel(platform?: string, arch?: string): string {
  return path.join('native', 'prebuilt', prebuiltPlatform(platform, arch), ADDON_FILE);
}

let cachedAddon: NativeAddon | null | undefined;
let loadError: string | undefined;

/**
 * GPT Lab's own package folder: the nearest folder above this file whose package.json is gpt-lab's (the tsc output in
 * out/engine/compute and the bundles in dist/ both sit below it). Never the working directory, which in the editor can
 * be an untrusted workspace.
 */
export function packageRoot(): string | null {
  let dir = __dirname;
  for (let depth = 0; depth < 6; depth++) {
    try {
      if ((JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name === 'gpt-lab') return dir;
    } catch {
      // no package.json here, or not one that parses: keep going up
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return null;
}

/** `rel` inside GPT Lab's package folder when it exists there, else null: where native code and wasm are looked for. */
export function packageFile(rel: string): string | null {
  const root = packageRoot();
  const file = root === null ? null : path.join(root, rel);
  return file !== null && fs.existsSync(file) ? file : null;
}

/**
 * The addon files to try, best first: GPTLAB_NATIVE_PATH alone when set (the documented way to use another build);
 * else a local build (npm install / npm run build:native, compiled on this machine) and the prebuilt one for this
 * platform and architecture, both in the package folder.
 */
export function nativeAddonCandidates(): string[] {
  const override = process.env.GPTLAB_NATIVE_PATH;
  if (override) return fs.existsSync(override) ? [path.resolve(override)] : [];
  const found = [packageFile(ADDON_REL), packageFile(prebuiltAddonRel())].filter((p): p is string => p !== null);
  return [...new Set(found)];
}

function isAddon(x: unknown): x is NativeAddon {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return ['sgemm', 'sgemmBatched', 'biasAct', 'info', 'setThreads'].every((k) => typeof o[k] === 'function');
}

/** The addon's instruction set as the training path names it: avx512, avx2, neon or generic. */
export function addonIsa(raw: string, arch: string = process.arch): string {
  if (/avx512/i.test(raw)) return 'avx512';
  if (/avx2/i.test(raw)) return 'avx2';
  if (raw === 'generic' && arch === 'arm64') return 'neon';
  return raw.replace(/[^a-z0-9]+/gi, '').toLowerCase() || 'generic';
}

/**
 * Loads the addon once and self-checks its trainer; returns null (never throws) when it is absent, fails to load,
 * fails the self-check, or GPTLAB_NATIVE=0 disables it. `lastNativeLoadError()` says why, in one line.
 */
export function loadNative(): NativeAddon | null {
  if (cachedAddon !== undefined) return cachedAddon;
  cachedAddon = null;
  try {
    if (process.env.GPTLAB_NATIVE === '0') {
      loadError = 'disabled by GPTLAB_NATIVE=0';
      return null;
    }
    const files = nativeAddonCandidates();
    if (files.length === 0) {
      loadError = process.env.GPTLAB_NATIVE_PATH ? `GPTLAB_NATIVE_PATH ${process.env.GPTLAB_NATIVE_PATH} not found`
        : `neither ${ADDON_REL} (npm run build:native) nor ${prebuiltAddonRel()} found`;
      return null;
    }
    // A local build that fails to load or its self-check gives way to the prebuilt one; the first reason is kept.
    const reasons: string[] = [];
    for (const file of files) {
      const failed = tryLoad(file);
      if (typeof failed !== 'string') {
        cachedAddon = failed;
        loadError = undefined;
        return cachedAddon;
      }
      reasons.push(failed);
    }
    loadError = reasons.join('; ');
  } catch (e) {
    loadError = e instanceof Error ? e.message.split('\n')[0] : String(e);
    cachedAddon = null;
  }
  return cachedAddon;
}

/** Loads one addon file and self-checks it: the addon, or a one-line reason. */
function tryLoad(file: string): NativeAddon | string {
  try {
    // process.dlopen instead of require: bundlers leave it alone.
    const mod: { exports: unknown } = { exports: {} };
    process.dlopen(mod, file);
    if (!isAddon(mod.exports)) return `${file} does not export the expected functions`;
    const info = mod.exports.info();
    const raw = (mod.exports as { NativeGPT?: unknown }).NativeGPT;
    // The module's properties are read-only: a thin object on top of it carries the wrapped class.
    const addon = Object.create(mod.exports, typeof raw === 'function'
      ? { NativeGPT: { value: packingStep(raw as RawNativeGPTConstructor) } } : {}) as NativeAddon;
    if (addon.NativeGPT) {
      const failed = runSelfCheck(addon.NativeGPT, 'native');
      if (failed) return `native-${addonIsa(info.isa)} refused: ${failed}`;
    }
    return addon;
  } catch (e) {
    return `${path.basename(path.dirname(file))}/${path.basename(file)}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
}

export function lastNativeLoadError(): string | undefined {
  return loadError;
}

/** The addon's NativeGPT class, or null when the addon is missing, disabled (GPTLAB_NATIVE=0), refused or too old. */
export function nativeGPTClass(addon: NativeAddon | null = loadNative()): NativeGPTConstructor | null {
  return addon?.NativeGPT ?? null;
}
