// AdamW exactly as torch.optim.AdamW (PyTorch 1.13, single-tensor path), with clip_grad_norm_ and
// nanoGPT's schedule: linear warm-up, then cosine decay to a floor.
import * as tf from '@tensorflow/tfjs-core';
import type { TrainSettings } from './config';
import type { GPT } from './model';

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
    const { value, grads, norm } = tf.tidy(() => {
      const x = tf.tensor2d(inputs, [batch, context], 'int32');
      const y = tf.tensor2d(targets, [batch, context], 'int32');
      const { value, grads } = tf.variableGrads(() => this.model.loss(x, y, true), this.params);
      // torch.nn.utils.clip_grad_norm_: the 2-norm of the per-tensor 2-norms
      const norm = tf.sqrt(tf.addN(this.params.map((p) => tf.sum(tf.square(grads[p.name])))));
      return { value, grads, norm };
    });
    const [loss, gradNorm] = [(await value.data())[0], (await norm.data())[0]];
    const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (applied) {
      this.t += 1;
      const clip = this.s.gradClip > 0 ? Math.min(1, this.s.gradClip / (gradNorm + 1e-6)) : 1;
      const bc1 = 1 - Math.pow(this.s.beta1, this.t);
      const bc2Sqrt = Math.sqrt(1 - Math.pow(this.s.beta2, this.t));
      tf.tidy(() => {
        this.params.forEach((p, i) => {
          const g = clip === 1 ? grads[p.name] : tf.mul(grads[p.name], clip);
          const m = tf.add(tf.mul(this.m[i], this.s.beta1), tf.mul(g, 1 - this.s.beta1));
          const v = tf.add(tf.mul(this.v[i], this.s.beta2), tf.mul(tf.square(g), 1 - this.s.beta2));
          const decayed = tf.mul(p, 1 - lr * this.s.weightDecay); // decoupled weight decay comes first
          const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), this.s.eps);
          p.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), lr / bc1)));
          this.m[i].assign(m);
          this.v[i].assign(v);
        });
      });
    }
    tf.dispose([value, norm, ...Object.values(grads)]);
    return { loss, gradNorm, lr, applied };
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
