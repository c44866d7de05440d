/**
 * Native (N-API) matmul kernels for tfjs, on the addon's widest instruction set: AVX-512, AVX2 or the portable-vector
 * kernels (SSE, NEON).
 *
 * `installNativeKernels('wasm' | 'cpu')` replaces that backend's `BatchMatMul`,
 * `_FusedMatMul`, `Sum` and `Exp` kernels (and wasm's copying `Identity` with a
 * data-sharing one) with ones that call the optional addon (loaded by ../addon.ts), reading and writing tensor
 * memory in place (the wasm heap, or the cpu backend's typed arrays). Cases
 * the native path does not cover (non-float32, general batch broadcasting,
 * exotic bias shapes, prelu, empty tensors) are delegated to the original
 * kernel, which is kept and restored by `uninstallNativeKernels()`.
 *
 * No vscode import: used by the engine, CLI, tests and benchmarks alike.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadNative, type NativeAddon } from '../addon';
import { type KernelReport } from '../../protocol';

export interface NativeKernelStats {
  /** Calls served by the native addon, per kernel name. */
  native: Record<string, number>;
  /** Calls delegated to the original tfjs kernel, per kernel name. */
  delegated: Record<string, number>;
  /** Wall milliseconds spent inside the installed kernels (native and delegated), per kernel name. */
  ms: Record<string, number>;
}

// ----------------------------------------------------------- backend access

type DataId = object;

interface WasmData {
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}
interface WasmBackendLike {
  wasm: { HEAPF32: Float32Array };
  dataIdMap: { get(dataId: DataId): WasmData | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}
interface CpuBackendLike {
  data: { get(dataId: DataId): { values?: unknown; refCount: number } | undefined };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Float32Array): tf.TensorInfo;
}

/** A float32 tensor as (array, offset in floats). */
interface View {
  arr: Float32Array;
  off: number;
}

interface MemoryAccess {
  input(t: tf.TensorInfo): View | null;
  /** Allocates the output; `view()` must be called after all allocations. */
  output(shape: number[]): { info: tf.TensorInfo; view: () => View };
}

function wasmAccess(backend: unknown): MemoryAccess | null {
  const b = backend as Partial<WasmBackendLike>;
  if (!b || !b.wasm || !b.dataIdMap || typeof b.makeOutput !== 'function') return null;
  const wb = b as WasmBackendLike;
  return {
    input(t) {
      const d = wb.dataIdMap.get(t.dataId);
      if (!d || d.memoryOffset == null || (d.memoryOffset & 3) !== 0) return null;
      return { arr: wb.wasm.HEAPF32, off: d.memoryOffset >>> 2 };
    },
    output(shape) {
      const info = wb.makeOutput(shape, 'float32');
      return {
        info,
        // Re-read HEAPF32: allocation may have grown (and replaced) the heap.
        view: () => ({ arr: wb.wasm.HEAPF32, off: wb.dataIdMap.get(info.dataId)!.memoryOffset >>> 2 }),
      };
    },
  };
}

function cpuAccess(backend: unknown): MemoryAccess | null {
  const b = backend as Partial<CpuBackendLike>;
  if (!b || !b.data || typeof b.makeTensorInfo !== 'function') return null;
  const cb = b as CpuBackendLike;
  return {
    input(t) {
      const values = cb.data.get(t.dataId)?.values;
      return values instanceof Float32Array ? { arr: values, off: 0 } : null;
    },
    output(shape) {
      const arr = new Float32Array(tf.util.sizeFromShape(shape));
      const info = cb.makeTensorInfo(shape, 'float32', arr);
      return { info, view: () => ({ arr, off: 0 }) };
    },
  };
}

/**
 * Where a float32 tensor of the active backend lives (array, offset in floats) and how many tensors share that
 * memory; null when the backend's memory cannot be reached.
 */
