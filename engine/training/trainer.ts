// The object that runs AdamW steps on [B, T] batches, on the path the compute plan resolved (compute/plan.ts):
//   native  the addon's NativeGPT (compute/addon.ts), the whole step in C++ with AVX-512/AVX2/NEON/generic kernels
//   wasm    the same C++ compiled to WebAssembly with threads (compute/wasm.ts): relaxed SIMD (FMA) or SIMD128, every platform
//   webgpu  the same step as WGSL kernels on the GPU through Dawn (compute/webgpu/): any vendor
//   tfjs    model/gpt.ts's GPT in TensorFlow.js ops with adamw.ts's AdamW: the reference path, and the fast one on a GPU
// The first three are one CompiledTrainer over the class the plan gives; which one runs is the plan's choice.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainSettings } from '../model/config';
import { tidyData, type GPT } from '../model/gpt';
import type { ComputePlan, TrainingChoice } from '../compute/plan';
import { CompiledTrainer } from './compiledTrainer';
import { AdamW, type StepResult } from './adamw';
import { type TrainingPathInfo } from '../protocol';

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
  private readonly compiled: CompiledTrainer | null = null;

  /** A trainer on the path the plan resolves for this model and batch. */
  static async create(model: GPT, settings: TrainSettings, plan: ComputePlan): Promise<Trainer> {
    return new Trainer(model, settings, await plan.training({ config: model.config, parameters: model.parameterCount, batchSize: settings.batchSize }));
  }

  constructor(readonly model: GPT, readonly settings: TrainSettings, private readonly choice: TrainingChoice) {
    if (choice.cls) this.compiled = new CompiledTrainer(model, settings, choice.cls);
    else this.optimizer = new AdamW(model, settings);
  }

  /** The path, with the threads its last step used (the pool's size before the first). */
  get info(): TrainingPathInfo {
    const threads = this.compiled?.threads || this.choice.info.threads;
    return { ...this.choice.info, threads };
  }

  async step(inputs: Int32Array, targets: Int32Array): Promise<StepResult> {
    const B = this.settings.batchSize, T = inputs.length / B;
    if (!Number.isInteger(T) || T > this.model.config.contextLength || targets.length !== inputs.length) {
      throw new Error(`batch of ${inputs.length} tokens does not fit B=${B}, T<=${this.model.config.contextLength}`);
    }
    return this.compiled ? this.compiled.step(inputs, targets, B, T) : this.optimizer!.step(inputs, targets, B, T);
  }

  /** Mean loss over fixed [B, T] batches, without gradients or dropout. */
  async loss(batches: { inputs: Int32Array; targets: Int32Array }[], B: number, T: number): Promise<number> {
    return this.compiled ? this.compiled.loss(batches, B, T) : batchLoss(this.model, batches, B, T);
  }

  /** Brings the model's weights up to date (the compiled paths train a copy of them; WebGPU's is on the device). */
  async syncModel(): Promise<void> {
    await this.compiled?.syncModel();
  }

  dispose(): void {
    this.optimizer?.dispose();
    this.compiled?.dispose();
  }
}
