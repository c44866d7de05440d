// Tokenizers: the four tiktoken encodings, loaded offline from js-tiktoken, and a character-level one.
// Every tokenizer id can be shown as text; bytes that are only part of a UTF-8 character show as \xNN.
import type { TextSize } from '../model/config';
import { type TokenChunk } from '../protocol';

// js-tiktoken ships ESM types that a CommonJS project cannot import, so its small surface is declared here.
interface TiktokenBPE {
  pat_str: string;
  special_tokens: Record<string, number>;
  bpe_ranks: string;
}
interface Tiktoken {
  encode(text: string, allowedSpecial?: string[] | 'all', disallowedSpecial?: string[] | 'all'): number[];
  decode(tokens: number[]): string;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Tiktoken } = require('js-tiktoken/lite') as { Tiktoken: new (ranks: TiktokenBPE) => Tiktoken };

export const TOKENIZER_NAMES = ['o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base', 'char'] as const;
export type TokenizerName = (typeof TOKENIZER_NAMES)[number];

export function isTokenizerName(name: string): name is TokenizerName {
  return (TOKENIZER_NAMES as readonly string[]).includes(name);
}

/** Vocabulary sizes a `bpe:N` tokenizer learned from the text may ask for: the 256 bytes, plus up to N - 256 merges. */
export const BPE_MIN_VOCAB = 256;
export const BPE_MAX_VOCAB = 65536;

/** N of a `bpe:N` name, or null when the name is not of that form (or N is out of range). */
export function bpeVocabSize(name: string): number | null {
  const m = /^bpe:(\d{1,6})$/.exec(name);
  if (!m) return null;
  const n = Number(m[1]);
  return n >= BPE_MIN_VOCAB && n <= BPE_MAX_VOCAB ? n : null;
}

/** A tokenizer a person can train with: one of the fixed ones, or `bpe:N`, learned from the training text. */
export function isTokenizerChoice(name: string): boolean {
  return isTokenizerName(name) || bpeVocabSize(name) !== null;
}

/** The choices, for messages and usage lines. */
export const TOKENIZER_CHOICES = `${TOKENIZER_NAMES.join(', ')} or bpe:N (a byte-level BPE learned from the text, N from ${BPE_MIN_VOCAB} to ${BPE_MAX_VOCAB})`;

export interface Tokenizer {
  /** One of TOKENIZER_NAMES, or `bpe:N` for a byte-level BPE learned from a text (its merges travel with the model). */
  readonly name: string;
  /** The tokenizer's own id space size (code points for char). */
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** The UTF-8 bytes of one id; throws for an id the tokenizer does not have (hasToken says which do). */
  tokenBytes(id: number): Uint8Array;
  /** Whether the id is one this tokenizer can produce and decode (model files are checked with it). */
  hasToken(id: number): boolean;
  /** The ids of a text in consecutive slices of bounded work, for callers that yield between them. */
  encodeSlices(text: string): Iterable<number[]>;
}

/** A sliced tokenizer's whole encoding: its slices' ids, in order (each Tokenizer's encode). */
export function joinSlices(slices: Iterable<number[]>): number[] {
  const out: number[] = [];
  for (const slice of slices) for (const id of slice) out.push(id);
  return out;
}

/** Ids produced between two yields of encodeAsync: a few milliseconds of work. */
export const SLICE_IDS = 1 << 15;

/**
 * Longest regex piece, in UTF-8 bytes, that goes to byte-pair merging whole. BPE over one piece is quadratic in its
 * length (js-tiktoken's merge rescans every pair after each merge; OpenAI's tiktoken is also quadratic per piece, see
 * openai/tiktoken#195), and the split patterns leave runs of letters, punctuation or whitespace with no word boundary
 * unbounded: 20,000 letters in a row took 25 s. Longer pieces are merged in blocks of this many bytes, the bounded
 * split that production tokenizer services use. Ordinary text never has such pieces, so its ids are js-tiktoken's
 * exactly; a pathological run gets a token boundary every 256 bytes; decoding stays byte-exact either way.
 */
