// A byte-level BPE learned from a text, GPT-2 style (`--tokenizer bpe:N`).
//   1. GPT-2's pattern splits the text into pieces: a word with its leading space, a run of digits, of punctuation, of
//      whitespace. No token ever crosses a piece. Pieces longer than MAX_PIECE_BYTES go in blocks of that many bytes,
//      as the tiktoken encodings do here, so learning and encoding see the same pieces.
//   2. Each piece is its UTF-8 bytes: ids 0-255 are the bytes themselves, so any text (lone surrogates read as U+FFFD,
//      as in every byte-level encoding) has tokens.
//   3. The most frequent adjacent pair of tokens (counted over every piece, times the piece's frequency) becomes a new
//      token: merge k makes id 256 + k. Ties go to the smaller pair of ids (left id, then right id), as Hugging Face's
//      BPE trainer breaks them. Learning stops at N tokens, or when no pair occurs twice.
// Counting is incremental: a merge touches only the distinct pieces that hold its pair, and only their pair counts
// change; a heap with lazily refreshed counts finds the next pair. 1 MB of text learns 4,096 tokens in seconds.
// Encoding merges, within each piece, the adjacent pair that was learned first, until none is left: the order the
// merges were learned in, as tiktoken and GPT-2's encoder apply theirs. On the text it was learned from, this gives
// exactly the tokens learning ended with (a test holds it to that).
import { bpeVocabSize, displayBytes, getTokenizer, joinSlices, MAX_PIECE_BYTES, SLICE_IDS, utf8, type Tokenizer } from './tokenizers';
import { type BpeReplay } from '../protocol';

/** GPT-2's pre-split pattern (openai/gpt-2 encoder.py; tiktoken's r50k_base `pat_str`). */
export const GPT2_SPLIT_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

/** Split patterns a learned BPE may name; only GPT-2's for now (the model file records which). */
export const BPE_PATTERNS: Record<string, string> = { gpt2: GPT2_SPLIT_PATTERN };

/** Decodes as the tiktoken encodings do: invalid bytes become U+FFFD, and a leading BOM stays text. */
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Ids below this are bytes; merge k makes id FIRST_MERGE_ID + k. */
export const FIRST_MERGE_ID = 256;

/** Pair (a, b) -> one number; ids stay below BPE_MAX_VOCAB (65,536), so a * 2^17 + b is exact and ordered as (a, b). */
const KEY_BASE = 1 << 17;
const pairKey = (a: number, b: number): number => a * KEY_BASE + b;

/** What learning produced: the merges in order, and how the text's token count fell with each. */
export interface BpeTraining {
  /** [2M]: merge k joins ids merges[2k] and merges[2k + 1] into id 256 + k. */
  merges: Int32Array;
  /** [M]: how many times the pair stood side by side in the text (overlaps included) when it was chosen. */
  pairCounts: Float64Array;
  /** [M]: the text's token count after merge k. */
  tokensAfter: Float64Array;
  /** The text's token count before any merge: its UTF-8 bytes. */
  bytes: number;
}

/** The pieces of a text as byte strings with their frequencies: what learning counts over. */
export function countPieces(text: string, pattern = GPT2_SPLIT_PATTERN): Map<string, number> {
  const pieces = new Map<string, number>(); // UTF-8 bytes as a latin1 string -> frequency
  const add = (key: string): void => void pieces.set(key, (pieces.get(key) ?? 0) + 1);
  const seen = new Map<string, string>(); // piece text -> its key, so a frequent word is converted once
  for (const match of text.matchAll(new RegExp(pattern, 'gu'))) {
    const piece = match[0];
    let key = seen.get(piece);
    if (key === undefined) {
      key = Buffer.from(utf8.encode(piece)).toString('latin1');
      if (key.length > MAX_PIECE_BYTES) {
        for (let i = 0; i < key.length; i += MAX_PIECE_BYTES) add(key.slice(i, i + MAX_PIECE_BYTES));
        continue;
      }
      if (seen.size < 1 << 20) seen.set(piece, key);
    }
    add(key);
  }
  return pieces;
}

/**
 * Learns merges over pieces given as sequences of ids with frequencies, one merge per step(). Exposed so that a test
 * can feed a textbook corpus (Sennrich et al.'s words with an end-of-word symbol) as well as byte pieces.
 */
export class BpeLearner {
  private readonly words: number[][];
  private readonly freq: Float64Array;
  private readonly counts = new Map<number, number>(); // pair key -> occurrences in the text
  private readonly where = new Map<number, number[]>(); // pair key -> pieces that may hold it (a superset)
  private readonly heapKeys: number[] = [];
  private readonly heapCounts: number[] = []; // each key's count when pushed: never below its current count
  private readonly merges: number[] = [];
  private readonly pairCounts: number[] = [];
  private readonly tokensAfter: number[] = [];
  private tokens = 0;
  readonly initialTokens: number;

