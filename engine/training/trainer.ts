// The object that runs AdamW steps on [B, T] batches, on one of four paths that the caller names:
//   native  the addon's NativeGPT (nativeAddon.ts), the whole step in C++ with AVX-512/AVX2/NEON/generic kernels
//   wasm    the same C++ compiled to WebAssembly with threads (compute/wasm.ts): relaxed SIMD (FMA) or SIMD128, every platform
//   webgpu  the same step as WGSL kernels on the GPU through Dawn (compute/webgpu/): any vendor, only when asked
//   tfjs    engine/model.ts's GPT in TensorFlow.js ops: the reference path, and the fast one on a GPU
// The choice is an argument (TrainerChoice), never a global: 'auto' takes native, then wasm, then tfjs (tfjs first
// when the backend passed in runs TensorFlow on a GPU). An explicit choice that cannot load is an InputError.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainSettings } from '../model/config';
import { tidyData, type GPT } from '../model/gpt';
import { lastNativeLoadError, loadNative, nativeGPTClass, nativePathName } from '../compute/addon';
import { NativeTrainer } from './compiledTrainer';
import { AdamW, type StepResult } from './adamw';
import { InputError } from '../common/errors';
import { lastWasmLoadError, loadWasmTrainer, wasmGPTClass, wasmTrainerInfo } from '../compute/wasm';
import { type BackendReport, TRAINER_CHOICES, type TrainerChoice, type TrainingPath } from '../protocol';
import { loadWebGpu, webGpuLoaded } from '../compute/webgpu/device';

export function isTrainerChoice(name: string): name is TrainerChoice {
  return (TRAINER_CHOICES as readonly string[]).includes(name);
}

/** TensorFlow's own kernels on a GPU beat the CPU trainers; auto then trains on tfjs. */
function onGpu(backend: BackendReport | null): boolean {
  return backend?.name === 'tensorflow' && /gpu|cuda/i.test(backend.detail);
}

/**
 * The path a choice trains on: an explicit one is itself; auto is tfjs on a GPU, else the native trainer when the addon
 * is built, else the wasm build (what the memory estimate assumes before the run; the constructor decides for real).
 * Auto never picks webgpu yet: the compute plan will, by adapter and model size (see README, GPU).
 */
export function expectedTrainingPath(choice: TrainerChoice, backend: BackendReport | null): TrainingPath {
  if (choice !== 'auto') return choice;
  return onGpu(backend) ? 'tfjs' : nativeGPTClass() ? 'native' : 'wasm';
}

/** Mean loss over fixed [B, T] batches on the tfjs model, without gradients or dropout. */
export function batchLoss(model: GPT, batches: { inputs: Int32Array; targets: Int32Array }[], B: number, T: number): number {
  let sum = 0;
  for (const { inputs, targets } of batches) {
    sum += tidyData(() => [model.loss(tf.tensor2d(inputs, [B, T], 'int32'), tf.tensor2d(targets, [B, T], 'int32'))])[0][0];
  }
  return sum / batches.length;
}

/** AdamW steps on [B, T] batches; the object the training loop and the benchmarks share. */
export class Trainer {
  private readonly optimizer: AdamW | null = null;
  private readonly native: NativeTrainer | null = null;
  readonly path: TrainingPath;
  /** Why auto did not train on a faster path (the native trainer, then the wasm one), in one line; null when it did. */
  readonly fallback: string | null = null;

  /**
   * Loads what the choice needs (the wasm build compiles and starts its workers, WebGPU finds its adapter and
   * self-checks, both asynchronously), then constructs. `backend` is the tfjs backend in use, for auto's GPU rule.
   */
  static async create(model: GPT, settings: TrainSettings, choice: TrainerChoice = 'auto',
    backend: BackendReport | null = null): Promise<Trainer> {
    if (choice === 'wasm' || (choice === 'auto' && !onGpu(backend) && !nativeGPTClass())) await loadWasmTrainer();
    if (choice === 'webgpu') await loadWebGpu();
    return new Trainer(model, settings, choice, backend);
  }

