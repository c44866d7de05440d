// Activation patching with a person's own edit. The clean text and an edited copy (a name renamed, a word changed)
// both run through the model; then, one activation at a time, the edited run is rerun with that activation taken from
// the clean run, and the prediction after the last token is measured. A head whose clean output brings the clean
// prediction back carries what the edit changed. Each patched run starts at the patched block from the edited run's
// residual stream there, and the patches of one block run as one batch.
import * as tf from '@tensorflow/tfjs-core';
import { tidyData, type ForwardHooks, type GPT, type KeyValues } from '../model/gpt';
import { describe, encodeForProbe, topIndices, type ProbeContext } from './probes';
import { type PatchingProbe, type PatchResult, type ProbeToken, type TokenScore } from '../protocol';

export interface PatchingOptions {
  /** Also patch the residual stream one position at a time ([N+1][T] more runs): where the information travels. */
  positions?: boolean;
  k?: number; // top tokens shown for the clean and edited runs
}

/**
 * For each edited position, the clean position that corresponds to it, or -1. Texts of one length correspond
 * position by position; otherwise the common prefix and suffix correspond, and the last positions always do (the
 * prediction being measured). firstDifference is the first position where the two runs can differ.
 */
export function alignPositions(clean: Int32Array, edited: Int32Array): { alignment: number[]; firstDifference: number } {
  const Lc = clean.length, Le = edited.length;
  let prefix = 0;
  while (prefix < Math.min(Lc, Le) && clean[prefix] === edited[prefix]) prefix++;
  if (Lc === Le) return { alignment: Array.from({ length: Le }, (_, i) => i), firstDifference: prefix };
  let suffix = 0;
  while (suffix < Math.min(Lc, Le) - prefix && clean[Lc - 1 - suffix] === edited[Le - 1 - suffix]) suffix++;
  const alignment = Array.from({ length: Le }, (_, i) => (i < prefix ? i : i >= Le - suffix ? Lc - (Le - i) : -1));
  alignment[Le - 1] = Lc - 1;
  return { alignment, firstDifference: prefix };
}

interface Run {
  ids: Int32Array;
  residuals: Float32Array[]; // N+1 x [T, D]: entering each block, then entering ln_f
  z: Float32Array[]; // N x [H, T, hs]
  keys: Float32Array[]; // N x [KV, T, hs]
  values: Float32Array[]; // N x [KV, T, hs]
  last: Float32Array; // logits after the last token [V]
}

/** One forward pass, keeping what patching copies (residual streams, every head's z) and reuses (keys and values). */
function record(model: GPT, ids: Int32Array): Run {
  const T = ids.length;
  const N = model.config.layers;
  const data = tidyData(() => {
    const out = model.forward(tf.tensor2d(ids, [1, T], 'int32'), { collect: true, lastPosition: true, hooks: { capture: true } });
    return [tf.reshape(out.logits, [-1]), ...out.residuals!, ...out.z!, ...out.keyValues!.map((kv) => kv.keys), ...out.keyValues!.map((kv) => kv.values)];
  });
  return { ids, last: data[0], residuals: data.slice(1, N + 2), z: data.slice(N + 2, 2 * N + 2), keys: data.slice(2 * N + 2, 3 * N + 2),
    values: data.slice(3 * N + 2) };
}

/** log sum exp of logits [V], in float64. */
function logSumExp(logits: ArrayLike<number>): number {
  let max = -Infinity, sum = 0;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return max + Math.log(sum);
}

/** The experiment's metric from the last position's logits [V]: a logit difference, or a log-probability. */
function metricOf(logits: ArrayLike<number>, cleanId: number, editedId: number): number {
  return cleanId !== editedId ? logits[cleanId] - logits[editedId] : logits[cleanId] - logSumExp(logits);
}

function scores(ctx: ProbeContext, logits: ArrayLike<number>, k: number): TokenScore[] {
  const logZ = logSumExp(logits);
  return topIndices(logits, k).map((id) => ({ ...describe(ctx, id), prob: Math.exp(logits[id] - logZ), logit: logits[id] }));
}