  /** `words[i]` occurs `freq[i]` times; new ids start at `firstId`. */
  constructor(words: number[][], freq: ArrayLike<number>, private readonly firstId = FIRST_MERGE_ID) {
    this.words = words;
    this.freq = Float64Array.from(freq);
    for (let w = 0; w < words.length; w++) {
      const ids = words[w], f = this.freq[w];
      this.tokens += ids.length * f;
      const keys = new Set<number>();
      for (let i = 0; i + 1 < ids.length; i++) {
        const k = pairKey(ids[i], ids[i + 1]);
        this.counts.set(k, (this.counts.get(k) ?? 0) + f);
        keys.add(k);
      }
      for (const k of keys) this.whereOf(k).push(w);
    }
    this.initialTokens = this.tokens;
    for (const [k, c] of this.counts) this.push(k, c);
  }

  /** Byte pieces of a text, ready to learn from. */
  static fromText(text: string, pattern = GPT2_SPLIT_PATTERN): BpeLearner {
    const pieces = countPieces(text, pattern);
    const words: number[][] = [], freq: number[] = [];
    for (const [key, f] of pieces) {
      const ids = new Array<number>(key.length);
      for (let i = 0; i < key.length; i++) ids[i] = key.charCodeAt(i);
      words.push(ids);
      freq.push(f);
    }
    return new BpeLearner(words, freq);
  }

  get mergeCount(): number {
    return this.pairCounts.length;
  }

