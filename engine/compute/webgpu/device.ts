// The one door to the GPU: finding Dawn's Node binding (the npm package `webgpu`, an optional dependency), asking it
// for an adapter and a device, checking that GPU memory can be read back in this runtime, and self-checking the
// WebGPU trainer on the tiny known step every compiled trainer runs. Resolves to the trainer class and a one-line
// report of the adapter, or to a one-line reason why there is none. Nothing else in the engine loads dawn.node.
import * as path from 'node:path';
import { packageFile, runSelfCheckAsync, type AsyncGPTConstructor } from '../addon';
import type { GPTConfig } from '../../model/config';
import { GpuContext } from './context';
import { type Gpu, type GpuAdapter, type GpuAdapterInfo, type GpuDevice } from './gpuTypes';
import { WebGpuGPT } from './gpt';

export interface AdapterReport {
  vendor: string;
  /** The adapter's own description ("NVIDIA H200", "llvmpipe (LLVM 15.0.6, 256 bits)"). */
  name: string;
  /** A CPU rasteriser (llvmpipe/lavapipe, SwiftShader, WARP) rather than a GPU. */
  software: boolean;
}

export type WebGpuLoad =
  | { ok: true; cls: AsyncGPTConstructor; adapter: AdapterReport; report: string }
  | { ok: false; reason: string };

/** Dawn's folder in the `webgpu` package for this platform: one per platform-arch, one universal build for macOS. */
export function dawnPlatformDir(platform: string = process.platform, arch: string = process.arch): string {
  return platform === 'darwin' ? 'darwin-universal' : `${platform}-${arch}`;
}

/** Dawn's build in the `webgpu` package, relative to the package root (a checkout after npm install). */
export function dawnRel(platform?: string, arch?: string): string {
  return path.join('node_modules', 'webgpu', 'dist', dawnPlatformDir(platform, arch), 'dawn.node');
}

/** Where a platform VSIX carries it (scripts/package.js copies it there: vsce leaves node_modules out). */
export function packagedDawnRel(platform?: string, arch?: string): string {
  return path.join('native', 'webgpu', dawnPlatformDir(platform, arch), 'dawn.node');
}

/** The binding to load: GPTLAB_WEBGPU_PATH when set, else a packaged copy, else the `webgpu` package's. */
export function findDawn(): string | null {
  const override = process.env.GPTLAB_WEBGPU_PATH;
  if (override) return path.resolve(override);
  return packageFile(packagedDawnRel()) ?? packageFile(dawnRel());
}

/** Whether an adapter is a software rasteriser: what WebGPU says, and the names of the known ones. */
export function isSoftwareAdapter(info: GpuAdapterInfo): boolean {
  return info.isFallbackAdapter === true || /^(software|cpu)$/i.test(info.architecture) ||
    /llvmpipe|lavapipe|swiftshader|\bwarp\b|basic render/i.test(`${info.device} ${info.description}`);
}

export function describeAdapter(info: GpuAdapterInfo): AdapterReport {
  const name = (info.description || info.device || 'unknown adapter').replace(/\s+/g, ' ').trim();
  return { vendor: info.vendor || 'unknown vendor', name, software: isSoftwareAdapter(info) };
}

/** "webgpu: mesa llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) (software)": the line people see. */
export function reportLine(a: AdapterReport): string {
  return `webgpu: ${a.vendor} ${a.name} (${a.software ? 'software' : 'GPU'})`;
}

// Dawn's GPU object must stay referenced while any device it made lives: dropping it gives segfaults once the
// garbage collector runs. It and the device live as long as the process.
let keepAlive: { gpu: Gpu; device: GpuDevice; context: GpuContext } | null = null;
let loading: Promise<WebGpuLoad> | null = null;
let loaded: WebGpuLoad | null = null;

