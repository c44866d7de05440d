// Head ablation: switch heads off and see what changes. Zero ablation makes a head write nothing (its slice of z is
// 0, so c_proj sees nothing from it); mean ablation makes it write its average output over the text's positions, which
// removes what it says about this position while keeping its constant part.
import * as tf from '@tensorflow/tfjs-core';
import { tidyData, tokenLosses, type ForwardHooks, type GPT } from '../model/gpt';
import type { GPTConfig } from '../model/config';
import { describe, encodeForProbe, topIndices, type ProbeContext } from './probes';
import { type AblationMode, type AblationProbe, type HeadRef, type TokenScore } from '../protocol';

/**
 * Heads from "L.H,L.H" (layer and head from 0; "L.*" is every head of layer L), checked against the model. Throws a
 * one-line Error naming the first bad entry.
 */
export function parseHeads(spec: string, config: Pick<GPTConfig, 'layers' | 'heads'>): HeadRef[] {
  const heads: HeadRef[] = [];
  const seen = new Set<string>();
  for (const entry of spec.split(',').map((e) => e.trim())) {
    const m = /^(\d+)\.(\d+|\*)$/.exec(entry);
    if (!m) throw new Error(`"${entry}" is not a head; write layer.head from 0, e.g. 0.3 or 2.* for all of layer 2`);
    const layer = Number(m[1]);
    if (layer >= config.layers) throw new Error(`head ${entry}: the model has layers 0 to ${config.layers - 1}`);
    const list = m[2] === '*' ? Array.from({ length: config.heads }, (_, h) => h) : [Number(m[2])];
    for (const head of list) {
      if (head >= config.heads) throw new Error(`head ${entry}: each layer has heads 0 to ${config.heads - 1}`);
      const key = `${layer}.${head}`;
      if (!seen.has(key)) heads.push({ layer, head });
      seen.add(key);
    }
  }
  return heads;
}

export function checkHeads(heads: readonly HeadRef[], config: Pick<GPTConfig, 'layers' | 'heads'>): void {
  if (heads.length === 0) throw new Error('no heads to ablate');
  for (const { layer, head } of heads) {
    if (!(Number.isInteger(layer) && layer >= 0 && layer < config.layers && Number.isInteger(head) && head >= 0 && head < config.heads)) {
      throw new Error(`head ${layer}.${head} is not in a model of ${config.layers} layers of ${config.heads} heads`);
    }
  }
}

/** Each head's mean output z over a token window's positions: per layer [H, hs]. */
export function meanHeadOutputs(model: GPT, ids: Int32Array): Float32Array[] {
  const T = ids.length;
  return tidyData(() => (model.forward(tf.tensor2d(ids, [1, T], 'int32'), { hooks: { capture: true } }).z ?? []).map((z) => tf.mean(z, [0, 2]))); // N x [H, hs]
}

/**
 * Hooks that replace the chosen heads' z [B, H, T, hs]: with zeros, or with `means` (per layer [H, hs]). Other heads
 * pass through exactly (z * 1 + mean * 0).
 */
export function ablationHooks(config: Pick<GPTConfig, 'heads' | 'headDim'>, heads: readonly HeadRef[], means: Float32Array[] | null): ForwardHooks {
  const { heads: H, headDim: hs } = config;
  const byLayer = new Map<number, Float32Array>(); // layer -> [H]: 1 for an ablated head
  for (const { layer, head } of heads) {
    const m = byLayer.get(layer) ?? new Float32Array(H);
    m[head] = 1;
    byLayer.set(layer, m);
  }
  return {
    z: (layer, z) => {
      const mask = byLayer.get(layer);
      if (!mask) return z;
      const off = tf.tensor4d(mask, [1, H, 1, 1]);
      const kept = tf.mul(z, tf.sub(1, off)); // [B, H, T, hs]
      return (means ? tf.add(kept, tf.mul(tf.tensor4d(means[layer], [1, H, 1, hs]), off)) : kept) as tf.Tensor4D;
    },
  };
}

/** A probe context whose forward passes run with these heads ablated (mean: means over the last T tokens of `text`). */
export function withAblation(ctx: ProbeContext, heads: readonly HeadRef[], mode: AblationMode, text: string): ProbeContext {
  checkHeads(heads, ctx.model.config);
  const means = mode === 'mean' ? meanHeadOutputs(ctx.model, encodeForProbe(ctx, text, ctx.model.config.contextLength).ids) : null;
  return { model: ctx.model, vocab: ctx.vocab, tokenizer: ctx.tokenizer, hooks: ablationHooks(ctx.model.config, heads, means) };
}

/** Per-token losses and the last position's logits of one window, under some hooks. */
function windowRun(model: GPT, ids: Int32Array, hooks: ForwardHooks | undefined): { losses: Float32Array; last: Float32Array } {
  const T = ids.length, V = model.config.vocabSize;
  const [losses, last] = tidyData(() => {
    const logits = tf.reshape(model.forward(tf.tensor2d(ids, [1, T], 'int32'), { hooks }).logits, [T, V]) as tf.Tensor2D; // [T, V]
    const predicted = T > 1 ? tokenLosses(tf.slice(logits, [0, 0], [T - 1, V]), tf.tensor1d(ids.subarray(1), 'int32')) : tf.zeros([0]); // [T-1]
    return [predicted, tf.slice(logits, [T - 1, 0], [1, V])];
  });
  return { losses, last };
}

function topTokens(ctx: ProbeContext, logits: Float32Array, k: number): TokenScore[] {
  let max = -Infinity, sum = 0;
  for (const z of logits) if (z > max) max = z;
  for (const z of logits) sum += Math.exp(z - max);
  const logZ = max + Math.log(sum);
  return topIndices(logits, k).map((id) => ({ ...describe(ctx, id), prob: Math.exp(logits[id] - logZ), logit: logits[id] }));
}

/** The text's loss and next-token distribution (its last T tokens) with the heads ablated, beside the intact model's. */
export function ablate(ctx: ProbeContext, text: string, heads: readonly HeadRef[], mode: AblationMode, k: number): AblationProbe {
  const { ids, tokens, cropped } = encodeForProbe(ctx, text, ctx.model.config.contextLength);
  const ablated = withAblation(ctx, heads, mode, text);
  const before = windowRun(ctx.model, ids, ctx.hooks), after = windowRun(ctx.model, ids, ablated.hooks);
  const mean = (l: Float32Array): number | null => (l.length ? l.reduce((s, x) => s + x, 0) / l.length : null);
  const perToken = (l: Float32Array): (number | null)[] => [null, ...Array.from(l)];
  return {
    heads: heads.map((h) => ({ ...h })), mode, tokens, cropped,
    loss: { before: mean(before.losses), after: mean(after.losses) },
    perToken: { before: perToken(before.losses), after: perToken(after.losses) },
    next: { before: topTokens(ctx, before.last, k), after: topTokens(ctx, after.last, k) },
  };
}
