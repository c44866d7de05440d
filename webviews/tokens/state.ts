// The tokens view's state: what arrived (validated), what is drawn (per encoding: chunks, counts, characters and bytes
// per token), the labels that say what the panel shows, the model's bits per byte, and the BPE replay. No DOM: node
// tests load it as is.
import type { BpeReplay, BpeReplayData, EncodingComparison, ModelTag, TokenizerComparison, TokenLoss, TokensData } from '../../engine/protocol';
import { count } from '../shared/format';

export const ENCODING_ORDER = ['o200k_base', 'cl100k_base', 'p50k_base', 'r50k_base', 'char'];
/** The fixed tokenizers a learned BPE is compared against in the replay. */
export const REPLAY_REFERENCES = ['char', 'r50k_base', 'cl100k_base', 'o200k_base'];
/** Replays longer than this are not persisted (a reload asks for them again). */
const MAX_PERSISTED_MERGES = 8192;
export const DEFAULT_BPE_VOCAB = 1024;

export interface Chunk {
  i: number;
  id: number;
  text: string; // display form from the engine (\xNN for bytes that are not whole characters)
  start: number;
  end: number;
  byteStart: number;
  byteEnd: number;
  inModel: boolean | null;
  partial: boolean; // holds part of a UTF-8 character
  bits: number | null; // surprise under the model (loss / ln 2), model tokenizer only
  nats: number | null;
}

export interface EncodingView {
  encoding: string;
  count: number;
  fileTokens: number;
  charsPerToken: number;
  bytesPerToken: number;
  textCharsPerToken: number;
  isModel: boolean;
  learned: boolean; // a BPE learned from the file (bpe:N)
  chunks: Chunk[];
  unknown: number; // shown tokens the model does not have
}

export interface ReplayState {
  data: BpeReplayData;
  step: number; // merges applied, 0..steps.length
}

export interface TokensState {
  version: 2;
  data: TokensData | null;
  replay: ReplayState | null;
  vocabSize: number; // the replay's size in the input
  shown: Record<string, number>; // chunks drawn per encoding
  colourBy: 'chunk' | 'surprise';
  showIds: boolean;
}