export function tensorMemory(t: tf.Tensor): (View & { refCount: number }) | null {
  if (t.dtype !== 'float32' || t.isDisposed) return null;
  const name = tf.getBackend(), backend: unknown = tf.backend();
  const mem = name === 'wasm' ? wasmAccess(backend) : name === 'cpu' ? cpuAccess(backend) : null;
  const view = mem?.input(t);
  if (!view) return null;
  const refCount = name === 'wasm'
    ? (backend as WasmBackendLike).dataIdMap.get(t.dataId)?.refCount
    : (backend as CpuBackendLike).data.get(t.dataId)?.refCount;
  return refCount === undefined ? null : { ...view, refCount };
}

// ----------------------------------------------------------- matmul planning

interface MatMulPlan {
  outShape: number[];
  batch: number;
  M: number;
  N: number;
  K: number;
  strideA: number;
  strideB: number;
}

function planMatMul(a: tf.TensorInfo, b: tf.TensorInfo, transA: boolean, transB: boolean): MatMulPlan | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const M = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const Ka = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (Ka !== Kb) return null; // let the original kernel produce its error
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  let outer: number[];
  try {
    outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  } catch {
    return null;
  }
  const batch = tf.util.sizeFromShape(outer);
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  // Only "same batch" or "one side has batch 1" is handled natively.
  if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) return null;
  if (batch === 0 || M === 0 || N === 0) return null;
  return {
    outShape: [...outer, M, N],
    batch,
    M,
    N,
    K: Ka,
    strideA: batchA === 1 ? 0 : M * Ka,
    strideB: batchB === 1 ? 0 : Ka * N,
  };
}

function runMatMul(addon: NativeAddon, mem: MemoryAccess, a: tf.TensorInfo, b: tf.TensorInfo,
  transA: boolean, transB: boolean, plan: MatMulPlan): { info: tf.TensorInfo; view: () => View } | null {
  if (!mem.input(a) || !mem.input(b)) return null;
  const out = mem.output(plan.outShape);
  // Views are taken after the output allocation (the wasm heap may have moved).
  const va = mem.input(a)!;
  const vb = mem.input(b)!;
  const vc = out.view();
  const { batch, M, N, K } = plan;
  addon.sgemmBatched(
    transA, transB, batch, M, N, K, 1,
    va.arr, va.off, plan.strideA, transA ? M : K,
    vb.arr, vb.off, plan.strideB, transB ? K : N,
    0,
    vc.arr, vc.off, M * N, N,
  );
  return out;
}

const ACTIVATIONS: Record<string, number> = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3, sigmoid: 4, elu: 5 };

// ----------------------------------------------------------- install / uninstall

interface Installed {
  originals: tf.KernelConfig[];
}

const installed = new Map<string, Installed>();
const stats: NativeKernelStats = { native: {}, delegated: {}, ms: {} };

function bump(which: Record<string, number>, name: string): void {
  which[name] = (which[name] ?? 0) + 1;
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

function makeBatchMatMul(addon: NativeAddon, original: tf.KernelConfig, backendName: string): tf.KernelFunc {
  const access = backendName === 'wasm' ? wasmAccess : cpuAccess;
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const transA = !!attrs.transposeA;
    const transB = !!attrs.transposeB;
    const mem = access(args.backend);
    const plan = mem ? planMatMul(a, b, transA, transB) : null;
    const out = mem && plan ? runMatMul(addon, mem, a, b, transA, transB, plan) : null;
    if (!out) {
      bump(stats.delegated, tf.BatchMatMul);
      return original.kernelFunc(args);
    }
    bump(stats.native, tf.BatchMatMul);
    return out.info;
  };
}

