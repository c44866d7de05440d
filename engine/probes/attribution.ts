// Direct logit attribution: why this token? The residual stream entering ln_f is a sum of what each component wrote:
//   x = embed + sum_l (sum_h z_h W_O[h] + b_O[l]) + sum_l mlp_l.
// With ln_f's scale s frozen at this input (1/sigma for LayerNorm, 1/rms for RMSNorm), the logit of token t is linear
// in x: logit_t = s (x - mean(x)) . (w * u_t) + b . u_t + c_t, u_t its unembedding column, w and b ln_f's weight and
// bias, c_t lm_head's bias (LayerNorm centres; RMSNorm does not). Each component's share is s (c - mean(c)) . (w * u_t),
// and the shares plus the constant b . u_t + c_t sum to the logit.
import * as tf from '@tensorflow/tfjs-core';
import { NORM_EPS, tidyData } from '../model/gpt';
import { describe, encodeForProbe, singleTokenId, type ProbeContext } from './probes';
import { type AttributionEntry, type AttributionProbe } from '../protocol';

export interface AttributionOptions {
  position?: number; // index into the probed tokens; default the last
  token?: number | string; // the model id, or the text of one token, to explain; default the top prediction there
}

/** Splits one token's logit at one position of a text (its last T tokens) into each component's direct contribution. */
export function attribution(ctx: ProbeContext, text: string, options: AttributionOptions = {}): AttributionProbe {
  const model = ctx.model;
  const { layers: N, heads: H, headDim: hs, dim: D, vocabSize: V } = model.config;
  const { ids, tokens, cropped } = encodeForProbe(ctx, text, model.config.contextLength);
  const T = ids.length;
  const p = options.position ?? T - 1;
  if (!(Number.isInteger(p) && p >= 0 && p < T)) throw new Error(`position ${p} is outside the text's ${T} tokens`);
  const at = (t: tf.Tensor): tf.Tensor => tf.reshape(tf.slice(t, [0, p, 0], [1, 1, t.shape[2] ?? 0]), [-1]); // [B, T, X] -> [X] at p
  // Everything the split needs, read out in one pass: logits, embeddings, each head's z, each MLP's output, the final
  // residual at p, and the weights that map them.
  const [logits, embed, final, ...perLayer] = tidyData(() => {
    // Only position p is unembedded (by the model's own ln_f and head), not every position.
    const out = model.forward(tf.tensor2d(ids, [1, T], 'int32'), { collect: true, lastPosition: true, hooks: { ...ctx.hooks, capture: true } });
    const residuals = out.residuals!;
    const layerData = Array.from({ length: N }, (_, l) => [
      tf.reshape(tf.slice(out.z![l], [0, 0, p, 0], [1, H, 1, hs]), [H * hs]), // z at p [H*hs]
      out.mlpOut![l] ? at(out.mlpOut![l]) : tf.zeros([D]), // [D]
    ]).flat();
    const final = at(residuals[N]); // [D]
    return [tf.reshape(model.headLogits(tf.reshape(final, [1, D])), [V]), at(residuals[0]), final, ...layerData];
  });
  const tokenId = options.token === undefined ? argmax(logits)
    : typeof options.token === 'number' ? options.token : singleTokenId(ctx, options.token);
  if (!(Number.isInteger(tokenId) && tokenId >= 0 && tokenId < V)) throw new Error(`token id ${tokenId} is outside the model's vocabulary of ${V}`);

  // u = W_U[:, t] and the constants, from the weights.
  const has = (name: string): boolean => model.specs.some((s) => s.name === name);
  const weight = (name: string): Float32Array | null => (has(name) ? (model.param(name).dataSync() as Float32Array) : null);
  const [u] = tidyData(() => {
    const head = has('lm_head.weight')
      ? tf.slice(model.param('lm_head.weight'), [0, tokenId], [D, 1]) // [D, V] internal -> [D, 1]
      : tf.slice(model.param('transformer.wte.weight'), [tokenId, 0], [1, D]); // tied: row t of [V, D]
    return [tf.reshape(head, [D])];
  });
  const lnW = weight('transformer.ln_f.weight')!, lnB = weight('transformer.ln_f.bias');
  const lmBias = weight('lm_head.bias');
  const layerNorm = model.config.norm === 'layernorm';

  // The frozen scale at this input, in float64.
  let mean = 0;
  if (layerNorm) {
    for (let d = 0; d < D; d++) mean += final[d];
    mean /= D;
  }
  let sq = 0;
  for (let d = 0; d < D; d++) sq += (final[d] - mean) ** 2;
  const scale = 1 / Math.sqrt(sq / D + NORM_EPS);
  const g = Float64Array.from({ length: D }, (_, d) => lnW[d] * u[d]); // w * u_t
  let gSum = 0;
  for (let d = 0; d < D; d++) gSum += g[d];
  /** s (c - mean(c)) . g for a component c [D] (mean(c) only under LayerNorm). */
  const share = (c: ArrayLike<number>): number => {
    let dot = 0, sum = 0;
    for (let d = 0; d < D; d++) {
      dot += c[d] * g[d];
      sum += c[d];
    }
    return scale * (dot - (layerNorm ? (sum / D) * gSum : 0));
  };

  const components: AttributionEntry[] = [{ kind: 'embed', label: 'embeddings', contribution: share(embed) }];
  const headVector = new Float64Array(D);
  for (let l = 0; l < N; l++) {
    const z = perLayer[2 * l], mlp = perLayer[2 * l + 1];
    const wO = weight(`transformer.h.${l}.attn.c_proj.weight`)!; // [A, D] internal
    for (let h = 0; h < H; h++) {
      headVector.fill(0);
      for (let j = 0; j < hs; j++) { // z_h @ W_O[h*hs .. (h+1)*hs)
        const zj = z[h * hs + j], row = (h * hs + j) * D;
        for (let d = 0; d < D; d++) headVector[d] += zj * wO[row + d];
      }
      components.push({ kind: 'head', layer: l, head: h, label: `L${l}H${h}`, contribution: share(headVector) });
    }
    const bO = weight(`transformer.h.${l}.attn.c_proj.bias`);
    if (bO) components.push({ kind: 'attnBias', layer: l, label: `L${l} attention bias`, contribution: share(bO) });
    if (model.config.ffnMult > 0) components.push({ kind: 'mlp', layer: l, label: `L${l} MLP`, contribution: share(mlp) });
  }
  let constant = lmBias ? lmBias[tokenId] : 0;
  if (lnB) for (let d = 0; d < D; d++) constant += lnB[d] * u[d];
  if (lnB || lmBias) components.push({ kind: 'bias', label: 'output biases', contribution: constant });

  let sum = 0;
  for (const c of components) sum += c.contribution;
  let max = -Infinity, z = 0;
  for (const v of logits) if (v > max) max = v;
  for (const v of logits) z += Math.exp(v - max);
  return { tokens, cropped, position: p, token: { ...describe(ctx, tokenId), prob: Math.exp(logits[tokenId] - max) / z, logit: logits[tokenId] },
    logit: logits[tokenId], sum, normScale: scale, components };
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
