// The compiled training paths: the whole step (forward, backward, clipped AdamW) in a compiled class with the
// GPTHandle interface (the native addon's NativeGPT, the wasm build's WasmGPT, or the WebGPU trainer's WebGpuGPT,
// whose calls answer with promises), on one flat Float32Array of the parameters in the model file's order and PyTorch
// layouts. The tfjs GPT (model/gpt.ts) stays the reference path and the model that probes, sampling and saving read;
// syncModel() copies the trained weights into it.
import { OUT_OF_MEMORY_CODE, type GPTConstructor, type GPTHandle } from '../compute/addon';
import type { GPT } from '../model/gpt';
import { flatLayout, flattenWeights, unflatten, type FlatLayout } from '../model/flatLayout';
import { adamwStep, type OptimSettings, type StepResult } from './adamw';
import { InputError } from '../common/errors';

/**
 * Runs a compiled trainer's call, synchronous or not; a model or batch too large for the machine (or the GPU) becomes
 * a one-line InputError that says how much.
 */
async function compiled<R>(call: () => R | Promise<R>): Promise<R> {
  try {
    return await call();
  } catch (e) {
    throw outOfMemory(e);
  }
}

function outOfMemory(e: unknown): unknown {
  return (e as { code?: unknown }).code === OUT_OF_MEMORY_CODE ? new InputError(`${(e as Error).message}; use a smaller model, batch or context`) : e;
}

/**
 * Trains a GPT on a compiled class: AdamW exactly as adamw.ts's (the same schedule, clipping and update order), with
 * the parameters, gradients and moments in the class's memory. The tfjs model is stale while training runs;
 * syncModel() brings it up to date.
 */
export class CompiledTrainer {
  private readonly layout: FlatLayout;
  private readonly params: Float32Array;
  private readonly handle: GPTHandle;
  private t = 0; // completed updates
  private dirty = false; // the tfjs model lags behind params
  private lastThreads = 0;

  constructor(private readonly model: GPT, private readonly s: OptimSettings, cls: GPTConstructor) {
    this.layout = flatLayout(model.config);
    this.params = flattenWeights(model, this.layout);
    try {
      this.handle = new cls(model.config, this.layout.slots, this.params);
    } catch (e) {
      throw outOfMemory(e);
    }
  }

  /** One AdamW step; a step whose loss or gradient norm is not finite changes nothing. */
  async step(inputs: Int32Array, targets: Int32Array, B: number, T: number): Promise<StepResult> {
    const step = adamwStep(this.s, this.t);
    const r = await compiled(() => this.handle.step(inputs, targets, B, T, step));
    this.lastThreads = r.threads;
    if (r.applied) {
      this.t += 1;
      this.dirty = true;
    }
    return { loss: r.loss, gradNorm: r.gradNorm, lr: step.lr, applied: r.applied };
  }

  /** Mean loss over batches of [B, T] ids, without gradients or dropout. */
  async loss(batches: { inputs: Int32Array; targets: Int32Array }[], B: number, T: number): Promise<number> {
    let sum = 0;
    for (const { inputs, targets } of batches) sum += await compiled(() => this.handle.loss(inputs, targets, B, T));
    return sum / batches.length;
  }

  /** Threads the last step used (0 before the first step). */
  get threads(): number {
    return this.lastThreads;
  }

  /** Makes the tfjs model's weights the trained ones. */
  async syncModel(): Promise<void> {
    if (!this.dirty) return;
    await this.handle.syncParams?.();
    this.model.setWeights(unflatten(this.params, this.layout));
    this.dirty = false;
  }

  dispose(): void {
    this.handle.dispose();
  }
}