/** Patches the clean run's activations into the edited run: every head, every layer's residual (and per position). */
export function patchEdit(ctx: ProbeContext, cleanText: string, editedText: string, options: PatchingOptions = {}): PatchingProbe {
  const model = ctx.model;
  const { layers: N, heads: H, kvHeads: KV, headDim: hs, dim: D, vocabSize: V, contextLength } = model.config;
  const k = options.k ?? 5;
  const c = encodeForProbe(ctx, cleanText, contextLength), e = encodeForProbe(ctx, editedText, contextLength);
  const clean = record(model, c.ids), edited = record(model, e.ids);
  const Tc = c.ids.length, T = e.ids.length;
  const { alignment, firstDifference } = alignPositions(c.ids, e.ids);
  const cleanTop = scores(ctx, clean.last, k), editedTop = scores(ctx, edited.last, k);
  const cleanId = cleanTop[0].id, editedId = editedTop[0].id;
  const cleanMetric = metricOf(clean.last, cleanId, editedId), editedMetric = metricOf(edited.last, cleanId, editedId);
  const span = cleanMetric - editedMetric;
  const result = (logits: Float32Array): PatchResult => {
    const metric = metricOf(logits, cleanId, editedId);
    return { metric, restored: Math.abs(span) > 1e-6 ? (metric - editedMetric) / span : null, top: scores(ctx, logits, 1)[0],
      cleanTokenProb: Math.exp(logits[cleanId] - logSumExp(logits)) };
  };
  /** Rows of last-position logits [B, V] as one array each. */
  const rows = (flat: Float32Array, B: number): Float32Array[] => Array.from({ length: B }, (_, b) => flat.slice(b * V, (b + 1) * V));

  // Positions before P are the same in every run (the same tokens, and attention only looks back): patched runs
  // compute positions P..T-1 only, reading the edited run's keys and values of the ones before.
  const P = Math.min(firstDifference, T - 1), n = T - P;
  const prefixOf = (data: Float32Array): tf.Tensor4D => tf.tidy(() => tf.slice(tf.tensor4d(data, [1, KV, T, hs]), [0, 0, 0, 0], [1, KV, P, hs])); // [1, KV, P, hs]
  const past = P === 0 ? undefined : Array.from({ length: N }, (_, l): KeyValues => ({ keys: prefixOf(edited.keys[l]), values: prefixOf(edited.values[l]) }));
  // The clean run's activations at the edited run's positions P..T-1 (unaligned positions get any row; their mask is 0).
  const gatherIndex = tf.tensor1d(alignment.slice(P).map((i) => Math.max(0, i)), 'int32'); // [n]
  const aligned = Float32Array.from(alignment.slice(P), (i) => (i >= 0 ? 1 : 0)); // [n]
  const cleanRows = (l: number): tf.Tensor2D => tf.gather(tf.tensor2d(clean.residuals[l], [Tc, D]), gatherIndex); // [n, D]
  const editedRows = (l: number): tf.Tensor2D => tf.slice(tf.tensor2d(edited.residuals[l], [T, D]), [P, 0], [n, D]); // [n, D]
  const run = (l: number, x: tf.Tensor3D, hooks?: ForwardHooks): tf.Tensor => tf.reshape(
    model.forwardFrom(l, x, { lastPosition: true, hooks, past }).logits, [-1]); // [B*V]

  try {
    // Heads: for block l, H runs from the edited residual entering it, run h with head h's z from the clean run.
    const heads: PatchResult[][] = [];
    for (let l = 0; l < N; l++) {
      const [flat] = tidyData(() => {
        const start = tf.concat(new Array<tf.Tensor>(H).fill(tf.expandDims(editedRows(l), 0)), 0) as tf.Tensor3D; // [H, n, D]
        const cleanZ = tf.gather(tf.tensor4d(clean.z[l], [1, H, Tc, hs]), gatherIndex, 2); // [1, H, n, hs]
        const mask = tf.mul(tf.reshape(tf.eye(H), [H, H, 1, 1]), tf.reshape(tf.tensor1d(aligned), [1, 1, n, 1])); // [H, H, n, 1]: run b, head b
        const z = (layer: number, zl: tf.Tensor4D): tf.Tensor4D => (layer !== l ? zl
          : tf.add(tf.mul(zl, tf.sub(1, mask)), tf.mul(cleanZ, mask)) as tf.Tensor4D); // exact: z * 1 + 0, or z * 0 + clean
        return [run(l, start, { z })];
      });
      heads.push(rows(flat, H).map(result));
    }

    // The whole residual stream entering block l (l = N: entering ln_f), at every aligned position.
    const residuals: PatchResult[] = [];
    for (let l = 0; l <= N; l++) {
      const [flat] = tidyData(() => {
        const m = tf.reshape(tf.tensor1d(aligned), [n, 1]);
        const x = tf.add(tf.mul(editedRows(l), tf.sub(1, m)), tf.mul(cleanRows(l), m)); // [n, D]
        return [run(l, tf.reshape(x, [1, n, D]) as tf.Tensor3D)];
      });
      residuals.push(result(flat));
    }

    // One position at a time, from the first difference on (before it the two runs agree).
    let residualPositions: (PatchResult | null)[][] | null = null;
    if (options.positions) {
      const patched = Array.from({ length: n }, (_, i) => i).filter((i) => P + i >= firstDifference && aligned[i] > 0); // rows of P..T-1
      residualPositions = [];
      for (let l = 0; l <= N; l++) {
        const row: (PatchResult | null)[] = new Array<PatchResult | null>(T).fill(null);
        if (patched.length) {
          const B = patched.length;
          const [flat] = tidyData(() => {
            const onehot = new Float32Array(B * n);
            patched.forEach((i, b) => (onehot[b * n + i] = 1));
            const m = tf.tensor3d(onehot, [B, n, 1]); // [B, n, 1]: run b patches row patched[b]
            const x = tf.add(tf.mul(tf.expandDims(editedRows(l), 0), tf.sub(1, m)), tf.mul(tf.expandDims(cleanRows(l), 0), m)); // [B, n, D]
            return [run(l, x as tf.Tensor3D)];
          });
          rows(flat, B).forEach((logits, b) => (row[P + patched[b]] = result(logits)));
        }
        residualPositions.push(row);
      }
    }
    const token = (s: TokenScore): ProbeToken => ({ id: s.id, tokenizerId: s.tokenizerId, text: s.text, unknown: s.unknown });
    return {
      clean: { tokens: c.tokens, cropped: c.cropped, top: cleanTop }, edited: { tokens: e.tokens, cropped: e.cropped, top: editedTop },
      cleanToken: token(cleanTop[0]), editedToken: token(editedTop[0]), metric: cleanId !== editedId ? 'logitDiff' : 'logProb',
      cleanMetric, editedMetric, alignment, firstDifference, heads, residuals, residualPositions,
    };
  } finally {
    gatherIndex.dispose();
    if (past) tf.dispose(past.flatMap((kv) => [kv.keys, kv.values]));
  }
}
