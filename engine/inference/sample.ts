// Sampling: temperature, top-k, top-p on one logit vector, and autoregressive generation cropped to the context.
import * as tf from '@tensorflow/tfjs-core';
import { decodeWithCache, type KVCacheSession } from './kvCache';
import { tidyData, type GPT } from '../model/gpt';
import type { Rng } from '../common/rng';
import { type SamplingOptions } from '../protocol';

export function validateSampling(o: SamplingOptions): SamplingOptions {
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature)) throw new Error(`temperature must be >= 0, got ${o.temperature}`);
  if (!Number.isInteger(o.topK) || o.topK < 0) throw new Error(`top-k must be a whole number >= 0, got ${o.topK}`);
  if (!(o.topP > 0 && o.topP <= 1)) throw new Error(`top-p must be in (0, 1], got ${o.topP}`);
  return o;
}

/**
 * The distribution a sampler draws from: softmax(logits / temperature) restricted to the top-k tokens, then to the
 * smallest set of most likely tokens whose mass reaches top-p, renormalised. Computed in float64.
 * Temperature 0 puts all mass on the argmax (the first one on ties).
 */
export function samplingDistribution(logits: ArrayLike<number>, o: SamplingOptions): Float64Array {
  const V = logits.length;
  const probs = new Float64Array(V);
  if (o.temperature === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    probs[best] = 1;
    return probs;
  }
  const z = Float64Array.from({ length: V }, (_, i) => logits[i] / o.temperature);
  if (o.topK > 0 && o.topK < V) {
    const kth = Float64Array.from(z).sort()[V - o.topK]; // the k-th largest value
    for (let i = 0; i < V; i++) if (z[i] < kth) z[i] = -Infinity;
  }
  softmaxInto(z, probs);
  if (o.topP < 1) {
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => probs[b] - probs[a]);
    let mass = 0, keep = 0;
    while (keep < V && (keep === 0 || mass < o.topP)) mass += probs[order[keep++]];
    for (let r = keep; r < V; r++) z[order[r]] = -Infinity;
    softmaxInto(z, probs);
  }
  return probs;
}

function softmaxInto(z: Float64Array, out: Float64Array): void {
  let max = -Infinity;
  for (const v of z) if (v > max) max = v;
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += out[i] = Math.exp(z[i] - max);
  for (let i = 0; i < z.length; i++) out[i] /= sum;
}

/** Draws an index from a probability vector. */
export function drawFrom(probs: Float64Array, rng: Rng): number {
  let u = rng.next();
  for (let i = 0; i < probs.length; i++) {
    u -= probs[i];
    if (u < 0) return i;
  }
  for (let i = probs.length - 1; i >= 0; i--) if (probs[i] > 0) return i; // rounding left u just above 0
  return 0;
}

/** Logits of the next token after a context of model ids (cropped to the last T), by a full tfjs forward pass. */
export function nextTokenLogits(model: GPT, context: ArrayLike<number>): Float32Array {
  const T = Math.min(context.length, model.config.contextLength);
  const window = Int32Array.from({ length: T }, (_, i) => context[context.length - T + i]);
  return tidyData(() => {
    const { logits } = model.forward(tf.tensor2d(window, [1, T], 'int32')); // [1, T, V]
    return [tf.slice(logits, [0, T - 1, 0], [1, 1, model.config.vocabSize])];
  })[0];
}

/**
 * Appends `count` sampled model ids to a prompt of model ids and returns only the new ones, through a KV cache session
 * (kvCache.ts, which holds its own copy of the weights); onToken may return false to stop early.
 */
export function generate(session: KVCacheSession, prompt: ArrayLike<number>, count: number, o: SamplingOptions, rng: Rng,
  onToken?: (id: number) => boolean | void): Int32Array {
  const out: number[] = [];
  const draw = (logits: Float32Array): number => drawFrom(samplingDistribution(logits, o), rng);
  for (const id of decodeWithCache(session, prompt, draw, count)) {
    out.push(id);
    if (onToken?.(id) === false) break;
  }
  return Int32Array.from(out);
}
