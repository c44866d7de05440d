// Probes: what the UI shows about a model, returned as plain data (numbers, strings, arrays) with no tensors.
import * as tf from '@tensorflow/tfjs-core';
import { tidyData, tokenLosses, type ForwardHooks, type GPT } from '../model/gpt';
import { samplingDistribution } from '../inference/sample';
import { logSumExp } from '../inference/logits';
import { getTokenizer, TOKENIZER_NAMES, tokenChunks, type Tokenizer } from '../text/tokenizers';
import { UNKNOWN_ID, type Vocabulary } from '../text/vocab';
import { type AnalogyResult, type AttentionWeights, type EncodingComparison, type EvalResult, type LensProbe, type Neighbour, type NextTokenProbe, type ProbeToken, type ProjectedToken, type SamplingOptions, type TextToken, type TokenLoss, type TokenScore, type TokenizerComparison, type TextNeighbours } from '../protocol';

/** Cross-entropy and entropy (nats) of every row [B*T] of B windows of T ids, each from position 0. */
export interface WindowScores {
  losses: ArrayLike<number>;
  entropies: ArrayLike<number>;
}

/** Scores B windows of T ids (KVCacheSession.rowScores). */
export type WindowScorer = (inputs: Int32Array, targets: Int32Array, B: number, T: number) => WindowScores;

export interface ProbeContext {
  model: GPT;
  vocab: Vocabulary;
  tokenizer: Tokenizer;
  /** The native forward pass over windows, when the engine has one: every weight read once for several windows. */
  scoreWindows?: WindowScorer;
  /** Hooks every probe's tfjs forward pass runs with (head ablation); a context with hooks never uses scoreWindows. */
  hooks?: ForwardHooks;
}

/** The model's tokens of a text with their offsets in it. */
export function textTokens(ctx: ProbeContext, text: string): { ids: Int32Array; tokens: TextToken[] } {
  const chunks = tokenChunks(ctx.tokenizer, text);
  const ids = ctx.vocab.encode(chunks.map((c) => c.id));
  return { ids, tokens: chunks.map((c, i) => ({ ...describe(ctx, ids[i]), start: c.start, end: c.end })) };
}

/** The model ids of a text, cropped to the last `limit` tokens, and how each looks. */
export function encodeForProbe(ctx: ProbeContext, text: string, limit: number): { ids: Int32Array; tokens: TextToken[]; cropped: number } {
  const all = textTokens(ctx, text);
  if (all.ids.length === 0) throw new Error('the text has no tokens');
  const cropped = Math.max(0, all.ids.length - limit);
  return { ids: all.ids.subarray(cropped), tokens: all.tokens.slice(cropped), cropped };
}

export function describe(ctx: ProbeContext, id: number): ProbeToken {
  const tokenizerId = ctx.vocab.toTokenizer[id] ?? null;
  return { id, tokenizerId, text: ctx.vocab.display(ctx.tokenizer, id), unknown: id === UNKNOWN_ID };
}

/** Indices of the k largest values, largest first: one pass with a small sorted buffer instead of a full sort. */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  const n = Math.min(k, values.length);
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (best.length === n && v <= values[best[n - 1]]) continue;
    let at = best.length === n ? n - 1 : best.length;
    while (at > 0 && values[best[at - 1]] < v) {
      best[at] = best[at - 1];
      at--;
    }
    best[at] = i;
  }
  return best.slice(0, n);
}

function topOf(ctx: ProbeContext, logits: ArrayLike<number>, probs: ArrayLike<number>, k: number): TokenScore[] {
  return topIndices(logits, k).map((id) => ({ ...describe(ctx, id), prob: probs[id], logit: logits[id] }));
}

/** Next-token distribution after a text. */
export function nextToken(ctx: ProbeContext, text: string, k: number, sampling: SamplingOptions = { temperature: 1, topK: 0, topP: 1 }): NextTokenProbe {
  const { ids, tokens, cropped } = encodeForProbe(ctx, text, ctx.model.config.contextLength);
  const T = ids.length, V = ctx.model.config.vocabSize;
  const [logits] = tidyData(() => {
    const { logits } = ctx.model.forward(tf.tensor2d(ids, [1, T], 'int32'), { lastPosition: true, hooks: ctx.hooks }); // [1, 1, V]
    return [logits];
  });
  const probs = samplingDistribution(logits, { temperature: 1, topK: 0, topP: 1 });
  const filtered = samplingDistribution(logits, sampling);
  let keptMass = 0;
  for (let v = 0; v < V; v++) if (filtered[v] > 0) keptMass += probs[v];
  return { tokens, cropped, top: topOf(ctx, logits, probs, k).map((t) => ({ ...t, sampledProb: filtered[t.id] })),
    sampled: topOf(ctx, logits, filtered, k).filter((t) => filtered[t.id] > 0), sampling, keptMass, vocabSize: V };
}

