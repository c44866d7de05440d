// Sampling: temperature, top-k, top-p on one logit vector, and autoregressive generation cropped to the context; and
// ghost text's word mode: greedy tokens that finish the word in progress, then more only while the model is sure.
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

/** The most likely token of a logit vector and its probability under the model (softmax at temperature 1, float64). */
export function argmaxWithProbability(logits: ArrayLike<number>): { id: number; probability: number } {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - logits[best]);
  return { id: best, probability: 1 / sum };
}

/** A letter, mark, digit or underscore: what a word is made of ("don" + "'t" is two words here, as an editor sees it). */
const WORD_CHAR = /[\p{L}\p{M}\p{N}_]/u;
const TRAILING_WORD = /[\p{L}\p{M}\p{N}_]+$/u;
/** U+FFFD: a token that ends inside a UTF-8 character decodes to it until the next token completes the character. */
const PARTIAL_CHAR = '\uFFFD';

/**
 * Ghost text's `word` mode, fed one greedy token at a time as the text decoded so far (all tokens, decoded whole so a
 * character split across tokens stays whole) and the token's probability:
 *  - a token that only continues the word in progress (the prompt ends in a word character) is taken at any probability;
 *  - any other token is taken only when its probability is at least `minProbability`;
 *  - a newline ends the completion when `stopAtNewline`.
 * What it shows (`text`) ends at a whole word: a trailing word the model was not sure how to end is dropped, as is
 * trailing whitespace, so a completion is never whitespace alone.
 */
export class WordModeCompletion {
  private accepted = '';
  private readonly inWord: boolean;
  /** Whether the model said the last accepted word ends there (the refused token, or a newline, starts with no word character). */
  private endsAtWordBoundary = false;

  constructor(prompt: string, private readonly minProbability: number, private readonly stopAtNewline = true) {
    if (!(minProbability >= 0 && minProbability <= 1)) throw new Error(`minProbability must be in [0, 1], got ${minProbability}`);
    this.inWord = prompt.length > 0 && WORD_CHAR.test(lastChar(prompt));
  }

  /** Offers the next token (`text`: every token so far decoded, this one included); false: it was not taken, stop. */
  take(text: string, probability: number): boolean {
    const added = text.slice(this.accepted.length);
    const wordLeft = this.inWord ? firstNonWord(this.accepted) === -1 : false; // the word in progress is not finished
    if (wordLeft && firstNonWord(text) === -1) {
      this.accepted = text; // still inside the word in progress
      return true;
    }
    if (probability < this.minProbability) {
      // A token that finishes the word and starts something else gives the word, not the rest.
      if (wordLeft) this.accepted = text.slice(0, firstNonWord(text));
      this.endsAtWordBoundary = added.length > 0 && !WORD_CHAR.test(added[0]) && added[0] !== PARTIAL_CHAR;
      return false;
    }
    this.accepted = text;
    if (this.stopAtNewline && text.includes('\n')) {
      this.accepted = text.slice(0, text.indexOf('\n'));
      this.endsAtWordBoundary = true;
      return false;
    }
    return true;
  }

  /** The suggestion: whole words, no trailing whitespace; empty when there is nothing worth showing. */
  get text(): string {
    let s = this.accepted;
    while (s.endsWith(PARTIAL_CHAR)) s = s.slice(0, -1);
    const firstWordEnd = this.inWord ? (firstNonWord(s) === -1 ? s.length : firstNonWord(s)) : 0;
    if (!this.endsAtWordBoundary && s.length > firstWordEnd) {
      const cut = s.length - (TRAILING_WORD.exec(s)?.[0].length ?? 0);
      s = s.slice(0, Math.max(firstWordEnd, cut));
    }
    s = s.trimEnd();
    return s.trim() === '' ? '' : s;
  }
}

function firstNonWord(s: string): number {
  for (let i = 0; i < s.length; i++) if (!WORD_CHAR.test(s[i]) && s[i] !== PARTIAL_CHAR) return i;
  return -1;
}

function lastChar(s: string): string {
  return [...s.slice(-2)].at(-1) ?? '';
}

/**
 * Word-mode generation: greedy (argmax) tokens through a KV cache session, each offered to `words` with its probability
 * until it refuses one, `count` are drawn or `keepGoing` says stop. Returns the suggestion (`words.text`).
 */
export function completeWords(session: KVCacheSession, prompt: ArrayLike<number>, count: number, decode: (ids: readonly number[]) => string,
  words: WordModeCompletion, keepGoing: () => boolean = () => true): string {
  const ids: number[] = [];
  let probability = 0;
  const draw = (logits: Float32Array): number => {
    const best = argmaxWithProbability(logits);
    probability = best.probability;
    return best.id;
  };
  for (const id of decodeWithCache(session, prompt, draw, count)) {
    ids.push(id);
    if (!words.take(decode(ids), probability) || !keepGoing()) break;
  }
  return words.text;
}
