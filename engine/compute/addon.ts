// The one door to the native addon: finding it (a local build, native/build/Release/gptlab_native.node, then the
// packaged one for this platform, native/prebuilt/<platform>-<arch>/gptlab_native.node), loading it, its types, the
// reason it did not load, and the self-check every compiled trainer (this addon on each ISA, and the wasm build in
// wasmTrainer.ts) runs when it loads. Nothing else in the engine calls process.dlopen.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GPTConfig } from '../model/config';
import { flatLayout } from '../model/flatLayout';

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
  NativeGPT?: NativeGPTConstructor;
}

/** NativeGPT's interface (native/src/gpt_napi.cc; the wasm build's WasmGPT has the same). Ids are model ids. */
export interface NativeGPTHandle {
  loss(inputs: Int32Array, targets: Int32Array, B: number, T: number): number;
  /** With a nonzero seed, a training forward: dropout on, its masks drawn from the seed. */
  lossAndGradients(inputs: Int32Array, targets: Int32Array, B: number, T: number, seed?: number): number;
  /** A copy of the gradients of the last lossAndGradients or step, laid out like the parameters. */
  gradients(): Float32Array;
  step(inputs: Int32Array, targets: Int32Array, B: number, T: number, settings: NativeStepSettings): NativeStepResult;
  forward(inputs: Int32Array, B: number, T: number): void;
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
  step(inputs: Int32Array, targets: Int32Array, B: number, T: number, settings: NativeStepSettings): Promise<NativeStepResult>;
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

export interface NativeStepSettings {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number;
  t: number; // 1-based update number, for the bias corrections
  seed: number; // draws the dropout masks
}

/** error.code of an addon or wasm error that means "needs more memory than the machine has" (gpt_napi.cc, gpt_wasm.cc). */
export const OUT_OF_MEMORY_CODE = 'ERR_GPTLAB_OUT_OF_MEMORY';

export type NativeGPTConstructor = new (shape: GPTConfig, offsets: Float64Array, params: Float32Array) => NativeGPTHandle;


// ------------------------------------------------------------------ the self-check

/** The self-check's model: every switch that has its own kernel (biases, GELU, untied head), small enough for ~1 ms. */
export const SELF_CHECK_CONFIG: GPTConfig = {
  vocabSize: 13, contextLength: 6, dim: 8, heads: 2, layers: 2, ffnMult: 4, norm: 'layernorm', activation: 'gelu',
  positions: 'learned', tieEmbeddings: false, bias: true, qkvBias: true, dropout: 0, kvHeads: 2, headDim: 4, qkNorm: false,
};

/** Deterministic weights, ids and settings of the self-check (the same for every path; tests run it on tfjs too). */
export function selfCheckInputs(): { params: Float32Array; inputs: Int32Array; targets: Int32Array; B: number; T: number;
  settings: NativeStepSettings } {
  const layout = flatLayout(SELF_CHECK_CONFIG);
  const params = new Float32Array(layout.size);
  for (let i = 0; i < params.length; i++) params[i] = 0.3 * Math.sin(0.37 * i + 0.11) + 0.05 * Math.cos(1.3 * i);
  const B = 2, T = SELF_CHECK_CONFIG.contextLength, V = SELF_CHECK_CONFIG.vocabSize;
  const inputs = Int32Array.from({ length: B * T }, (_, i) => (7 * i + 3) % V);
  const targets = Int32Array.from({ length: B * T }, (_, i) => (5 * i + 1) % V);
  return { params, inputs, targets, B, T,
    settings: { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1, t: 1, seed: 1 } };
}

/**
 * The stored result: the loss before the step, the gradient norm, and the loss after one AdamW step, as computed by
 * the tfjs reference path (test/engine/wasm.test.ts checks that it still agrees, and native.test.ts the addon).
 */
export const SELF_CHECK_EXPECTED = { loss: 2.667717, gradNorm: 0.2996264, lossAfter: 2.5690528 };
/** Relative tolerance: float32 paths differ by ~1e-6 here; a wrong kernel is off by far more. */
const SELF_CHECK_TOLERANCE = 1e-4;

/** Null when a self-check's results match the stored ones, else the one-line reason. */
function selfCheckVerdict(got: { loss: number; gradNorm: number; lossAfter: number }, label: string): string | null {
  if ((process.env.GPTLAB_SELFCHECK_BREAK ?? '').split(',').includes(label)) got = { ...got, lossAfter: got.lossAfter * 1.01 };
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
 * build for GPTLAB_SELFCHECK_BREAK, the test hook that perturbs a result the way a miscompiled binary would.
 */
export function runSelfCheck(cls: NativeGPTConstructor, label: string): string | null {
  const { params, inputs, targets, B, T, settings } = selfCheckInputs();
  let h: NativeGPTHandle | null = null;
  try {
    h = new cls(SELF_CHECK_CONFIG, flatLayout(SELF_CHECK_CONFIG).slots, params);
    h.setThreads(1);
    const loss = h.loss(inputs, targets, B, T);
    const r = h.step(inputs, targets, B, T, settings);
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

/** Folders to walk up from: tsc output (out/engine) and webpack bundles (dist/) both sit below the package root. */
export function packageSearchDirs(): string[] {
  const dirs: string[] = [];
  if (typeof __dirname === 'string' && __dirname.length > 1) dirs.push(__dirname);
  const main = require.main?.filename;
  if (main) dirs.push(path.dirname(main));
  if (process.argv[1]) dirs.push(path.dirname(path.resolve(process.argv[1])));
  dirs.push(process.cwd());
  return dirs;
}

/** The first `rel` found walking up from the package's likely locations, or null. */
export function findUp(rel: string): string | null {
  for (const start of packageSearchDirs()) {
    let dir = path.resolve(start);
    for (;;) {
      const p = path.join(dir, rel);
      if (fs.existsSync(p)) return p;
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return null;
}

/**
 * The addon files to try, best first: GPTLAB_NATIVE_PATH alone when set; else a local build (npm install /
 * npm run build:native, compiled on this machine) and the prebuilt one for this platform and architecture.
 */
export function nativeAddonCandidates(): string[] {
  const override = process.env.GPTLAB_NATIVE_PATH;
  if (override) return fs.existsSync(override) ? [path.resolve(override)] : [];
  const found = [findUp(ADDON_REL), findUp(prebuiltAddonRel())].filter((p): p is string => p !== null);
  return [...new Set(found)];
}

function isAddon(x: unknown): x is NativeAddon {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return ['sgemm', 'sgemmBatched', 'biasAct', 'info', 'setThreads'].every((k) => typeof o[k] === 'function');
}

/** "native-avx512", "native-avx2", "native-neon" or "native-generic": the path name of an addon ISA. */
export function nativePathName(isa: string): string {
  if (/avx512/i.test(isa)) return 'native-avx512';
  if (/avx2/i.test(isa)) return 'native-avx2';
  if (isa === 'generic' && process.arch === 'arm64') return 'native-neon';
  return `native-${isa.replace(/[^a-z0-9]+/gi, '') || 'generic'}`;
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
    const cls = mod.exports.NativeGPT;
    if (typeof cls === 'function') {
      const failed = runSelfCheck(cls, 'native');
      if (failed) return `${nativePathName(info.isa)} refused: ${failed}`;
    }
    return mod.exports;
  } catch (e) {
    return `${path.basename(path.dirname(file))}/${path.basename(file)}: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
}

export function lastNativeLoadError(): string | undefined {
  return loadError;
}

/** The addon's NativeGPT class, or null when the addon is missing, disabled (GPTLAB_NATIVE=0), refused or too old. */
export function nativeGPTClass(addon: NativeAddon | null = loadNative()): NativeGPTConstructor | null {
  const cls = addon?.NativeGPT;
  return typeof cls === 'function' ? cls : null;
}