  /**
   * Synchronous: the wasm and webgpu paths are available here only once loadWasmTrainer() / loadWebGpu() have
   * resolved (Trainer.create does it).
   */
  constructor(readonly model: GPT, readonly settings: TrainSettings, choice: TrainerChoice = 'auto',
    backend: BackendReport | null = null) {
    if (choice === 'webgpu') {
      const gpu = webGpuLoaded();
      if (!gpu?.ok) throw new InputError(`trainer "webgpu" is not available: ${gpu?.reason ?? 'call loadWebGpu() first (Trainer.create does)'}`);
      this.native = NativeTrainer.create(model, settings, gpu.cls);
      this.path = 'webgpu';
      return;
    }
    const auto = choice === 'auto' && !onGpu(backend);
    let path: TrainingPath = 'tfjs';
    if (choice === 'native' || auto) {
      this.native = NativeTrainer.create(model, settings, nativeGPTClass());
      if (!this.native && choice === 'native') {
        throw new InputError(`trainer "native" is not available: ${lastNativeLoadError() ?? 'the addon has no NativeGPT'}`);
      }
      if (this.native) path = 'native';
    }
    if (!this.native && (choice === 'wasm' || auto)) {
      this.native = NativeTrainer.create(model, settings, wasmGPTClass({ liveParams: false }));
      if (!this.native && choice === 'wasm') {
        throw new InputError(`trainer "wasm" is not available: ${lastWasmLoadError() ?? 'call loadWasmTrainer() first (Trainer.create does)'}`);
      }
      if (this.native) path = 'wasm';
    }
    if (!this.native) this.optimizer = new AdamW(model, settings);
    this.path = path;
    if (auto && this.path !== 'native') {
      const native = lastNativeLoadError() ?? 'the addon has no NativeGPT';
      this.fallback = this.path === 'wasm' ? `native trainer unavailable: ${native}`
        : `native and wasm trainers unavailable: ${native}; ${lastWasmLoadError() ?? 'the wasm build is not loaded'}`;
    }
  }

  /** The path's name for people and the start event: native-avx512, native-avx2, native-neon, wasm-fma, wasm-simd, webgpu, tfjs-wasm, ... */
  get name(): string {
    if (this.path === 'native') return nativePathName(loadNative()?.info().isa ?? 'generic');
    if (this.path === 'wasm') return wasmTrainerInfo()?.name ?? 'wasm-simd';
    if (this.path === 'webgpu') return 'webgpu';
    return `tfjs-${tf.getBackend()}`;
  }

  /**
   * For people, one line: "native-avx512, 2 threads", "wasm-fma, 2 threads", "tfjs-wasm", or the adapter for webgpu
   * ("webgpu: nvidia NVIDIA H200 (GPU)"), then why auto fell back when it did ("wasm-fma, 2 threads, native trainer
   * unavailable: ..."). The path's name comes before the first comma.
   */
  describe(): string {
    if (this.path === 'webgpu') {
      const gpu = webGpuLoaded();
      return gpu?.ok ? gpu.report : this.name;
    }
    const parts = [this.name];
    if (this.native) {
      const max = this.path === 'native' ? loadNative()?.info().maxThreads : wasmTrainerInfo()?.maxThreads;
      const threads = this.native.threads || max || 1;
      parts.push(`${threads} thread${threads === 1 ? '' : 's'}`);
    }
    if (this.fallback) parts.push(this.fallback);
    return parts.join(', ');
  }

  async step(inputs: Int32Array, targets: Int32Array): Promise<StepResult> {
    const B = this.settings.batchSize, T = inputs.length / B;
    if (!Number.isInteger(T) || T > this.model.config.contextLength || targets.length !== inputs.length) {
      throw new Error(`batch of ${inputs.length} tokens does not fit B=${B}, T<=${this.model.config.contextLength}`);
    }
    return this.native ? this.native.step(inputs, targets, B, T) : this.optimizer!.step(inputs, targets, B, T);
  }

  /** Mean loss over fixed [B, T] batches, without gradients or dropout. */
  async loss(batches: { inputs: Int32Array; targets: Int32Array }[], B: number, T: number): Promise<number> {
    return this.native ? this.native.loss(batches, B, T) : batchLoss(this.model, batches, B, T);
  }

  /** Brings the model's weights up to date (the compiled paths train a copy of them; WebGPU's is on the device). */
  async syncModel(): Promise<void> {
    await this.native?.syncModel();
  }

  dispose(): void {
    this.optimizer?.dispose();
    this.native?.dispose();
  }
}
