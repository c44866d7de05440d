// AdamW and its schedule, the one place for both: nanoGPT's schedule (linear warm-up, then cosine decay to a floor),
// the step record every compiled trainer takes (adamwStep), and the tfjs AdamW exactly as torch.optim.AdamW
// (PyTorch 1.13, single-tensor path) with clip_grad_norm_. The settings come from the run's TrainSettings (presets
// and choices in model/config.ts); nothing here has defaults of its own.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainSettings } from '../model/config';
import type { AdamWStep } from '../compute/addon';
import { nativeAdamWUpdate, nativeSumSquares, type AdamWHyper } from '../compute/kernels/adamw';
import { tidyData, type GPT } from '../model/gpt';

/** The learning rate schedule's settings. */
export type Schedule = Pick<TrainSettings, 'steps' | 'learningRate' | 'minLearningRate' | 'warmupSteps'>;

/** AdamW's settings: the schedule, the update's constants, and the seed of the compiled trainers' dropout masks. */
export type OptimSettings = Schedule & Pick<TrainSettings, 'weightDecay' | 'beta1' | 'beta2' | 'eps' | 'gradClip'> & { seed?: number };

/** Learning rate at 0-based step t. */
export function learningRateAt(s: Schedule, t: number): number {
  if (t < s.warmupSteps) return (s.learningRate * (t + 1)) / s.warmupSteps;
  const ratio = Math.min(1, (t - s.warmupSteps) / Math.max(1, s.steps - s.warmupSteps));
  return s.minLearningRate + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.learningRate - s.minLearningRate);
}

/**
 * The record of update t + 1 (t updates done): this step's learning rate, the run's AdamW settings, and the seed of
 * its dropout masks (the run's seed and the update number, so a run repeats exactly on every compiled path).
 */
export function adamwStep(s: OptimSettings, t: number): AdamWStep {
  return { lr: learningRateAt(s, t), beta1: s.beta1, beta2: s.beta2, eps: s.eps, weightDecay: s.weightDecay, gradClip: s.gradClip,
    t: t + 1, seed: ((s.seed ?? 0) >>> 0) * 2 ** 20 + ((t + 1) % 2 ** 20) };
}

export interface StepResult {
  loss: number; // mean cross-entropy of the batch before the update
  gradNorm: number; // global L2 norm before clipping
  lr: number;
  applied: boolean; // false when the loss or gradient was not finite: the weights are left as they were
}

export class AdamW {
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private readonly params: tf.Variable[];
  private t = 0; // completed updates; PyTorch's `step`

  constructor(private readonly model: GPT, private readonly s: OptimSettings) {
    this.params = model.variables();
    // tidy frees the zero tensors once the variables hold their own copies; variables outlive tidy
    this.m = tf.tidy(() => this.params.map((p) => tf.variable(tf.zerosLike(p), false)));
    this.v = tf.tidy(() => this.params.map((p) => tf.variable(tf.zerosLike(p), false)));
  }

  /**
   * One optimisation step on a batch. The loss and gradient norm are read before the update, so a step whose loss
   * or gradient is NaN or infinite changes nothing.
   */
  async step(inputs: Int32Array, targets: Int32Array, batch: number, context: number): Promise<StepResult> {
    const step = adamwStep(this.s, this.t);
    const { value, grads } = tf.tidy(() => {
      const x = tf.tensor2d(inputs, [batch, context], 'int32');
      const y = tf.tensor2d(targets, [batch, context], 'int32');
      return tf.variableGrads(() => this.model.loss(x, y, true), this.params);
    });
    const g = this.params.map((p) => grads[p.name]);
    const loss = (await value.data())[0];
    // torch.nn.utils.clip_grad_norm_: the 2-norm of all gradients together
    const sumSquares = nativeSumSquares(g) ?? tidyData(() => [tf.addN(g.map((gi) => tf.sum(tf.square(gi))))])[0][0];
    const gradNorm = Math.sqrt(sumSquares);
    const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (applied) {
      this.t += 1;
      const h: AdamWHyper = {
        lr: step.lr, beta1: step.beta1, beta2: step.beta2, eps: step.eps, weightDecay: step.weightDecay,
        bc1: 1 - Math.pow(step.beta1, step.t), bc2Sqrt: Math.sqrt(1 - Math.pow(step.beta2, step.t)),
        clip: step.gradClip > 0 ? Math.min(1, step.gradClip / (gradNorm + 1e-6)) : 1,
      };
      this.params.forEach((p, i) => {
        // One fused in-place pass when the native addon can reach the memory; the same formula in tfjs ops otherwise.
        if (!nativeAdamWUpdate(p, g[i], this.m[i], this.v[i], h)) this.update(p, g[i], this.m[i], this.v[i], h);
      });
    }
    tf.dispose([value, ...g]);
    return { loss, gradNorm, lr: step.lr, applied };
  }

  /** PyTorch's order: decoupled decay, moments, bias corrections, then p -= lr/bc1 * m / (sqrt(v)/bc2Sqrt + eps). */
  private update(p: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, h: AdamWHyper): void {
    tf.tidy(() => {
      const gc = h.clip === 1 ? grad : tf.mul(grad, h.clip);
      const m1 = tf.add(tf.mul(m, h.beta1), tf.mul(gc, 1 - h.beta1));
      const v1 = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(gc), 1 - h.beta2));
      const decayed = tf.mul(p, 1 - h.lr * h.weightDecay);
      const denom = tf.add(tf.div(tf.sqrt(v1), h.bc2Sqrt), h.eps);
      p.assign(tf.sub(decayed, tf.mul(tf.div(m1, denom), h.lr / h.bc1)));
      m.assign(m1);
      v.assign(v1);
    });
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
