// AdamW exactly as torch.optim.AdamW (PyTorch 1.13, single-tensor path), with clip_grad_norm_ and
// nanoGPT's schedule: linear warm-up, then cosine decay to a floor.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainSettings } from '../model/config';
import { nativeAdamWUpdate, nativeSumSquares, type AdamWHyper } from '../compute/kernels/adamw';
import { tidyData, type GPT } from '../model/gpt';

export type OptimSettings = Pick<TrainSettings,
  'steps' | 'learningRate' | 'minLearningRate' | 'warmupSteps' | 'weightDecay' | 'beta1' | 'beta2' | 'eps' | 'gradClip'>;

/** Learning rate at 0-based step t. */
export function learningRateAt(s: OptimSettings, t: number): number {
  if (t < s.warmupSteps) return (s.learningRate * (t + 1)) / s.warmupSteps;
  const ratio = Math.min(1, (t - s.warmupSteps) / Math.max(1, s.steps - s.warmupSteps));
  return s.minLearningRate + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.learningRate - s.minLearningRate);
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
    const lr = learningRateAt(this.s, this.t);
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
        lr, beta1: this.s.beta1, beta2: this.s.beta2, eps: this.s.eps, weightDecay: this.s.weightDecay,
        bc1: 1 - Math.pow(this.s.beta1, this.t), bc2Sqrt: Math.sqrt(1 - Math.pow(this.s.beta2, this.t)),
        clip: this.s.gradClip > 0 ? Math.min(1, this.s.gradClip / (gradNorm + 1e-6)) : 1,
      };
      this.params.forEach((p, i) => {
        // One fused in-place pass when the native addon can reach the memory; the same formula in tfjs ops otherwise.
        if (!nativeAdamWUpdate(p, g[i], this.m[i], this.v[i], h)) this.update(p, g[i], this.m[i], this.v[i], h);
      });
    }
    tf.dispose([value, ...g]);
    return { loss, gradNorm, lr, applied };
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
