// What each attention head does, scored from its attention pattern: previous-token, induction, duplicate-token and
// first-token ("sink") heads. The induction test is TransformerLens's: random tokens repeated once, where only a
// head that looks for the token after an earlier copy of the current one puts its attention on a fixed diagonal.
import * as tf from '@tensorflow/tfjs-core';
import { tidyData, tokenLosses, type GPT } from '../model/gpt';
import { Rng } from '../common/rng';
import { encodeForProbe, type ProbeContext } from './probes';
import { type HeadRoleScores, type HeadRolesProbe } from '../protocol';

/** Random sequences in the induction test, and the seed that draws them: the same test at every snapshot. */
export const ROLE_SEQUENCES = 8;
export const ROLE_SEED = 1;

/**
 * B rows of L tokens drawn from ids 1..V-1 (the unknown token 0 left out), each followed by itself: [B, 2L]. Within a
 * row the L tokens are distinct when the vocabulary allows, so that every token of the repeat has exactly one earlier copy.
 */
export function repeatedRandomTokens(V: number, L: number, B: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const ids = new Int32Array(B * 2 * L);
  const pool = Int32Array.from({ length: Math.max(1, V - 1) }, (_, i) => (V > 1 ? i + 1 : 0));
  for (let b = 0; b < B; b++) {
    const row = ids.subarray(b * 2 * L, (b + 1) * 2 * L);
    if (pool.length >= L) {
      for (let i = 0; i < L; i++) { // a partial Fisher-Yates shuffle: L distinct ids
        const j = i + rng.int(pool.length - i);
        [pool[i], pool[j]] = [pool[j], pool[i]];
        row[i] = pool[i];
      }
    } else {
      for (let i = 0; i < L; i++) row[i] = pool[rng.int(pool.length)];
    }
    row.copyWithin(L, 0, L);
  }
  return ids;
}

/** The keys each role names for query i of one row of tokens (empty when the role has none there). */
function roleKeys(tokens: ArrayLike<number>, i: number): { prev: number[]; first: number[]; duplicate: number[]; induction: number[] } {
  const duplicate: number[] = [], induction: number[] = [];
  for (let j = 0; j < i; j++) {
    if (tokens[j] !== tokens[i]) continue;
    duplicate.push(j);
    if (j + 1 < i) induction.push(j + 1); // the token after the earlier copy, strictly before the query itself
  }
  return { prev: i > 0 ? [i - 1] : [], first: i > 0 ? [0] : [], duplicate, induction };
}

/**
 * Role scores of every head from attention maps N x [B, H, T, T] over B rows of T tokens: for each role, the mean over
 * every (row, query) where the role names a key of the attention mass on those keys.
 */
export function roleScores(attention: Float32Array[], ids: Int32Array, B: number, H: number, T: number): HeadRoleScores {
  const roles = ['previousToken', 'firstToken', 'duplicateToken', 'induction'] as const;
  const queries: { b: number; i: number; keys: number[][] }[] = [];
  for (let b = 0; b < B; b++) {
    const row = ids.subarray(b * T, (b + 1) * T);
    for (let i = 0; i < T; i++) {
      const k = roleKeys(row, i);
      queries.push({ b, i, keys: [k.prev, k.first, k.duplicate, k.induction] });
    }
  }
  const counts = roles.map((_, r) => queries.filter((q) => q.keys[r].length > 0).length);
  const out = { previousToken: [] as number[][], firstToken: [] as number[][], duplicateToken: [] as number[][], induction: [] as number[][] };
  for (const a of attention) { // [B, H, T, T]
    const sums = roles.map(() => new Float64Array(H));
    for (const q of queries) {
      for (let h = 0; h < H; h++) {
        const base = ((q.b * H + h) * T + q.i) * T; // row i of head h's pattern
        for (let r = 0; r < roles.length; r++) for (const key of q.keys[r]) sums[r][h] += a[base + key];
      }
    }
    roles.forEach((role, r) => out[role].push(Array.from(sums[r], (s) => (counts[r] > 0 ? s / counts[r] : 0))));
  }
  return out;
}

/**
 * The induction test on a model: ROLE_SEQUENCES rows of L = floor(T/2) random tokens, each repeated, through one
 * forward pass. Also the mean loss on each half: a model that copies in context predicts the repeat far better.
 */
export function headRolesOnRandom(model: GPT, seed = ROLE_SEED): HeadRolesProbe['random'] {
  const { contextLength, vocabSize: V, heads: H } = model.config;
  const L = Math.floor(contextLength / 2), B = ROLE_SEQUENCES, T = 2 * L;
  if (L < 2) throw new Error(`the induction test needs a context of at least 4 tokens, this model has ${contextLength}`);
  const ids = repeatedRandomTokens(V, L, B, seed);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) for (let i = 0; i + 1 < T; i++) targets[b * T + i] = ids[b * T + i + 1];
  const [losses, ...attention] = tidyData(() => {
    const out = model.forward(tf.tensor2d(ids, [B, T], 'int32'), { collect: true });
    const rowLosses = tokenLosses(tf.reshape(out.logits, [B * T, V]) as tf.Tensor2D, tf.tensor1d(targets, 'int32')); // [BT]
    return [rowLosses, ...(out.attention ?? [])];
  });
  // Positions 0..L-2 predict the first half's tokens 1..L-1; positions L..2L-2 predict the repeat's tokens L+1..2L-1.
  let first = 0, second = 0;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < L - 1; i++) {
      first += losses[b * T + i];
      second += losses[b * T + L + i];
    }
  }
  const n = B * (L - 1);
  return { ...roleScores(attention, ids, B, H, T), sequences: B, length: L, seed, loss: { firstHalf: first / n, secondHalf: second / n } };
}

/** Head roles on the induction test and, when a text is given, on the text's own tokens (its last T). */
export function headRoles(ctx: ProbeContext, text?: string): HeadRolesProbe {
  const random = headRolesOnRandom(ctx.model);
  if (text === undefined || text === '') return { random, text: null };
  const { ids, tokens, cropped } = encodeForProbe(ctx, text, ctx.model.config.contextLength);
  const T = ids.length;
  const attention = tidyData(() => ctx.model.forward(tf.tensor2d(ids, [1, T], 'int32'), { collect: true, hooks: ctx.hooks }).attention ?? []);
  return { random, text: { tokens, cropped, scores: roleScores(attention, ids, 1, ctx.model.config.heads, T) } };
}