export function emptyState(): TokensState {
  return { version: 2, data: null, replay: null, vocabSize: DEFAULT_BPE_VOCAB, shown: {}, colourBy: 'chunk', showIds: true };
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const utf8 = new TextEncoder();

function validModel(m: unknown): ModelTag | null {
  if (!isObj(m) || typeof m.label !== 'string' || typeof m.tokenizer !== 'string') return null;
  return { label: m.label.slice(0, 200), tokenizer: m.tokenizer.slice(0, 40), parameters: isNum(m.parameters) ? m.parameters : 0, partial: m.partial === true };
}

function validComparison(c: unknown): TokenizerComparison | null {
  if (!isObj(c) || !Array.isArray(c.encodings)) return null;
  const encodings = (c.encodings as unknown[]).filter((e): e is EncodingComparison => isObj(e) && typeof e.encoding === 'string' && Array.isArray(e.tokens))
    .map((e) => ({
      encoding: e.encoding.slice(0, 40),
      tokens: e.tokens.filter((t) => isObj(t) && isNum(t.id) && typeof t.text === 'string' && isNum(t.start) && isNum(t.end)),
      count: isNum(e.count) ? e.count : e.tokens.length,
      inModel: Array.isArray(e.inModel) ? e.inModel : null,
      fileTokens: isNum(e.fileTokens) && e.fileTokens >= 0 ? e.fileTokens : 0,
      charsPerToken: isNum(e.charsPerToken) ? e.charsPerToken : 0,
      bytesPerToken: isNum(e.bytesPerToken) ? e.bytesPerToken : 0,
    }));
  return { encodings, fileChars: isNum(c.fileChars) ? c.fileChars : 0, fileBytes: isNum(c.fileBytes) ? c.fileBytes : 0,
    modelTokenizer: typeof c.modelTokenizer === 'string' ? c.modelTokenizer : null };
}

/** The payload's shape checked and malformed entries dropped (the host is trusted, but a bad message must not break the view). */
export function validate(p: unknown): TokensData | null {
  if (!isObj(p) || typeof p.text !== 'string') return null;
  const comparison = validComparison(p.comparison);
  if (!comparison) return null;
  const surprise = Array.isArray(p.surprise)
    ? (p.surprise as unknown[]).filter((t): t is TokenLoss => isObj(t) && isNum(t.start) && isNum(t.end) && (t.loss === null || isNum(t.loss)))
    : null;
  const scope = p.scope === 'file' || p.scope === 'line' ? p.scope : 'selection';
  return {
    source: typeof p.source === 'string' ? p.source.slice(0, 200) : '',
    scope,
    line: scope === 'line' && isNum(p.line) ? p.line : null,
    text: p.text,
    comparison,
    surprise: surprise && surprise.length ? surprise : null,
    model: validModel(p.model),
  };
}

export function validateReplay(p: unknown): BpeReplayData | null {
  if (!isObj(p) || !isObj(p.replay)) return null;
  const r = p.replay;
  const comparison = validComparison(p.comparison);
  if (!comparison || typeof r.name !== 'string' || !isNum(r.bytes) || !isNum(r.characters) || !Array.isArray(r.steps)) return null;
  const steps = (r.steps as unknown[]).filter((s): s is BpeReplay['steps'][number] => isObj(s) && isNum(s.id) && typeof s.left === 'string' &&
    typeof s.right === 'string' && typeof s.token === 'string' && isNum(s.pairCount) && isNum(s.tokensAfter));
  return { replay: { name: r.name.slice(0, 40), bytes: r.bytes, characters: r.characters, steps }, comparison };
}

/** The comparison on screen: the replay's (it holds the learned BPE too) once there is one. */
export function shownComparison(s: TokensState): TokenizerComparison | null {
  return s.replay?.data.comparison ?? s.data?.comparison ?? null;
}

export function buildViews(data: TokensData, comparison: TokenizerComparison = data.comparison): EncodingView[] {
  const textChars = [...data.text].length;
  const model = comparison.modelTokenizer;
  // Surprise by token start offset (the model's tokens are the model tokenizer's chunks of the same text).
  const surpriseAt = new Map<number, TokenLoss>();
  for (const t of data.surprise ?? []) surpriseAt.set(t.start, t);
  const order = (e: string): number => (e === model ? -2 : e.startsWith('bpe:') ? -1 : ENCODING_ORDER.indexOf(e) < 0 ? 99 : ENCODING_ORDER.indexOf(e));
  return [...comparison.encodings].sort((a, b) => order(a.encoding) - order(b.encoding)).map((e) => {
    const isModel = e.encoding === model;
    const chunks = e.tokens.map((t, i): Chunk => {
      const s = isModel ? surpriseAt.get(t.start) : undefined;
      const nats = s && s.loss !== null && isNum(s.loss) ? s.loss : null;
      const byteLen = isNum(t.byteEnd) && isNum(t.byteStart) ? t.byteEnd - t.byteStart : utf8.encode(t.text).length;
      return { i, id: t.id, text: t.text, start: t.start, end: t.end, byteStart: t.byteStart, byteEnd: t.byteEnd,
        inModel: e.inModel ? e.inModel[i] !== false : null,
        partial: /\\x[0-9a-f]{2}/.test(t.text) && utf8.encode(t.text).length !== byteLen,
        bits: nats === null ? null : nats / Math.LN2, nats };
    });
    return { encoding: e.encoding, count: e.count, fileTokens: e.fileTokens, charsPerToken: e.charsPerToken, bytesPerToken: e.bytesPerToken,
      textCharsPerToken: e.count ? textChars / e.count : 0, isModel, learned: e.encoding.startsWith('bpe:'), chunks,
      unknown: chunks.filter((c) => c.inModel === false).length };
  });
}

/** What the panel shows, with true counts: "line 5 of notes.md · 20 characters", "the whole of notes.md · 49,991 characters". */
export function scopeLabel(d: TokensData): string {
  const chars = count([...d.text].length, 'character');
  const source = d.source || 'the document';
  if (d.scope === 'file') return `the whole of ${source} · ${chars}`;
  if (d.scope === 'line') return `line ${d.line ?? '?'} of ${source} · ${chars}`;
  return `the selection in ${source} · ${chars}`;
}

/**
 * The model's surprise over the text in bits per byte: the bits of every predicted token (all but the first) over
 * their UTF-8 bytes. Unlike bits per token it compares models across tokenizers.
 */
export function bitsPerByte(d: TokensData): { bits: number; bytes: number; tokens: number; bitsPerByte: number; natsPerToken: number } | null {
  if (!d.surprise) return null;
  let bits = 0, bytes = 0, tokens = 0, nats = 0;
  for (const t of d.surprise) {
    if (t.loss === null) continue;
    bits += t.loss / Math.LN2;
    nats += t.loss;
    bytes += utf8.encode(d.text.slice(t.start, t.end)).length;
    tokens++;
  }
  return tokens && bytes ? { bits, bytes, tokens, bitsPerByte: bits / bytes, natsPerToken: nats / tokens } : null;
}

/** The learned BPE's size to offer: the model's when it learned one, else what the input last held. */
export function replayVocabSize(s: TokensState): number {
  const m = /^bpe:(\d+)$/.exec(s.data?.model?.tokenizer ?? '');
  return m ? Number(m[1]) : s.vocabSize;
}

/** Where the replay stands after `step` merges: the file's tokens, chars and bytes per token, and the merge just made. */
export function replayPoint(r: BpeReplay, step: number): { step: number; vocab: number; tokens: number; charsPerToken: number;
  bytesPerToken: number; merge: BpeReplay['steps'][number] | null } {
  const k = Math.max(0, Math.min(r.steps.length, Math.round(step)));
  const tokens = k === 0 ? r.bytes : r.steps[k - 1].tokensAfter;
  return { step: k, vocab: 256 + k, tokens, charsPerToken: tokens ? r.characters / tokens : 0, bytesPerToken: tokens ? r.bytes / tokens : 0,
    merge: k === 0 ? null : r.steps[k - 1] };
}

/** Characters per token of the whole file under each reference tokenizer, for the replay's chart. */
export function replayReferences(c: TokenizerComparison): { encoding: string; charsPerToken: number; bytesPerToken: number }[] {
  return REPLAY_REFERENCES.flatMap((name) => {
    const e = c.encodings.find((x) => x.encoding === name);
    return e && e.fileTokens > 0 ? [{ encoding: name, charsPerToken: e.charsPerToken, bytesPerToken: e.bytesPerToken }] : [];
  });
}

/** At most `budget` points of the replay's curve (chars per token after each merge), the ends always included. */
export function replayCurve(r: BpeReplay, budget = 600): [number, number][] {
  const n = r.steps.length;
  const every = Math.max(1, Math.ceil((n + 1) / budget));
  const out: [number, number][] = [];
  for (let k = 0; k <= n; k += every) out.push([256 + k, replayPoint(r, k).charsPerToken]);
  if (out[out.length - 1][0] !== 256 + n) out.push([256 + n, replayPoint(r, n).charsPerToken]);
  return out;
}

/** The state to persist: everything but a replay too long to keep. */
export function persisted(s: TokensState): TokensState {
  return s.replay && s.replay.data.replay.steps.length > MAX_PERSISTED_MERGES ? { ...s, replay: null } : s;
}

/** A persisted state read back; anything malformed is dropped (state comes from disk: treat it as input). */
export function restoreState(raw: unknown): TokensState {
  const s = emptyState();
  if (!isObj(raw) || raw.version !== 2) return s;
  s.data = raw.data ? validate(raw.data) : null;
  const saved = isObj(raw.replay) ? raw.replay : null;
  const replay = saved ? validateReplay(saved.data) : null;
  if (s.data && saved && replay) s.replay = { data: replay, step: isNum(saved.step) ? saved.step : replay.replay.steps.length };
  s.vocabSize = isNum(raw.vocabSize) && raw.vocabSize >= 256 && raw.vocabSize <= 65536 ? Math.round(raw.vocabSize) : DEFAULT_BPE_VOCAB;
  s.shown = isObj(raw.shown) ? Object.fromEntries(Object.entries(raw.shown).filter(([, v]) => isNum(v))) as Record<string, number> : {};
  s.colourBy = raw.colourBy === 'surprise' && s.data?.surprise ? 'surprise' : 'chunk';
  s.showIds = raw.showIds !== false;
  return s;
}