function makeFusedMatMul(addon: NativeAddon, original: tf.KernelConfig, backendName: string): tf.KernelFunc {
  const access = backendName === 'wasm' ? wasmAccess : cpuAccess;
  return (args: KernelArgs) => {
    const inputs = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean; activation?: string; leakyreluAlpha?: number };
    const transA = !!attrs.transposeA;
    const transB = !!attrs.transposeB;
    const act = ACTIVATIONS[attrs.activation ?? 'linear'];
    const mem = access(args.backend);
    let plan: MatMulPlan | null = null;
    let biasMode = 0; // 0 none, 1 scalar, N per column
    if (mem && act !== undefined && inputs.preluActivationWeights == null) {
      plan = planMatMul(inputs.a, inputs.b, transA, transB);
      if (plan && inputs.bias != null) {
        const bias = inputs.bias;
        const size = tf.util.sizeFromShape(bias.shape);
        const leadingOnes = bias.shape.slice(0, -1).every((d) => d === 1);
        if (bias.dtype !== 'float32' || bias.shape.length > plan.outShape.length || !mem.input(bias)) plan = null;
        else if (size === 1) biasMode = 1;
        else if (leadingOnes && bias.shape[bias.shape.length - 1] === plan.N) biasMode = plan.N;
        else plan = null;
      }
    }
    const out = mem && plan ? runMatMul(addon, mem, inputs.a, inputs.b, transA, transB, plan) : null;
    if (!out || !plan || !mem) {
      bump(stats.delegated, tf._FusedMatMul);
      return original.kernelFunc(args);
    }
    if (biasMode !== 0 || act !== 0) {
      const vc = out.view();
      const vb = biasMode !== 0 && inputs.bias ? mem.input(inputs.bias) : null;
      addon.biasAct(vc.arr, vc.off, plan.batch * plan.M, plan.N, vb ? vb.arr : null, vb ? vb.off : 0,
        vb ? biasMode : 0, act, attrs.leakyreluAlpha ?? 0.2);
    }
    bump(stats.native, tf._FusedMatMul);
    return out.info;
  };
}

function timed(name: string, f: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const t0 = performance.now();
    try {
      return f(args);
    } finally {
      stats.ms[name] = (stats.ms[name] ?? 0) + (performance.now() - t0);
    }
  };
}

/** Sum over one contiguous block of axes, natively; other cases go to the original kernel. */
function makeSum(addon: NativeAddon, original: tf.KernelConfig, backendName: string): tf.KernelFunc {
  const access = backendName === 'wasm' ? wasmAccess : cpuAccess;
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const attrs = (args.attrs ?? {}) as { axis?: number | number[]; keepDims?: boolean };
    const mem = access(args.backend);
    const rank = x.shape.length;
    const size = tf.util.sizeFromShape(x.shape);
    let axes: number[] | null = null;
    if (mem && x.dtype === 'float32' && size > 0 && rank > 0) {
      try {
        const all = x.shape.map((_, i) => i);
        axes = (attrs.axis == null ? all : tf.util.parseAxisParam(attrs.axis, x.shape)).sort((p, q) => p - q);
      } catch {
        axes = null;
      }
      // Only one contiguous block of reduced axes maps to [outer, mid, inner].
      if (axes && (axes.length === 0 || axes[axes.length - 1] - axes[0] !== axes.length - 1)) axes = null;
    }
    if (!mem || !axes || !mem.input(x)) {
      bump(stats.delegated, tf.Sum);
      return original.kernelFunc(args);
    }
    const outer = tf.util.sizeFromShape(x.shape.slice(0, axes[0]));
    const mid = tf.util.sizeFromShape(x.shape.slice(axes[0], axes[axes.length - 1] + 1));
    const inner = tf.util.sizeFromShape(x.shape.slice(axes[axes.length - 1] + 1));
    const reduced = new Set(axes);
    const outShape = attrs.keepDims
      ? x.shape.map((d, i) => (reduced.has(i) ? 1 : d))
      : x.shape.filter((_, i) => !reduced.has(i));
    const out = mem.output(outShape);
    const vx = mem.input(x)!;
    const vy = out.view();
    addon.sumAxis(vx.arr, vx.off, outer, mid, inner, vy.arr, vy.off);
    bump(stats.native, tf.Sum);
    return out.info;
  };
}

/** Elementwise exp on float32, vectorized natively (wasm's and cpu's are scalar). */
function makeExp(addon: NativeAddon, original: tf.KernelConfig, backendName: string): tf.KernelFunc {
  const access = backendName === 'wasm' ? wasmAccess : cpuAccess;
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const mem = access(args.backend);
    const n = tf.util.sizeFromShape(x.shape);
    if (!mem || x.dtype !== 'float32' || n === 0 || !mem.input(x)) {
      bump(stats.delegated, tf.Exp);
      return original.kernelFunc(args);
    }
    const out = mem.output(x.shape.slice());
    const vx = mem.input(x)!;
    const vy = out.view();
    addon.exp(vx.arr, vx.off, n, vy.arr, vy.off);
    bump(stats.native, tf.Exp);
    return out.info;
  };
}