/** Every layer's and head's attention probabilities over a text (its last T tokens). */
export function attentionMaps(ctx: ProbeContext, text: string): AttentionWeights {
  const { ids, tokens, cropped } = encodeForProbe(ctx, text, ctx.model.config.contextLength);
  const T = ids.length;
  const H = ctx.model.config.heads;
  const flat = tidyData(() => ctx.model.forward(tf.tensor2d(ids, [1, T], 'int32'), { collect: true, hooks: ctx.hooks }).attention ?? []); // N x [1, H, T, T]
  const layers = flat.map((a) => Array.from({ length: H }, (_, h) => Array.from({ length: T }, (_, q) =>
    Array.from(a.subarray((h * T + q) * T, (h * T + q + 1) * T)))));
  return { tokens, cropped, layers };
}

/** Logit lens: what each layer's residual stream would predict if the model stopped there. */
export function logitLens(ctx: ProbeContext, text: string, k: number): LensProbe {
  const { ids, tokens, cropped } = encodeForProbe(ctx, text, ctx.model.config.contextLength);
  const T = ids.length, D = ctx.model.config.dim;
  const V = ctx.model.config.vocabSize;
  const perLayer = tidyData(() => {
    const { residuals } = ctx.model.forward(tf.tensor2d(ids, [1, T], 'int32'), { collect: true, hooks: ctx.hooks });
    return (residuals ?? []).map((r) => ctx.model.headLogits(tf.reshape(r, [T, D]))); // N+1 x [T, V]
  });
  const layers = perLayer.map((logits) => Array.from({ length: T }, (_, t) => {
    const row = logits.subarray(t * V, (t + 1) * V);
    const logZ = logSumExp(row); // probabilities of the top tokens only
    return { top: topIndices(row, k).map((id) => ({ ...describe(ctx, id), prob: Math.exp(row[id] - logZ), logit: row[id] })) };
  }));
  return { tokens, cropped, layers };
}

/** Nearest tokens to a model id in the input embedding matrix, by cosine similarity. */
export function neighbours(ctx: ProbeContext, id: number, k: number): Neighbour[] {
  const { vocabSize: V, dim: D } = ctx.model.config;
  if (!(id >= 0 && id < V)) throw new Error(`token id ${id} is outside the model's vocabulary of ${V}`);
  const E = ctx.model.embeddingMatrix(); // [V, D]
  return nearestTo(ctx, E, E.subarray(id * D, (id + 1) * D), new Set([id]), k);
}

/**
 * Nearest tokens to a text's input embedding: its one token's, or the mean of its tokens' when it has several (tokens
 * the model never saw have no embedding of their own and are left out). The query's own tokens are not listed.
 */
export function textNeighbours(ctx: ProbeContext, text: string, k: number): TextNeighbours {
  const { dim: D } = ctx.model.config;
  const ids = ctx.vocab.encode(ctx.tokenizer.encode(text));
  if (ids.length === 0) throw new Error('the text has no tokens');
  const known = Array.from(ids).filter((id) => id !== UNKNOWN_ID);
  if (known.length === 0) {
    throw new Error(`"${text}" never occurred in the training text, so the model has no embedding for ${ids.length === 1 ? 'it' : 'any of its tokens'}`);
  }
  const E = ctx.model.embeddingMatrix(); // [V, D]
  const mean = new Float64Array(D); // [D]
  for (const id of known) for (let d = 0; d < D; d++) mean[d] += E[id * D + d] / known.length;
  return { query: known.map((id) => describe(ctx, id)), mean: known.length > 1, unknown: ids.length - known.length,
    nearest: nearestTo(ctx, E, mean, new Set(known), k) };
}

