// The compiled training paths: the whole step (forward, backward, clipped AdamW) in a compiled NativeGPT (the native
// addon's, the wasm build's WasmGPT, or the WebGPU trainer's WebGpuGPT, whose calls answer with promises), on one flat
// Float32Array of the parameters in the model file's order and PyTorch layouts. The tfjs GPT (model.ts) stays the
// reference path and the model that probes, sampling and saving read; syncModel() copies the trained weights into it.
import type { TrainSettings } from '../model/config';
import { nativeGPTClass, OUT_OF_MEMORY_CODE, type GPTConstructor, type GPTHandle } from '../compute/addon';
import type { GPT } from '../model/gpt';
import { flatLayout, flattenWeights, unflatten, type FlatLayout } from '../model/flatLayout';
import { learningRateAt, type OptimSettings, type StepResult } from './adamw';
import { InputError } from '../common/errors';

/**
 * Runs a compiled trainer's call, synchronous or not; a model or batch too large for the machine (or the GPU) becomes
 * a one-line InputError that says how much.
 */
async function native<R>(call: () => R | Promise<R>): Promise<R> {
  try {
    return await call();
  } catch (e) {
    if ((e as { code?: unknown }).code === OUT_OF_MEMORY_CODE) {
      throw new InputError(`${(e as Error).message}; use a smaller model, batch or context`);
    }
    throw e;
  }
}

/**
 * Trains a GPT natively: AdamW exactly as optim.ts's (the same schedule, clipping and update order), with the
 * parameters, gradients and moments in native memory. The tfjs model is stale while training runs; syncModel()
 * brings it up to date.
 */
export class NativeTrainer {
  private readonly layout: FlatLayout;
  private readonly params: Float32Array;
  private readonly native: GPTHandle;
  private t = 0; // completed updates
  private dirty = false; // the tfjs model lags behind params
  private lastThreads = 0;

  private constructor(private readonly model: GPT, private readonly s: OptimSettings & Pick<TrainSettings, 'seed'>,
    cls: GPTConstructor) {
    this.layout = flatLayout(model.config);
    this.params = flattenWeights(model, this.layout);
    try {
      this.native = new cls(model.config, this.layout.slots, this.params);
    } catch (e) {
      if ((e as { code?: unknown }).code === OUT_OF_MEMORY_CODE) throw new InputError(`${(e as Error).message}; use a smaller model, batch or context`);
      throw e;
    }
  }

  /**
   * A trainer for the model on a compiled class (the addon's NativeGPT, wasm.ts's WasmGPT, webgpu's WebGpuGPT), or
   * null without one.
   */
  static create(model: GPT, settings: OptimSettings & Pick<TrainSettings, 'seed'>,
    cls: GPTConstructor | null = nativeGPTClass()): NativeTrainer | null {
    return cls ? new NativeTrainer(model, settings, cls) : null;
  }

  /** One AdamW step; a step whose loss or gradient norm is not finite changes nothing. */
  async step(inputs: Int32Array, targets: Int32Array, B: number, T: number): Promise<StepResult> {
    const lr = learningRateAt(this.s, this.t);
    const r = await native(() => this.native.step(inputs, targets, B, T, {
      lr, beta1: this.s.beta1, beta2: this.s.beta2, eps: this.s.eps, weightDecay: this.s.weightDecay,
      gradClip: this.s.gradClip, t: this.t + 1, seed: (this.s.seed >>> 0) * 2 ** 20 + ((this.t + 1) % 2 ** 20),
    }));
    this.lastThreads = r.threads;
    if (r.applied) {
      this.t += 1;
      this.dirty = true;
    }
    return { loss: r.loss, gradNorm: r.gradNorm, lr, applied: r.applied };
  }

  /** Mean loss over batches of [B, T] ids, without gradients or dropout. */
  async loss(batches: { inputs: Int32Array; targets: Int32Array }[], B: number, T: number): Promise<number> {
    let sum = 0;
    for (const { inputs, targets } of batches) sum += await native(() => this.native.loss(inputs, targets, B, T));
    return sum / batches.length;
  }

  /** Threads the last step used. */
  get threads(): number {
    return this.lastThreads;
  }

  /** Makes the tfjs model's weights the trained ones. */
  async syncModel(): Promise<void> {
    if (!this.dirty) return;
    await this.native.syncParams?.();
    this.model.setWeights(unflatten(this.params, this.layout));
    this.dirty = false;
  }

  dispose(): void {
    this.native.dispose();
  }
}