  /** Makes the next merge; false when no pair occurs twice (nothing left worth a token). */
  step(): boolean {
    let key = -1, count = 0;
    while (this.heapKeys.length > 0) {
      const [k, pushed] = this.pop();
      const current = this.counts.get(k) ?? 0;
      if (current === pushed) {
        key = k;
        count = current;
        break;
      }
      if (current > 0) this.push(k, current); // stale: its pieces lost occurrences since; file it under today's count
    }
    if (key < 0 || count < 2) return false;
    const a = Math.floor(key / KEY_BASE), b = key % KEY_BASE;
    const z = this.firstId + this.mergeCount;
    let merged = 0;
    const grown = new Set<number>(); // pairs with z: new, so they go on the heap once their counts are complete
    for (const w of this.where.get(key) ?? []) {
      const ids = this.words[w];
      let holds = false;
      for (let i = 0; i + 1 < ids.length && !holds; i++) holds = ids[i] === a && ids[i + 1] === b;
      if (!holds) continue; // listed for a pair it no longer has, or listed twice
      const f = this.freq[w];
      for (let i = 0; i + 1 < ids.length; i++) this.add(pairKey(ids[i], ids[i + 1]), -f);
      const out: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
          out.push(z);
          i++;
          merged += f;
        } else {
          out.push(ids[i]);
        }
      }
      this.words[w] = out;
      const mine = new Set<number>();
      for (let i = 0; i + 1 < out.length; i++) {
        const k = pairKey(out[i], out[i + 1]);
        this.add(k, f);
        if ((out[i] === z || out[i + 1] === z) && !mine.has(k)) {
          mine.add(k);
          this.whereOf(k).push(w);
          grown.add(k);
        }
      }
    }
    this.where.delete(key);
    this.counts.delete(key);
    for (const k of grown) this.push(k, this.counts.get(k) ?? 0);
    this.tokens -= merged;
    this.merges.push(a, b);
    this.pairCounts.push(count);
    this.tokensAfter.push(this.tokens);
    return true;
  }

  result(): BpeTraining {
    return { merges: Int32Array.from(this.merges), pairCounts: Float64Array.from(this.pairCounts),
      tokensAfter: Float64Array.from(this.tokensAfter), bytes: this.initialTokens };
  }

  private whereOf(k: number): number[] {
    let list = this.where.get(k);
    if (!list) this.where.set(k, (list = []));
    return list;
  }

  private add(k: number, delta: number): void {
    const c = (this.counts.get(k) ?? 0) + delta;
    if (c === 0) this.counts.delete(k);
    else this.counts.set(k, c);
  }

  // A binary max-heap of (count, key): higher count first, then the smaller key, i.e. the smaller (left, right) pair.
  private before(i: number, j: number): boolean {
    const ci = this.heapCounts[i], cj = this.heapCounts[j];
    return ci > cj || (ci === cj && this.heapKeys[i] < this.heapKeys[j]);
  }

  private swap(i: number, j: number): void {
    const k = this.heapKeys[i], c = this.heapCounts[i];
    this.heapKeys[i] = this.heapKeys[j];
    this.heapCounts[i] = this.heapCounts[j];
    this.heapKeys[j] = k;
    this.heapCounts[j] = c;
  }

  private push(key: number, count: number): void {
    this.heapKeys.push(key);
    this.heapCounts.push(count);
    for (let i = this.heapKeys.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private pop(): [number, number] {
    const top: [number, number] = [this.heapKeys[0], this.heapCounts[0]];
    const lastKey = this.heapKeys.pop()!, lastCount = this.heapCounts.pop()!;
    if (this.heapKeys.length > 0) {
      this.heapKeys[0] = lastKey;
      this.heapCounts[0] = lastCount;
      const n = this.heapKeys.length;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1;
        let best = i;
        if (l < n && this.before(l, best)) best = l;
        if (r < n && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return top;
  }
}

/** Learns a BPE of `vocabSize` tokens (256 bytes + merges) from a text. */
export function learnBpe(text: string, vocabSize: number): BpeTraining {
  const learner = BpeLearner.fromText(text);
  while (FIRST_MERGE_ID + learner.mergeCount < vocabSize && learner.step()) { /* one merge per step */ }
  return learner.result();
}

/** learnBpe, yielding to the event loop every few milliseconds so that a cancel gets through; throws the signal's reason. */
export async function learnBpeAsync(text: string, vocabSize: number, signal?: AbortSignal): Promise<BpeTraining> {
  const learner = BpeLearner.fromText(text);
  let last = performance.now();
  while (FIRST_MERGE_ID + learner.mergeCount < vocabSize && learner.step()) {
    if (performance.now() - last > 20) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      signal?.throwIfAborted();
      last = performance.now();
    }
  }
  signal?.throwIfAborted();
  return learner.result();
}

/** A learned byte-level BPE: encodes with its merges, in the order they were learned. */
export class BpeTokenizer implements Tokenizer {
  readonly name: string;
  readonly vocabSize: number;
  private readonly bytesById: Uint8Array[];
  private readonly mergedId = new Map<number, number>(); // pair key -> the id it merges into (its rank + 256)
  private readonly cache = new Map<string, number[]>(); // piece -> ids, for the frequent words of a text
  private readonly splitter: string;

  /** `merges` as BpeTraining's; `pattern` names the split pattern (BPE_PATTERNS). */
  constructor(readonly merges: Int32Array, readonly pattern = 'gpt2') {
    const split = BPE_PATTERNS[pattern];
    if (split === undefined) throw new Error(`unknown BPE split pattern "${pattern.slice(0, 40)}"`);
    this.splitter = split;
    if (merges.length % 2 !== 0) throw new Error('BPE merges must come in pairs');
    const count = merges.length / 2;
    this.vocabSize = FIRST_MERGE_ID + count;
    if (this.vocabSize > KEY_BASE / 2) throw new Error(`a BPE of ${this.vocabSize} tokens is beyond this engine's limit`);
    this.name = `bpe:${this.vocabSize}`;
    this.bytesById = Array.from({ length: FIRST_MERGE_ID }, (_, b) => Uint8Array.of(b));
    for (let k = 0; k < count; k++) {
      const a = merges[2 * k], b = merges[2 * k + 1], id = FIRST_MERGE_ID + k;
      if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= 0 && a < id && b < id)) {
        throw new Error(`BPE merge ${k} joins ${a} and ${b}, but only ids below ${id} exist by then`);
      }
      const key = pairKey(a, b);
      if (this.mergedId.has(key)) throw new Error(`BPE merge ${k} repeats the pair ${a}, ${b}`);
      this.mergedId.set(key, id);
      const left = this.bytesById[a], right = this.bytesById[b];
      const bytes = new Uint8Array(left.length + right.length);
      bytes.set(left);
      bytes.set(right, left.length);
      this.bytesById.push(bytes);
    }
  }

  encode(text: string): number[] {
    return joinSlices(this.encodeSlices(text));
  }

  *encodeSlices(text: string): Iterable<number[]> {
    let out: number[] = [];
    for (const match of text.matchAll(new RegExp(this.splitter, 'gu'))) {
      const piece = match[0];
      const cached = this.cache.get(piece);
      if (cached) {
        for (const id of cached) out.push(id);
      } else {
        const bytes = utf8.encode(piece);
        const ids: number[] = [];
        for (let i = 0; i < bytes.length; i += MAX_PIECE_BYTES) this.mergePiece(bytes.subarray(i, i + MAX_PIECE_BYTES), ids);
        if (bytes.length <= MAX_PIECE_BYTES && this.cache.size < 1 << 16) this.cache.set(piece, ids);
        for (const id of ids) out.push(id);
      }
      if (out.length >= SLICE_IDS) {
        yield out;
        out = [];
      }
    }
    if (out.length) yield out;
  }

  /** Merges the earliest-learned adjacent pair (leftmost on ties) until no learned pair is left. */
  private mergePiece(bytes: Uint8Array, out: number[]): void {
    const ids = Array.from(bytes);
    const rankAt = (k: number): number => this.mergedId.get(pairKey(ids[k], ids[k + 1])) ?? Infinity; // merged id = rank + 256
    const ranks: number[] = Array.from({ length: Math.max(0, ids.length - 1) }, (_, k) => rankAt(k));
    while (ranks.length > 0) {
      let best = 0;
      for (let k = 1; k < ranks.length; k++) if (ranks[k] < ranks[best]) best = k;
      if (ranks[best] === Infinity) break;
      ids.splice(best, 2, ranks[best]);
      ranks.splice(best, 1);
      if (best < ranks.length) ranks[best] = rankAt(best);
      if (best > 0) ranks[best - 1] = rankAt(best - 1);
    }
    for (const id of ids) out.push(id);
  }

  decode(ids: readonly number[]): string {
    let length = 0;
    for (const id of ids) length += this.tokenBytes(id).length;
    const bytes = new Uint8Array(length);
    let at = 0;
    for (const id of ids) {
      const b = this.bytesById[id];
      bytes.set(b, at);
      at += b.length;
    }
    return utf8Decoder.decode(bytes);
  }

  tokenBytes(id: number): Uint8Array {
    if (!this.hasToken(id)) throw new Error(`${this.name} has no token ${id}`);
    return this.bytesById[id];
  }

  hasToken(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.vocabSize;
  }
}

