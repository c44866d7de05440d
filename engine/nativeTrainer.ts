// The fast CPU training path: the whole step (forward, backward, clipped AdamW) in the native addon's NativeGPT, on
// one flat Float32Array of the parameters in the model file's order and PyTorch layouts. The tfjs GPT (model.ts)
// stays the reference path and the model that probes, sampling and saving read; syncModel() copies the trained
// weights into it.
import type { GPTConfig, TrainSettings } from './config';
import { loadNative, type NativeAddon } from './kernels';
import type { GPT } from './model';
import { learningRateAt, type OptimSettings, type StepResult } from './optim';
import { paramSpecs } from './params';
import { InputError } from './text';

/** The addon's NativeGPT class (native/src/gpt_napi.cc). Ids are model ids; batches are [B, T] row-major. */
export interface NativeGPTHandle {
  loss(inputs: Int32Array, targets: Int32Array, B: number, T: number): number;
  /** With a nonzero seed, a training forward: dropout on, its masks drawn from the seed. */
  lossAndGradients(inputs: Int32Array, targets: Int32Array, B: number, T: number, seed?: number): number;
  /** A copy of the gradients of the last lossAndGradients or step, laid out like the parameters. */
  gradients(): Float32Array;
  step(inputs: Int32Array, targets: Int32Array, B: number, T: number, settings: NativeStepSettings):
    { loss: number; gradNorm: number; applied: boolean; threads: number };
  forward(inputs: Int32Array, B: number, T: number): void;
  /** Of the last forward: logits [B, T, V], attention of layer l [B, H, T, T], residual stream entering layer l [B, T, D]. */
  logits(): Float32Array;
  attention(layer: number): Float32Array;
  residual(layer: number): Float32Array;
  /** Threads per step; 0 (the default) times whole steps and picks between all threads and one. */
  setThreads(n: number): void;
  dispose(): void;
}

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

export type NativeGPTConstructor = new (shape: GPTConfig, offsets: Float64Array, params: Float32Array) => NativeGPTHandle;

/** The addon's NativeGPT class, or null when the addon is missing, disabled (GPTLAB_NATIVE=0) or too old. */
export function nativeGPTClass(addon: NativeAddon | null = loadNative()): NativeGPTConstructor | null {
  const cls = (addon as { NativeGPT?: unknown } | null)?.NativeGPT;
  return typeof cls === 'function' ? (cls as NativeGPTConstructor) : null;
}

// Slot order of native/src/gpt.h: GlobalTensor, then LayerTensor per layer.
const GLOBAL_SLOTS = ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.ln_f.weight', 'transformer.ln_f.bias',
  'lm_head.weight', 'lm_head.bias'];
const LAYER_SLOTS = ['ln_1.weight', 'ln_1.bias', 'attn.c_attn.weight', 'attn.c_attn.bias', 'attn.c_proj.weight',
  'attn.c_proj.bias', 'ln_2.weight', 'ln_2.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias', 'mlp.c_proj.weight', 'mlp.c_proj.bias'];

export interface FlatLayout {
  /** Where each tensor starts in the flat buffer, by nanoGPT name, in paramSpecs order. */
  offsets: Map<string, { offset: number; size: number }>;
  /** The native slot table: GLOBAL_SLOTS then LAYER_SLOTS per layer, -1 for absent tensors. */
  slots: Float64Array;
  size: number;
}

/** The flat layout of a config's parameters: paramSpecs order, PyTorch shapes, back to back. */
export function flatLayout(config: GPTConfig): FlatLayout {
  const offsets = new Map<string, { offset: number; size: number }>();
  let size = 0;
  for (const spec of paramSpecs(config)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    offsets.set(spec.name, { offset: size, size: n });
    size += n;
  }
  const names = [...GLOBAL_SLOTS];
  for (let l = 0; l < config.layers; l++) for (const s of LAYER_SLOTS) names.push(`transformer.h.${l}.${s}`);
  const slots = Float64Array.from(names, (name) => offsets.get(name)?.offset ?? -1);
  return { offsets, slots, size };
}

/** Copies a model's weights into one flat buffer (PyTorch layouts). */
export function flattenWeights(model: GPT, layout: FlatLayout): Float32Array {
  const flat = new Float32Array(layout.size);
  for (const [name, t] of model.toTensors()) flat.set(t.data, layout.offsets.get(name)!.offset);
  return flat;
}

/** The tensors of a flat buffer, by name (views, not copies). */
export function unflatten(flat: Float32Array, layout: FlatLayout): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, { offset, size }] of layout.offsets) out.set(name, flat.subarray(offset, offset + size));
  return out;
}

/** The addon's error.code for "needs more memory than this machine has". */
const OUT_OF_MEMORY = 'ERR_GPTLAB_OUT_OF_MEMORY';

/** Runs a native call; a model or batch too large for the machine becomes a one-line InputError that says how much. */
function native<R>(call: () => R): R {
  try {
    return call();
  } catch (e) {
    if ((e as { code?: unknown }).code === OUT_OF_MEMORY) {
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

  private constructor(private readonly model: GPT, private readonly s: OptimSettings & Pick<TrainSettings, 'seed'>,
    cls: NativeGPTConstructor) {
    this.layout = flatLayout(model.config);
    this.params = flattenWeights(model, this.layout);
    this.native = native(() => new cls(model.config, this.layout.slots, this.params));
  }

  /** A native trainer for the model, or null when the addon is not available. */
  static create(model: GPT, settings: OptimSettings & Pick<TrainSettings, 'seed'>): NativeTrainer | null {
    const cls = nativeGPTClass();
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
    this.model.setWeights(unflatten(this.params, this.layout));
    this.dirty = false;
  }

  dispose(): void {
    this.native.dispose();
  }
}
