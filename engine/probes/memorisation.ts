// Honest about memorisation: generated text that copies the training text verbatim, and where the validation split
// begins. Copies are found with a hashed index of every k-character window of the training text (k = the shortest copy
// that counts, 20 by default): a completion's windows are looked up, confirmed character by character, and extended to
// the longest copy. Building the index of 1 MB takes one pass; a lookup costs about the completion's length.
import { Dataset } from '../training/train';
import { textTokens, type ProbeContext } from './probes';
import { type CopiedSpan } from '../protocol';

/** The shortest verbatim copy that counts, in characters (UTF-16 code units), unless a setting says otherwise. */
export const DEFAULT_MIN_COPY = 20;

/** Candidate sources examined per window: a text repeating one phrase thousands of times still answers at once. */
const MAX_CANDIDATES = 64;

const BASE = 0x01000193; // the FNV prime: a polynomial rolling hash mod 2^32

export class CopyIndex {
  private readonly head: Int32Array; // bucket -> the last window start hashed there, or -1
  private readonly next: Int32Array; // window start -> the previous one in its bucket, or -1
  private readonly mask: number;
  private readonly dropFirst: number; // BASE^(k-1) mod 2^32: removes the leaving character from the hash

  constructor(readonly source: string, readonly minChars = DEFAULT_MIN_COPY) {
    if (!(Number.isInteger(minChars) && minChars >= 4)) throw new Error(`the shortest copy must be at least 4 characters, got ${minChars}`);
    const windows = Math.max(0, source.length - minChars + 1);
    let size = 1024;
    while (size < 2 * windows) size *= 2;
    this.mask = size - 1;
    this.head = new Int32Array(size).fill(-1);
    this.next = new Int32Array(windows).fill(-1);
    let p = 1;
    for (let i = 1; i < minChars; i++) p = Math.imul(p, BASE);
    this.dropFirst = p >>> 0;
    let h = 0;
    for (let i = 0; i < source.length; i++) {
      h = this.roll(h, i >= minChars ? source.charCodeAt(i - minChars) : -1, source.charCodeAt(i));
      const start = i - minChars + 1;
      if (start < 0) continue;
      const bucket = h & this.mask;
      this.next[start] = this.head[bucket];
      this.head[bucket] = start;
    }
  }

  /** The hash after a character leaves the window (or none: -1) and another enters it. */
  private roll(h: number, leaving: number, entering: number): number {
    if (leaving >= 0) h = (h - Math.imul(leaving, this.dropFirst)) | 0;
    return (Math.imul(h, BASE) + entering) | 0;
  }

  /**
   * Verbatim copies of the source inside `generated`, longest first from the left and not overlapping, each at
   * least `minChars` long (at least the index's own).
   */
  find(generated: string, minChars = this.minChars): CopiedSpan[] {
    const k = this.minChars, src = this.source;
    if (minChars < k) throw new Error(`this index finds copies of ${k} characters or more, not ${minChars}`);
    const spans: CopiedSpan[] = [];
    let j = 0, h = 0, hashedTo = 0; // h is the hash of generated[hashedTo - k, hashedTo)
    while (j + k <= generated.length) {
      if (hashedTo !== j + k) { // (re)hash the window at j after a jump
        h = 0;
        for (let i = j; i < j + k; i++) h = this.roll(h, -1, generated.charCodeAt(i));
        hashedTo = j + k;
      }
      let best = 0, bestAt = -1, seen = 0;
      for (let s = this.head[h & this.mask]; s >= 0 && seen < MAX_CANDIDATES; s = this.next[s], seen++) {
        let n = 0;
        while (j + n < generated.length && s + n < src.length && generated.charCodeAt(j + n) === src.charCodeAt(s + n)) n++;
        if (n >= k && n > best) {
          best = n;
          bestAt = s;
        }
      }
      if (best >= minChars) {
        spans.push({ start: j, end: j + best, sourceStart: bestAt, sourceEnd: bestAt + best });
        j += best;
        continue;
      }
      if (j + k < generated.length) {
        h = this.roll(h, generated.charCodeAt(j), generated.charCodeAt(j + k));
        hashedTo++;
      }
      j++;
    }
    return spans;
  }
}

/**
 * Where the validation split begins in a training text (UTF-16 offset of its first token), as training splits it:
 * the last 10% of the tokens. Null when the text is too short for a validation split.
 */
export function validationStart(ctx: ProbeContext, text: string): number | null {
  const { ids, tokens } = textTokens(ctx, text);
  const T = ctx.model.config.contextLength;
  if (ids.length < T + 2) return null; // too short to train on at all
  const data = new Dataset(ids, T);
  return data.hasValidation ? tokens[data.train.length].start : null;
}