/** Settles the promise or rejects after the deadline: a driver that never answers is a reason, not a hang. */
async function within<T>(p: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${Math.round(ms / 1000)} s`)), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

const ADAPTER_DEADLINE_MS = 30_000;

/** Reads a few known floats back from GPU memory: the V8 sandbox (Electron) refuses Dawn's mapped buffers. */
async function readbackProblem(context: GpuContext): Promise<string | null> {
  const want = Float32Array.from([1.5, -2.25, 3e-38, 65504, 0.1, -0, 7, 1e30]);
  const buffer = context.storage(want.length, 'the readback check');
  try {
    context.device.queue.writeBuffer(buffer, 0, want);
    const [got] = await context.run(null, [{ buffer, bytes: want.byteLength }], 'the readback check');
    const back = new Float32Array(got);
    for (let i = 0; i < want.length; i++) {
      if (!Object.is(back[i], want[i])) return `reading GPU memory back gave ${back[i]} instead of ${want[i]}`;
    }
    return null;
  } catch (e) {
    return `reading GPU memory back failed (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
  } finally {
    buffer.destroy();
  }
}

async function load(): Promise<WebGpuLoad> {
  if (process.env.GPTLAB_WEBGPU === '0') return { ok: false, reason: 'disabled by GPTLAB_WEBGPU=0' };
  const file = findDawn();
  if (!file) {
    return { ok: false, reason: `the webgpu package is not installed (neither ${packagedDawnRel()}, which a platform VSIX carries, ` +
      `nor ${dawnRel()} was found)` };
  }
  let create: (flags: string[]) => Gpu;
  try {
    // process.dlopen instead of require: bundlers leave it alone, and the package itself is an ES module.
    const mod: { exports: { create?: unknown } } = { exports: {} };
    process.dlopen(mod, file);
    if (typeof mod.exports.create !== 'function') return { ok: false, reason: `${file} is not Dawn's Node binding` };
    create = mod.exports.create as (flags: string[]) => Gpu;
  } catch (e) {
    return { ok: false, reason: `${path.basename(path.dirname(file))}/dawn.node: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}` };
  }
  const gpu = create([]);
  const adapter: GpuAdapter | null = await within(gpu.requestAdapter({ powerPreference: 'high-performance' }), 'the WebGPU adapter',
    ADAPTER_DEADLINE_MS);
  if (!adapter) {
    return { ok: false, reason: 'no WebGPU adapter (no GPU driver with Vulkan, Metal or D3D12, nor Mesa >= 25 for a software one)' };
  }
  const report = describeAdapter(adapter.info);
  // A model's largest tensor decides what it needs; ask for all the adapter can bind.
  const device = await within(adapter.requestDevice({
    label: 'gpt-lab',
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  }), 'the WebGPU device', ADAPTER_DEADLINE_MS);
  const context = new GpuContext(device);
  keepAlive = { gpu, device, context };
  const problem = await readbackProblem(context);
  if (problem) return { ok: false, reason: `${reportLine(report)}: ${problem}` };
  const cls = class extends WebGpuGPT {
    constructor(shape: GPTConfig, offsets: Float64Array, params: Float32Array) {
      super(context, shape, offsets, params);
    }
  };
  const failed = await runSelfCheckAsync(cls, 'webgpu');
  if (failed) return { ok: false, reason: `${reportLine(report)} refused: ${failed}` };
  return { ok: true, cls, adapter: report, report: reportLine(report) };
}

/**
 * Loads the WebGPU trainer once: resolves (never rejects) to its class and adapter report, or to the reason it is
 * unavailable: GPTLAB_WEBGPU=0, no `webgpu` package, no adapter, a runtime that cannot read GPU memory back, or a
 * failed self-check.
 */
export function loadWebGpu(): Promise<WebGpuLoad> {
  loading ??= load().catch((e: unknown) => ({ ok: false as const, reason: e instanceof Error ? e.message.split('\n')[0] : String(e) }))
    .then((r) => {
      loaded = r;
      return r;
    });
  return loading;
}

/** The result of loadWebGpu() once it has settled, else null. */
export function webGpuLoaded(): WebGpuLoad | null {
  return loaded;
}

/** The device in use, for tests and the bench (null before loadWebGpu() has found one). */
export function webGpuContext(): GpuContext | null {
  return keepAlive?.context ?? null;
}
