// Experimental: swaps the engine's AdamW.step for one that uses engine/kernels/adamw.ts (native global norm and
// in-place update), to measure what the optimizer owner would gain. Same semantics as engine/optim.ts.
'use strict';
const path = require('path');
const OUT = path.join(__dirname, '..', 'out', 'engine');

function patchAdamW() {
  const tf = require('@tensorflow/tfjs-core');
  const optim = require(path.join(OUT, 'optim.js'));
  const native = require(path.join(OUT, 'kernels', 'adamw.js'));
  const original = optim.AdamW.prototype.step;
  optim.AdamW.prototype.step = async function step(inputs, targets, batch, context) {
    if (!native.nativeOptimizerAvailable()) return original.call(this, inputs, targets, batch, context);
    const lr = optim.learningRateAt(this.s, this.t);
    const { value, grads } = tf.tidy(() => {
      const x = tf.tensor2d(inputs, [batch, context], 'int32');
      const y = tf.tensor2d(targets, [batch, context], 'int32');
      return tf.variableGrads(() => this.model.loss(x, y, true), this.params);
    });
    const gl = this.params.map((p) => grads[p.name]);
    const loss = (await value.data())[0];
    const ss = native.nativeSumSquares(gl);
    const gradNorm = ss === null ? NaN : Math.sqrt(ss);
    const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (applied) {
      this.t += 1;
      const h = {
        lr, beta1: this.s.beta1, beta2: this.s.beta2, eps: this.s.eps, weightDecay: this.s.weightDecay,
        bc1: 1 - Math.pow(this.s.beta1, this.t), bc2Sqrt: Math.sqrt(1 - Math.pow(this.s.beta2, this.t)),
        clip: this.s.gradClip > 0 ? Math.min(1, this.s.gradClip / (gradNorm + 1e-6)) : 1,
      };
      this.params.forEach((p, i) => {
        if (!native.nativeAdamWUpdate(p, gl[i], this.m[i], this.v[i], h)) throw new Error(`native AdamW refused ${p.name}`);
      });
    }
    tf.dispose([value, ...gl]);
    return { loss, gradNorm, lr, applied };
  };
}

module.exports = { patchAdamW };
