// The compute plan: which implementation runs each kind of work in one engine, decided once when the engine starts
// (the engine process's `init`, the CLI's start) and handed to the trainer, the decoder (KV cache) and the probes.
// The rest of the engine asks the plan; only this file knows the rule behind each answer. The loaders it calls
// (addon.ts, wasm.ts, webgpu/device.ts) load once and cache; the choice among them is made here.
//
// A new compute path is one new file in compute/ (its loader and its class with the GPTHandle interface of addon.ts)
// and one entry in `resolveTraining` below.
import type { GPTConfig } from '../model/config';
import type { MatMulMode } from '../model/gpt';
import { InputError } from '../common/errors';
import { addonIsa, lastNativeLoadError, loadNative, nativeGPTClass, type GPTConstructor, type NativeAddon,
  type NativeGPTConstructor } from './addon';
import { matMulModeFor, selectBackend } from './tfjsBackend';
import { lastWasmLoadError, loadWasmTrainer, wasmGPTClass, wasmTrainerInfo } from './wasm';
import { loadWebGpu } from './webgpu/device';
import { type BackendReport, type BackendRequest, type TrainerChoice, type TrainingPathInfo } from '../protocol';

/** What a person asked for: the `--backend` and `--trainer` flags, the `gptLab.backend` and `gptLab.trainer` settings. */
export interface ComputeRequest {
  backend: BackendRequest;
  trainer: TrainerChoice;
  /** false: no native code at all, as GPTLAB_NATIVE=0 (the benchmarks' stock tfjs side); default: the addon when it loads. */
  native?: boolean;
}

/** The size of one training step, for the rule that sends large models to the GPU. */
export interface StepShape {
  config: GPTConfig;
  parameters: number;
  batchSize: number;
}

/**
 * Work of one training step in GFLOP: 6·P·B·T for the weights (forward and backward) and 12·N·B·T²·D for attention's
 * two products (each 2·B·T²·D per layer forward, twice that backward).
 */
export function stepGflop(s: StepShape): number {
  const { contextLength: T, layers: N, dim: D } = s.config, B = s.batchSize;
  return (6 * s.parameters * B * T + 12 * N * B * T * T * D) / 1e9;
}

/**
 * The step size from which `auto` trains on a hardware GPU adapter instead of the CPU: unknown until the GPU bench
 * (bench/webgpu.js) has run on a machine with a GPU, so for now auto never picks webgpu.
 */
export const WEBGPU_AUTO_MIN_GFLOP_PER_STEP = Number.POSITIVE_INFINITY;

/** A training path the plan resolved: what to construct, and how people are told. */
export interface TrainingChoice {
  info: TrainingPathInfo;
  /** The compiled class to train with; null for tfjs (training/adamw.ts). */
  cls: GPTConstructor | null;
}

export class ComputePlan {
  private constructor(
    readonly request: ComputeRequest,
    /** tfjs: probes, the reference path, the tfjs trainer. */
    readonly backend: BackendReport,
    /** The N-API addon when it loaded and passed its self-check (null with GPTLAB_NATIVE=0): kernels, decoder, trainer. */
    readonly addon: NativeAddon | null,
  ) {}

  /**
   * Selects the tfjs backend (and with it the native kernels) and loads the addon, or without it the wasm build (which
   * then decodes); the training path waits for the first run.
   */
  static async create(request: ComputeRequest): Promise<ComputePlan> {
    const addon = request.native === false ? null : loadNative();
    const backend = await selectBackend(request.backend, { native: addon !== null });
    if (!addon) await loadWasmTrainer();
    return new ComputePlan(request, backend, addon);
  }

  /** How the tfjs GPT multiplies (model/gpt.ts): what the kernels under this backend run fastest. */
  get matmul(): MatMulMode {
    return matMulModeFor(this.backend);
  }

  /** The compiled class that decodes (KV cache, window scoring): the addon's, else the wasm build's; null: the typed-array reference. */
  get decoderClass(): NativeGPTConstructor | null {
    return nativeGPTClass(this.addon) ?? wasmGPTClass();
  }

  /**
   * The training path for a step of this shape: an explicit choice, loaded and self-checked, or an InputError saying
   * why it cannot run; `auto` by the one rule: tfjs when TensorFlow runs on a GPU, webgpu on a hardware adapter for a
   * step of WEBGPU_AUTO_MIN_GFLOP_PER_STEP or more, else the native trainer, else the wasm build, else tfjs.
   */
  async training(step: StepShape): Promise<TrainingChoice> {
    const choice = this.request.trainer;
    if (choice === 'native') return this.native() ?? unavailable('native', lastNativeLoadError() ?? 'the addon has no NativeGPT');
    if (choice === 'wasm') return (await this.wasm()) ?? unavailable('wasm', lastWasmLoadError() ?? 'the wasm build did not load');
    if (choice === 'webgpu') {
      const gpu = await loadWebGpu();
      return gpu.ok ? webGpuChoice(gpu) : unavailable('webgpu', gpu.reason);
    }
    if (choice === 'tfjs' || tensorflowOnGpu(this.backend)) return this.tfjs();
    if (stepGflop(step) >= WEBGPU_AUTO_MIN_GFLOP_PER_STEP) {
      const gpu = await loadWebGpu();
      if (gpu.ok && !gpu.adapter.software) return webGpuChoice(gpu);
    }
    const native = this.native();
    if (native) return native;
    const why = `native trainer unavailable: ${lastNativeLoadError() ?? 'the addon has no NativeGPT'}`;
    const wasm = await this.wasm();
    if (wasm) return { ...wasm, info: { ...wasm.info, fallback: why } };
    return { ...this.tfjs(), info: { ...this.tfjs().info, fallback: `${why}; wasm trainer unavailable: ${lastWasmLoadError() ?? 'not loaded'}` } };
  }

  private native(): TrainingChoice | null {
    const cls = nativeGPTClass(this.addon);
    if (!cls || !this.addon) return null;
    const info = this.addon.info();
    return { cls, info: { path: 'native', isa: addonIsa(info.isa), threads: info.maxThreads } };
  }

  private async wasm(): Promise<TrainingChoice | null> {
    await loadWasmTrainer();
    const cls = wasmGPTClass({ liveParams: false }), info = wasmTrainerInfo();
    return cls && info ? { cls, info: { path: 'wasm', isa: info.name.replace(/^wasm-/, ''), threads: info.maxThreads } } : null;
  }

  private tfjs(): TrainingChoice {
    return { cls: null, info: { path: 'tfjs', isa: this.backend.name, threads: 0 } };
  }
}

/** TensorFlow's own kernels on a GPU beat the CPU trainers. */
function tensorflowOnGpu(backend: BackendReport): boolean {
  return backend.name === 'tensorflow' && /gpu|cuda/i.test(backend.detail);
}

function webGpuChoice(gpu: Extract<Awaited<ReturnType<typeof loadWebGpu>>, { ok: true }>): TrainingChoice {
  return { cls: gpu.cls, info: { path: 'webgpu', isa: gpu.adapter.software ? 'software' : 'gpu', threads: 0,
    adapter: `${gpu.adapter.vendor} ${gpu.adapter.name}` } };
}

function unavailable(path: string, why: string): never {
  throw new InputError(`trainer "${path}" is not available: ${why}`);
}