/** The model file's `gptlab.bpe` value: the split pattern's name and the merges, flat. */
export function encodeBpeMetadata(tok: BpeTokenizer): string {
  return JSON.stringify({ pattern: tok.pattern, merges: Array.from(tok.merges) });
}

/** The tokenizer a model file's `gptlab.bpe` describes; `name` (gptlab.tokenizer) must agree with its size. */
export function decodeBpeMetadata(raw: string | undefined, name: string): BpeTokenizer {
  if (raw === undefined) throw new Error(`metadata gptlab.bpe is missing; a ${name} model carries its merges there`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new Error('metadata gptlab.bpe is not valid JSON');
  }
  const p = parsed as { pattern?: unknown; merges?: unknown };
  if (typeof parsed !== 'object' || parsed === null || typeof p.pattern !== 'string' || !Array.isArray(p.merges)) {
    throw new Error('metadata gptlab.bpe must be {"pattern": NAME, "merges": [ids]}');
  }
  if (!p.merges.every((v) => Number.isInteger(v))) throw new Error('metadata gptlab.bpe merges must be whole numbers');
  const tok = new BpeTokenizer(Int32Array.from(p.merges as number[]), p.pattern);
  if (tok.name !== name) throw new Error(`the model's tokenizer is ${name}, but gptlab.bpe holds ${tok.vocabSize - FIRST_MERGE_ID} merges (${tok.name})`);
  return tok;
}

/**
 * The tokenizer a name stands for on a text: a fixed one by name, or for `bpe:N` a BPE learned from the text (in
 * slices of work, so a cancel gets through; throws the signal's reason).
 */
export async function tokenizerForText(name: string, text: string, signal?: AbortSignal): Promise<Tokenizer> {
  const size = bpeVocabSize(name);
  if (size === null) return getTokenizer(name);
  return new BpeTokenizer((await learnBpeAsync(text, size, signal)).merges);
}

/** The tokenizers the named choices need on a text, learned ones only (textSize's `learned`). */
export async function learnedTokenizers(names: readonly (string | undefined)[], text: string, signal?: AbortSignal): Promise<Map<string, Tokenizer>> {
  const out = new Map<string, Tokenizer>();
  for (const name of names) {
    if (name !== undefined && !out.has(name) && bpeVocabSize(name) !== null) out.set(name, await tokenizerForText(name, text, signal));
  }
  return out;
}

/** Learns a BPE from a text and describes every merge for the merge replay. */
export async function bpeReplay(text: string, vocabSize: number, signal?: AbortSignal): Promise<BpeReplay> {
  if (bpeVocabSize(`bpe:${vocabSize}`) === null) throw new Error(`a BPE's vocabulary size must be a whole number from 256 to 65536, got ${vocabSize}`);
  const learned = await learnBpeAsync(text, vocabSize, signal);
  const tok = new BpeTokenizer(learned.merges);
  const shown = (id: number): string => displayBytes(tok.tokenBytes(id));
  let characters = 0;
  for (const _ of text) characters++;
  return {
    name: tok.name, bytes: learned.bytes, characters,
    steps: Array.from(learned.pairCounts, (pairCount, k) => ({ id: FIRST_MERGE_ID + k, left: shown(learned.merges[2 * k]),
      right: shown(learned.merges[2 * k + 1]), token: shown(FIRST_MERGE_ID + k), pairCount, tokensAfter: learned.tokensAfter[k] })),
  };
}