/** The k rows of E [V, D] with the highest cosine to a query vector [D], skipping `exclude`. */
function nearestTo(ctx: ProbeContext, E: Float32Array, query: ArrayLike<number>, exclude: Set<number>, k: number): Neighbour[] {
  const { vocabSize: V, dim: D } = ctx.model.config;
  let qq = 0;
  for (let d = 0; d < D; d++) qq += query[d] * query[d];
  const qNorm = Math.sqrt(qq) || 1;
  const cosines = new Float64Array(V).fill(-Infinity);
  for (let v = 0; v < V; v++) {
    if (exclude.has(v)) continue;
    let dot = 0, ss = 0;
    for (let d = 0; d < D; d++) {
      const e = E[v * D + d];
      dot += e * query[d];
      ss += e * e;
    }
    cosines[v] = dot / ((Math.sqrt(ss) || 1) * qNorm);
  }
  return topIndices(cosines, Math.min(k, V - exclude.size)).map((v) => ({ ...describe(ctx, v), cosine: cosines[v] }));
}

/** a − b + c → nearest, in the input embedding space: "king" − "man" + "woman" ≈ "queen" in word2vec. */
export function analogy(ctx: ProbeContext, a: string, b: string, c: string, k: number): AnalogyResult {
  const [ia, ib, ic] = [a, b, c].map((t) => singleTokenId(ctx, t));
  const D = ctx.model.config.dim;
  const E = ctx.model.embeddingMatrix();
  const query = new Float64Array(D);
  for (let d = 0; d < D; d++) query[d] = E[ia * D + d] - E[ib * D + d] + E[ic * D + d];
  return { a: describe(ctx, ia), b: describe(ctx, ib), c: describe(ctx, ic), nearest: nearestTo(ctx, E, query, new Set([ia, ib, ic]), k) };
}

export const MAX_COMPARED_TOKENS = 2000;

/**
 * The selection under every tokenizer side by side, and each tokenizer's characters (and bytes) per token on the whole
 * file: the fixed ones, the active model's learned BPE, and `learned` (say, a BPE learned from this file).
 */
/** The tokenizers a comparison shows: every fixed one, then the model's own and any learned from the file. */
export function comparedTokenizers(ctx: ProbeContext | null, learned: readonly Tokenizer[] = []): Tokenizer[] {
  const tokenizers: Tokenizer[] = TOKENIZER_NAMES.map((name) => getTokenizer(name));
  for (const tok of [...(ctx ? [ctx.tokenizer] : []), ...learned]) if (!tokenizers.includes(tok)) tokenizers.push(tok);
  return tokenizers;
}

/**
 * The selection under every tokenizer, with each one's token count over the whole file. Only the selection's first
 * DISPLAY_CHARS characters are cut into tokens; the counts of longer texts come from `count`, which an engine answers
 * from counts made beforehand in slices it can interrupt (countTokensAsync), so a large file never holds it.
 */
export function compareTokenizers(ctx: ProbeContext | null, selection: string, file: string, learned: readonly Tokenizer[] = [],
  count: (tok: Tokenizer, text: string) => number = (tok, text) => tok.encode(text).length): TokenizerComparison {
  const fileChars = [...file].length;
  const fileBytes = Buffer.byteLength(file, 'utf8');
  const encodings = comparedTokenizers(ctx, learned).map((tok): EncodingComparison => {
    const shown = tokenChunks(tok, cutForDisplay(selection));
    const all = selection.length <= DISPLAY_CHARS ? shown.length : count(tok, selection);
    const tokens = shown.slice(0, MAX_COMPARED_TOKENS);
    const fileTokens = file === selection ? all : count(tok, file);
    const inModel = ctx && ctx.tokenizer === tok ? tokens.map((t) => ctx.vocab.modelId(t.id) !== UNKNOWN_ID) : null;
    return { encoding: tok.name, tokens, count: all, inModel, fileTokens, charsPerToken: fileChars / Math.max(1, fileTokens),
      bytesPerToken: fileBytes / Math.max(1, fileTokens) };
  });
  return { encodings, fileChars, fileBytes, modelTokenizer: ctx?.tokenizer.name ?? null };
}

/** Characters of a selection cut into tokens for display: far more than MAX_COMPARED_TOKENS tokens of any tokenizer. */
export const DISPLAY_CHARS = 64 * 1024;

function cutForDisplay(text: string): string {
  if (text.length <= DISPLAY_CHARS) return text;
  const low = text.charCodeAt(DISPLAY_CHARS - 1);
  return text.slice(0, low >= 0xd800 && low <= 0xdbff ? DISPLAY_CHARS - 1 : DISPLAY_CHARS); // never half a surrogate pair
}

