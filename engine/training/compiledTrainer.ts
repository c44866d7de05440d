// The fast CPU training path: the whole step (forward, backward, clipped AdamW) in a compiled NativeGPT (the native
// addon's, or the wasm build's WasmGPT with the same interface), on one flat Float32Array of the parameters in the model file's order and PyTorch layouts. The tfjs GPT (model.ts)
// stays the reference path and the model that probes, sampling and saving read; syncModel() copies the trained
// weights into it.
import type { TrainSettings } from '../model/config';
import { nativeGPTClass, OUT_OF_MEMORY_CODE, type NativeGPTConstructor, type NativeGPTHandle } from '../compute/addon';
import type { GPT } from '../model/gpt';
import { flatLayout, flattenWeights, unflatten, type FlatLayout } from '../model/flatLayout';
import { learningRateAt, type OptimSettings, type StepResult } from './adamw';
import { InputError } from '../common/errors';

/** Runs a native call; a model or batch too large for the machine becomes a one-line InputError that says how much. */
function native<R>(call: () => R): R {
  try {
    return call();
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
  private readonly native: NativeGPTHandle;
  private t = 0; // completed updates
  private dirty = false; // the tfjs model lags behind params
  private lastThreads = 0;
  /** The wasm build: it trains a copy of the parameters, which syncParams() brings back (NativeTrainer.params). */
  readonly wasm: boolean;

  private constructor(private readonly model: GPT, private readonly s: OptimSettings & Pick<TrainSettings, 'seed'>,
    cls: NativeGPTConstructor) {
    this.layout = flatLayout(model.config);
    this.params = flattenWeights(model, this.layout);
    this.native = native(() => new cls(model.config, this.layout.slots, this.params));
    this.wasm = !!this.native.syncParams;
  }

  /** A trainer for the model on a NativeGPT class (the addon's, or wasmTrainer.ts's), or null without one. */
  static create(model: GPT, settings: OptimSettings & Pick<TrainSettings, 'seed'>,
    cls: NativeGPTConstructor | null = nativeGPTClass()): NativeTrainer | null {
    return cls ? new NativeTrainer(model, settings, cls) : null;
  }

  /** One AdamW step; a step whose loss or gradient norm is not finite changes nothing. */
  step(inputs: Int32Array, targets: Int32Array, B: number, T: number): StepResult {
    const lr = learningRateAt(this.s, this.t);
    const r = native(() => this.native.step(inputs, targets, B, T, {
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
  loss(batches: { inputs: Int32Array; targets: Int32Array }[], B: number, T: number): number {
    let sum = 0;
    for (const { inputs, targets } of batches) sum += native(() => this.native.loss(inputs, targets, B, T));
    return sum / batches.length;
  }

  /** Threads the last step used. */
  get threads(): number {
    return this.lastThreads;
  }

  /** Makes the tfjs model's weights the trained ones. */
  syncModel(): void {
    if (!this.dirty) return;
    this.native.syncParams?.();
    this.model.setWeights(unflatten(this.params, this.layout));
    this.dirty = false;
  }

  dispose(): void {
    this.native.dispose();
  }
}
