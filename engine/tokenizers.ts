// Tokenizers: the four tiktoken encodings, loaded offline from js-tiktoken, and a character-level one.
// Every tokenizer id can be shown as text; bytes that are only part of a UTF-8 character show as \xNN.
import type { TextSize } from './config';

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

/** One token of a text, with where it sits in the JavaScript string (UTF-16 offsets) and in the UTF-8 bytes. */
export interface TokenChunk {
  id: number;
  text: string; // display form: the decoded text, or \xNN escapes for bytes that are not whole characters
  start: number; // UTF-16 offset of the first character the token touches
  end: number; // UTF-16 offset after the last character the token touches
  byteStart: number;
  byteEnd: number;
}

export interface Tokenizer {
  readonly name: TokenizerName;
  /** The tokenizer's own id space size (code points for char), used only for display. */
  readonly vocabSize: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  tokenBytes(id: number): Uint8Array;
}

const utf8 = new TextEncoder();

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

/** Splits a text into tokens with their positions, for hovers and per-token views. */
export function tokenChunks(tok: Tokenizer, text: string): TokenChunk[] {
  const ids = tok.encode(text);
  // byteToChar[b] = UTF-16 offset of the character that contains byte b
  const byteToChar: number[] = [];
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i) ?? 0;
    const units = cp > 0xffff ? 2 : 1;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (let k = 0; k < n; k++) byteToChar.push(i);
    i += units;
  }
  const chunks: TokenChunk[] = [];
  let byte = 0;
  for (const id of ids) {
    const bytes = tok.tokenBytes(id);
    const byteStart = byte, byteEnd = byte + bytes.length;
    byte = byteEnd;
    const start = byteToChar[byteStart] ?? text.length;
    const lastChar = byteToChar[byteEnd - 1] ?? text.length;
    const end = lastChar + ((text.codePointAt(lastChar) ?? 0) > 0xffff ? 2 : 1);
    chunks.push({ id, text: displayBytes(bytes), start, end: Math.min(end, text.length), byteStart, byteEnd });
  }
  return chunks;
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
    return utf8.encode(String.fromCodePoint(id));
  }
}

class TiktokenTokenizer implements Tokenizer {
  readonly vocabSize: number;
  private readonly enc: Tiktoken;
  private readonly bytesById: Map<number, Uint8Array>;

  constructor(readonly name: Exclude<TokenizerName, 'char'>, ranks: TiktokenBPE) {
    this.enc = new Tiktoken(ranks);
    // js-tiktoken keeps id -> bytes in an internal map; read it once instead of parsing the ranks a second time.
    const internal = (this.enc as unknown as { textMap?: unknown }).textMap;
    if (!(internal instanceof Map)) throw new Error('js-tiktoken changed its internals: textMap is missing');
    this.bytesById = internal as Map<number, Uint8Array>;
    const special = Object.values(ranks.special_tokens);
    this.vocabSize = Math.max(this.bytesById.size - 1, ...special) + 1;
  }
  encode(text: string): number[] {
    // Special-token strings in user text are plain text, never control tokens.
    return this.enc.encode(text, [], []);
  }
  decode(ids: readonly number[]): string {
    return this.enc.decode([...ids]);
  }
  tokenBytes(id: number): Uint8Array {
    const bytes = this.bytesById.get(id);
    if (bytes === undefined) throw new Error(`${this.name} has no token ${id}`);
    return bytes;
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
  if (!isTokenizerName(name)) throw new Error(`unknown tokenizer "${name}"; choose one of ${TOKENIZER_NAMES.join(', ')}`);
  let tok = cache.get(name);
  if (!tok) {
    tok = name === 'char' ? new CharTokenizer() : new TiktokenTokenizer(name, loadRanks(name));
    cache.set(name, tok);
  }
  return tok;
}

/** A text's size for sizing a run to it (config.ts's resolveTrainSettings); counts are memoised per tokenizer. */
export function textSize(text: string): TextSize {
  const counts = new Map<string, number>();
  return {
    bytes: Buffer.byteLength(text),
    countTokens: (name) => {
      let n = counts.get(name);
      if (n === undefined) counts.set(name, (n = getTokenizer(name).encode(text).length));
      return n;
    },
  };
}