/** The model id a piece of text stands for when it is exactly one token, else an error naming the count. */
export function singleTokenId(ctx: ProbeContext, text: string): number {
  const ids = ctx.tokenizer.encode(text);
  if (ids.length !== 1) throw new Error(`"${text}" is ${ids.length} tokens in ${ctx.tokenizer.name}; give exactly one`);
  const id = ctx.vocab.modelId(ids[0]);
  if (id === UNKNOWN_ID) throw new Error(`"${text}" never occurred in the training text, so the model has no embedding for it`);
  return id;
}

/** 2-D PCA of the input embeddings: the top two principal components by power iteration, in float64. */
export function embeddingPca(ctx: ProbeContext, seed = 1): { points: ProjectedToken[]; explained: [number, number] } {
  const { vocabSize: V, dim: D } = ctx.model.config;
  const E = ctx.model.embeddingMatrix();
  const mean = new Float64Array(D);
  for (let v = 0; v < V; v++) for (let d = 0; d < D; d++) mean[d] += E[v * D + d] / V;
  const C = new Float64Array(D * D); // covariance [D, D]
  for (let v = 0; v < V; v++) {
    for (let i = 0; i < D; i++) {
      const xi = E[v * D + i] - mean[i];
      for (let j = 0; j < D; j++) C[i * D + j] += (xi * (E[v * D + j] - mean[j])) / Math.max(1, V - 1);
    }
  }
  let total = 0;
  for (let i = 0; i < D; i++) total += C[i * D + i];
  const components: Float64Array[] = [], variances: number[] = [];
  let state = seed;
  for (let c = 0; c < 2; c++) {
    let w: Float64Array = Float64Array.from({ length: D }, () => ((state = (state * 16807) % 2147483647) / 2147483647) - 0.5);
    let lambda = 0;
    for (let it = 0; it < 300; it++) {
      const next = new Float64Array(D);
      for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) next[i] += C[i * D + j] * w[j];
      for (const prev of components) { // deflate: stay orthogonal to earlier components
        let dot = 0;
        for (let i = 0; i < D; i++) dot += next[i] * prev[i];
        for (let i = 0; i < D; i++) next[i] -= dot * prev[i];
      }
      const norm = Math.hypot(...next) || 1;
      lambda = norm;
      w = next.map((x) => x / norm);
    }
    components.push(w);
    variances.push(lambda);
  }
  const points = Array.from({ length: V }, (_, v) => {
    let x = 0, y = 0;
    for (let d = 0; d < D; d++) {
      const centred = E[v * D + d] - mean[d];
      x += centred * components[0][d];
      y += centred * components[1][d];
    }
    return { ...describe(ctx, v), x, y };
  });
  return { points, explained: [variances[0] / (total || 1), variances[1] / (total || 1)] };
}

/**
 * Per-token loss (surprise) and entropy over a text (from the first token that reaches past UTF-16 offset `from`, so a
 * word after its context comes with the token that carries it, leading space and all). Each prediction sees up to T
 * tokens before it (a sliding window, not fixed blocks), so every token is conditioned on as much context as the model
 * takes.
 */
export function perTokenLoss(ctx: ProbeContext, text: string, from = 0): TokenLoss[] {
  const { ids, tokens } = textTokens(ctx, text);
  // Only the tokens from `from` on are wanted (a hover's word after its context): skip the forward passes over the rest.
  const T = ctx.model.config.contextLength;
  const first = Math.max(0, tokens.findIndex((t) => t.end > from));
  // A short tail (a hovered word) fits one window that ends at the last token; a long one slides from half a window back.
  const start = Math.max(0, Math.min(first - Math.floor(T / 2), ids.length - 1 - T));
  const scores = slidingScores(ctx.model, ids.subarray(start), ctx.hooks ? undefined : ctx.scoreWindows, ctx.hooks);
  return tokens.slice(first).map((t, j) => {
    const i = first + j;
    return { ...t, loss: i === 0 ? null : scores.losses[i - 1 - start], entropy: i === 0 ? null : scores.entropies[i - 1 - start] };
  });
}

/** The losses of slidingScores. */
export function slidingLosses(model: GPT, ids: Int32Array, scoreWindows?: WindowScorer): Float64Array {
  return slidingScores(model, ids, scoreWindows).losses;
}

/**
 * Losses and entropies of ids[1..n-1] where each prediction sees the T tokens before it: the first window predicts
 * ids[1..T]; later windows advance by T/2 and keep only their second half, whose predictions all see at least T/2 tokens.
 */