interface RefCountingBackend {
  incRef(dataId: object): void;
}

/** wasm's Identity copies the tensor; share the data instead, as the cpu backend does. */
function makeIdentity(_addon: NativeAddon, original: tf.KernelConfig): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const b = args.backend as Partial<RefCountingBackend>;
    if (x.dtype === 'string' || typeof b.incRef !== 'function') return original.kernelFunc(args);
    b.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
  };
}

function report(addon: NativeAddon | null, kernels: string[]): KernelReport {
  if (!addon) return { native: false, isa: 'none', threads: 0, kernels: [] };
  const info = addon.info();
  return { native: kernels.length > 0, isa: info.isa, threads: info.threads, kernels };
}

/**
 * Replaces BatchMatMul, _FusedMatMul, Sum and Exp of `backendName` with
 * native-backed kernels (and, on wasm, Identity with a non-copying one). Safe to call before or after the backend is initialised (the
 * original setupFunc is kept), and idempotent. Returns what was installed;
 * `native: false` when the addon is unavailable (nothing is changed then).
 */
export function installNativeKernels(backendName: 'wasm' | 'cpu'): KernelReport {
  const addon = loadNative();
  if (!addon) return report(null, []);
  const existing = installed.get(backendName);
  if (existing) return report(addon, existing.originals.map((k) => k.kernelName));
  const originals: tf.KernelConfig[] = [];
  const builders: Record<string, (a: NativeAddon, o: tf.KernelConfig, b: string) => tf.KernelFunc> = {
    [tf.BatchMatMul]: makeBatchMatMul,
    [tf._FusedMatMul]: makeFusedMatMul,
    [tf.Sum]: makeSum,
    [tf.Identity]: makeIdentity,
    [tf.Exp]: makeExp,
  };
  const names = [tf.BatchMatMul, tf._FusedMatMul];
  if (typeof addon.sumAxis === 'function') names.push(tf.Sum);
  if (typeof addon.exp === 'function') names.push(tf.Exp);
  // cpu's Identity already shares data.
  if (backendName === 'wasm') names.push(tf.Identity);
  for (const name of names) {
    const original = tf.getKernel(name, backendName);
    if (!original) continue;
    try {
      tf.unregisterKernel(name, backendName);
      tf.registerKernel({
        kernelName: name,
        backendName,
        kernelFunc: timed(name, builders[name](addon, original, backendName)),
        setupFunc: original.setupFunc,
        disposeFunc: original.disposeFunc,
      });
      originals.push(original);
    } catch {
      // Put the original back if anything went wrong half-way.
      if (!tf.getKernel(name, backendName)) tf.registerKernel(original);
    }
  }
  if (originals.length > 0) installed.set(backendName, { originals });
  return report(addon, originals.map((k) => k.kernelName));
}

/** Restores the original kernels (of one backend, or of all). */
export function uninstallNativeKernels(backendName?: 'wasm' | 'cpu'): void {
  for (const [name, entry] of [...installed.entries()]) {
    if (backendName && name !== backendName) continue;
    for (const original of entry.originals) {
      if (tf.getKernel(original.kernelName, name)) tf.unregisterKernel(original.kernelName, name);
      tf.registerKernel(original);
    }
    installed.delete(name);
  }
}

/** Which backends currently have native kernels installed. */
export function nativeKernelsInstalled(): string[] {
  return [...installed.keys()];
}

/** Counters of native vs delegated calls since load (or since reset). */
export function nativeKernelStats(reset = false): NativeKernelStats {
  const copy: NativeKernelStats = { native: { ...stats.native }, delegated: { ...stats.delegated }, ms: { ...stats.ms } };
  if (reset) {
    stats.native = {};
    stats.delegated = {};
    stats.ms = {};
  }
  return copy;
}