export const MAX_PIECE_BYTES = 256;

export const utf8 = new TextEncoder();

/**
 * Decodes bytes as UTF-8 where they form whole characters and writes \xNN for each byte that does not.
 * Unlike TextDecoder it never produces U+FFFD, so a learner sees exactly which bytes a token holds.
 */
export function displayBytes(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const len = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    let ok = len > 0 && i + len <= bytes.length;
    for (let k = 1; ok && k < len; k++) ok = (bytes[i + k] & 0xc0) === 0x80;
    if (ok && len > 1) {
      let cp = b & (0xff >> (len + 1));
      for (let k = 1; k < len; k++) cp = (cp << 6) | (bytes[i + k] & 0x3f);
      // reject overlong forms, surrogates and values past U+10FFFF
      const min = len === 2 ? 0x80 : len === 3 ? 0x800 : 0x10000;
      ok = cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
      if (ok) out += String.fromCodePoint(cp);
    } else if (ok) {
      out += String.fromCharCode(b);
    }
    if (ok) i += len;
    else out += `\\x${bytes[i++].toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The display form of one token id. */
export function tokenText(tok: Tokenizer, id: number): string {
  return displayBytes(tok.tokenBytes(id));
}

/**
 * Tokens of a text with their positions, one at a time: memory stays proportional to one token, not to the text, so
 * `gpt-lab tokens` can stream a 60 MB file. Linear in the text's length.
 */
export function* iterTokenChunks(tok: Tokenizer, text: string, ids: Iterable<number> = tok.encode(text)): Generator<TokenChunk> {
  // cursor: the character at UTF-16 offset `at`, whose UTF-8 bytes are [atByte, atByte + atLen)
  let at = 0, atByte = 0;
  const charLen = (i: number): { units: number; bytes: number } => {
    const cp = text.codePointAt(i) ?? 0;
    return { units: cp > 0xffff ? 2 : 1, bytes: cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4 };
  };
  /** Moves the cursor to the character holding byte b and returns its UTF-16 offset (text.length past the end). */
  const charOf = (b: number): number => {
    while (at < text.length) {
      const { units, bytes } = charLen(at);
      if (b < atByte + bytes) return at;
      at += units;
      atByte += bytes;
    }
    return text.length;
  };
  let byte = 0;
  for (const id of ids) {
    const bytes = tok.tokenBytes(id);
    const byteStart = byte, byteEnd = byte + bytes.length;
    byte = byteEnd;
    const start = charOf(byteStart);
    const lastChar = charOf(byteEnd - 1);
    const end = lastChar < text.length ? lastChar + charLen(lastChar).units : text.length;
    yield { id, text: displayBytes(bytes), start, end: Math.min(end, text.length), byteStart, byteEnd };
  }
}

/** Splits a text into tokens with their positions, for hovers and per-token views. */
export function tokenChunks(tok: Tokenizer, text: string): TokenChunk[] {
  return [...iterTokenChunks(tok, text)];
}

/**
 * Encodes a long text in slices, yielding to the event loop between them so that a cancel (Ctrl-C, the editor's
 * Cancel) is seen while a large file is tokenized. The ids are exactly `tok.encode(text)`'s. Throws the signal's
 * reason (an AbortError) when it fires.
 */
export async function encodeAsync(tok: Tokenizer, text: string, signal?: AbortSignal): Promise<number[]> {
  const out: number[] = [];
  for (const slice of tok.encodeSlices(text)) {
    for (const id of slice) out.push(id);
    await new Promise<void>((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
  }
  return out;
}

/** The number of tokens of a long text, counted slice by slice with a yield between slices (as encodeAsync). */
export async function countTokensAsync(tok: Tokenizer, text: string, signal?: AbortSignal): Promise<number> {
  let n = 0;
  for (const slice of tok.encodeSlices(text)) {
    n += slice.length;
    await new Promise<void>((resolve) => setImmediate(resolve));
    signal?.throwIfAborted();
  }
  return n;
}

/** Character-level: the id of a character is its Unicode code point. The model's vocabulary compacts them. */
class CharTokenizer implements Tokenizer {
  readonly name = 'char';
  readonly vocabSize = 0x110000;
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const ch of text) ids.push(ch.codePointAt(0) ?? 0);
    return ids;
  }
  decode(ids: readonly number[]): string {
    let s = '';
    for (const id of ids) s += String.fromCodePoint(id);
    return s;
  }
  tokenBytes(id: number): Uint8Array {
    if (!this.hasToken(id)) throw new Error(`char has no token ${id}: ids are Unicode code points (0 to 0x10FFFF)`);
    return utf8.encode(String.fromCodePoint(id));
  }
  hasToken(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id <= 0x10ffff;
  }
  *encodeSlices(text: string): Iterable<number[]> {
    let i = 0;
    while (i < text.length) {
      let end = Math.min(text.length, i + SLICE_IDS);
      const last = text.charCodeAt(end - 1);
      if (end < text.length && last >= 0xd800 && last <= 0xdbff) end += 1; // keep surrogate pairs whole
      yield this.encode(text.slice(i, end));
      i = end;
    }
  }
}

class TiktokenTokenizer implements Tokenizer {
  readonly vocabSize: number;
  private readonly enc: Tiktoken;
  private readonly bytesById: Map<number, Uint8Array>;
  private readonly rankOf: Map<string, number>;
  private readonly pattern: string;

  constructor(readonly name: Exclude<TokenizerName, 'char'>, ranks: TiktokenBPE) {
    this.enc = new Tiktoken(ranks);
    // js-tiktoken keeps id -> bytes and bytes -> id in internal maps; read them once instead of parsing the ranks again.
    const internal = this.enc as unknown as { textMap?: unknown; rankMap?: unknown };
    if (!(internal.textMap instanceof Map) || !(internal.rankMap instanceof Map)) throw new Error('js-tiktoken changed its internals: textMap or rankMap is missing');
    this.bytesById = internal.textMap as Map<number, Uint8Array>;
    this.rankOf = internal.rankMap as Map<string, number>;
    this.pattern = ranks.pat_str;
    const special = Object.values(ranks.special_tokens);
    this.vocabSize = Math.max(this.bytesById.size - 1, ...special) + 1;
  }

  encode(text: string): number[] {
    return joinSlices(this.encodeSlices(text));
  }

  /**
   * js-tiktoken's encode with special-token strings read as plain text (never control tokens), done here so that
   * pieces are bounded (MAX_PIECE_BYTES) and the work comes in slices.
   */
  *encodeSlices(text: string): Iterable<number[]> {
    let out: number[] = [];
    for (const match of text.matchAll(new RegExp(this.pattern, 'ug'))) {
      const piece = utf8.encode(match[0]);
      const whole = this.rankOf.get(piece.join(','));
      if (whole !== undefined) out.push(whole);
      else for (let i = 0; i < piece.length; i += MAX_PIECE_BYTES) this.mergeInto(piece.subarray(i, i + MAX_PIECE_BYTES), out);
      if (out.length >= SLICE_IDS) {
        yield out;
        out = [];
      }
    }
    if (out.length) yield out;
  }

  /**
   * Byte-pair merging as tiktoken does it: repeatedly merge the adjacent pair with the lowest rank (leftmost on ties).
   * Ranks of neighbouring pairs are cached, so each merge costs one scan, not a rebuild of every pair's key.
   */
  private mergeInto(piece: Uint8Array, out: number[]): void {
    const rank = (a: number, b: number): number => this.rankOf.get(piece.subarray(a, b).join(',')) ?? Infinity;
    if (piece.length === 1) {
      out.push(this.rankOf.get(String(piece[0]))!);
      return;
    }
    const starts: number[] = Array.from({ length: piece.length + 1 }, (_, i) => i); // part k is [starts[k], starts[k+1])
    const ranks: number[] = Array.from({ length: piece.length - 1 }, (_, k) => rank(k, k + 2)); // rank of merging parts k and k+1
    while (ranks.length > 0) {
      let best = 0;
      for (let k = 1; k < ranks.length; k++) if (ranks[k] < ranks[best]) best = k;
      if (ranks[best] === Infinity) break;
      starts.splice(best + 1, 1);
      ranks.splice(best, 1);
      if (best < ranks.length) ranks[best] = rank(starts[best], starts[best + 2]);
      if (best > 0) ranks[best - 1] = rank(starts[best - 1], starts[best + 1]);
    }
    for (let k = 0; k + 1 < starts.length; k++) {
      const id = this.rankOf.get(piece.subarray(starts[k], starts[k + 1]).join(','));
      if (id !== undefined) out.push(id);
    }
  }

  decode(ids: readonly number[]): string {
    return this.enc.decode([...ids]);
  }
  tokenBytes(id: number): Uint8Array {
    const bytes = this.bytesById.get(id);
    if (bytes === undefined) throw new Error(`${this.name} has no token ${id}`);
    return bytes;
  }
  hasToken(id: number): boolean {
    return this.bytesById.has(id);
  }
}

const cache = new Map<TokenizerName, Tokenizer>();

function loadRanks(name: Exclude<TokenizerName, 'char'>): TiktokenBPE {
  // Literal requires so that bundlers include each table; only the one asked for is parsed.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const mod = ((): unknown => {
    switch (name) {
      case 'o200k_base': return require('js-tiktoken/ranks/o200k_base');
      case 'cl100k_base': return require('js-tiktoken/ranks/cl100k_base');
      case 'p50k_base': return require('js-tiktoken/ranks/p50k_base');
      case 'r50k_base': return require('js-tiktoken/ranks/r50k_base');
    }
  })() as TiktokenBPE & { default?: TiktokenBPE };
  /* eslint-enable @typescript-eslint/no-require-imports */
  return mod.default ?? mod; // Node's require gives the CommonJS build's default export; bundlers may unwrap it
}

export function getTokenizer(name: string): Tokenizer {
  if (bpeVocabSize(name) !== null) throw new Error(`${name} is learned from a text: it comes from a model file or from training, not by name`);
  if (!isTokenizerName(name)) throw new Error(`unknown tokenizer "${name}"; choose one of ${TOKENIZER_NAMES.join(', ')}`);
  let tok = cache.get(name);
  if (!tok) {
    tok = name === 'char' ? new CharTokenizer() : new TiktokenTokenizer(name, loadRanks(name));
    cache.set(name, tok);
  }
  return tok;
}

/**
 * A text's size for sizing a run to it (config.ts's resolveTrainSettings); counts are memoised per tokenizer.
 * `learned` holds tokenizers already learned from this text (bpe.ts's tokenizerForText), by the name that chose them.
 */
export function textSize(text: string, learned: ReadonlyMap<string, Tokenizer> = new Map()):
  TextSize & { idsOf(name: string): number[] | undefined; tokenizerOf(name: string): Tokenizer } {
  const ids = new Map<string, number[]>();
  const tokenizerOf = (name: string): Tokenizer => learned.get(name) ?? getTokenizer(name);
  return {
    bytes: Buffer.byteLength(text),
    countTokens: (name) => {
      let t = ids.get(name);
      if (t === undefined) ids.set(name, (t = tokenizerOf(name).encode(text)));
      return t.length;
    },
    /** The ids counted for sizing, if any, so training need not tokenize the text a second time. */
    idsOf: (name) => ids.get(name),
    /** The tokenizer a name stands for on this text. */
    tokenizerOf,
  };
}