export function slidingScores(model: GPT, ids: Int32Array, scoreWindows?: WindowScorer, hooks?: ForwardHooks): { losses: Float64Array; entropies: Float64Array } {
  const T = model.config.contextLength;
  const out = { losses: new Float64Array(Math.max(0, ids.length - 1)), entropies: new Float64Array(Math.max(0, ids.length - 1)) };
  // Window k starts at s and keeps its predictions from row `keep` on (the ones not already final). All have the same
  // length: T, or the whole text when it is shorter. Without a scorer and within one context, that is one window.
  const windows: { s: number; keep: number }[] = [];
  const stride = Math.max(1, Math.floor(T / 2));
  const len = Math.min(T, out.losses.length);
  for (let s = 0, done = 0; done < out.losses.length; s = Math.min(s + stride, Math.max(0, ids.length - 1 - T))) {
    windows.push({ s, keep: done - s });
    done = s + len;
  }
  // A batch of about a training step's rows at a time, so a whole document's windows never become one huge batch.
  const perCall = scoreWindows ? Math.max(1, Math.floor(SCORE_ROWS / len)) : 1;
  for (let k0 = 0; k0 < windows.length; k0 += perCall) {
    const group = windows.slice(k0, k0 + perCall), B = group.length;
    const inputs = new Int32Array(B * len), targets = new Int32Array(B * len);
    group.forEach((w, b) => {
      inputs.set(ids.subarray(w.s, w.s + len), b * len);
      targets.set(ids.subarray(w.s + 1, w.s + 1 + len), b * len);
    });
    const scores = scoreWindows ? scoreWindows(inputs, targets, B, len) : tfjsScores(model, inputs, targets, hooks);
    group.forEach((w, b) => {
      for (let i = w.keep; i < len; i++) {
        out.losses[w.s + i] = scores.losses[b * len + i];
        out.entropies[w.s + i] = scores.entropies[b * len + i];
      }
    });
  }
  return out;
}

/** Rows per call of a WindowScorer: a `classic` training batch (8 x 32). */
const SCORE_ROWS = 256;

/** Cross-entropy and entropy of predicting targets[i] after inputs[0..i], by one tfjs forward pass over one window. */
function tfjsScores(model: GPT, inputs: Int32Array, targets: Int32Array, hooks?: ForwardHooks): { losses: Float64Array; entropies: Float64Array } {
  const len = inputs.length;
  const [losses, entropies] = tidyData(() => {
    const { logits } = model.forward(tf.tensor2d(inputs, [1, len], 'int32'), { hooks });
    const z = tf.reshape(logits, [len, model.config.vocabSize]) as tf.Tensor2D; // [T, V]
    const logp = tf.logSoftmax(z); // [T, V]
    return [tokenLosses(z, tf.tensor1d(targets, 'int32')), tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1))]; // [T], [T]
  });
  return { losses: Float64Array.from(losses), entropies: Float64Array.from(entropies) };
}

/**
 * Cross-entropy of every next-token prediction in a token sequence: windows start at 0, T, 2T, ...; the window at s
 * predicts ids[s+1 .. s+T] from ids[s .. s+T-1]. Returns n-1 losses, one per predicted token.
 */
export function windowLosses(model: GPT, ids: Int32Array): Float64Array {
  const T = model.config.contextLength;
  const out = new Float64Array(Math.max(0, ids.length - 1));
  for (let s = 0; s + 1 < ids.length; s += T) {
    const len = Math.min(T, ids.length - 1 - s);
    out.set(tfjsScores(model, ids.subarray(s, s + len), ids.subarray(s + 1, s + 1 + len)).losses, s);
  }
  return out;
}

export function evaluateText(ctx: ProbeContext, text: string): EvalResult {
  const ids = ctx.vocab.encode(ctx.tokenizer.encode(text));
  if (ids.length < 2) throw new Error('the text needs at least two tokens to evaluate');
  const losses = windowLosses(ctx.model, ids);
  let sum = 0;
  for (const l of losses) sum += l;
  const loss = sum / losses.length;
  const bytes = Buffer.byteLength(text, 'utf8');
  return { loss, perplexity: Math.exp(loss), bitsPerByte: sum / Math.LN2 / bytes, tokens: losses.length,
    unknown: ids.reduce((n, id) => n + (id === UNKNOWN_ID ? 1 : 0), 0) };
}
