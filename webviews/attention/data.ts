/**
 * The attention view's data: validation of what the host sends, and a compact form for the persisted state.
 * Small probes are kept as they are; a big one (a 512-token selection is 12 x 8 x 512 x 512 weights) is kept as its
 * causal half quantized to bytes, so a window reload still redraws it without a 250 MB JSON state.
 */
import type { AttentionData } from '../../engine/protocol';

/** Limits that keep a malformed or absurd message from freezing the view. */
export const MAX_LAYERS = 96;
export const MAX_HEADS = 128;
export const MAX_TOKENS = 4096;
/** Above this many weights the state keeps bytes instead of numbers. */
export const EXACT_STATE_LIMIT = 1_000_000;
/** Above this many causal weights (bytes) nothing but the choices is persisted: webview state is not a blob store. */
export const PACKED_STATE_LIMIT = 3_000_000;

/** Returns a reason the data cannot be drawn, or null when it is well formed. Checks shapes, not every value. */
export function invalidReason(d: unknown): string | null {
  if (typeof d !== 'object' || d === null) return 'no data';
  const a = d as Partial<AttentionData>;
  const p = a.probe;
  if (typeof p !== 'object' || p === null || !Array.isArray(p.tokens) || !Array.isArray(p.layers)) return 'the probe has no tokens or layers';
  const T = p.tokens.length;
  if (T === 0) return 'the selection has no tokens';
  if (T > MAX_TOKENS) return `too many tokens (${T} > ${MAX_TOKENS})`;
  for (const t of p.tokens) {
    if (typeof t !== 'object' || t === null || typeof t.text !== 'string') return 'a token has no text';
  }
  const N = p.layers.length;
  if (N === 0 || N > MAX_LAYERS) return `unexpected number of layers (${N})`;
  let H = -1;
  for (const layer of p.layers) {
    if (!Array.isArray(layer) || layer.length === 0 || layer.length > MAX_HEADS) return 'a layer has no heads';
    if (H >= 0 && layer.length !== H) return 'layers have different numbers of heads';
    H = layer.length;
    for (const head of layer) {
      if (!Array.isArray(head) || head.length !== T) return `a head is not ${T} x ${T}`;
      for (const row of head) if (!Array.isArray(row) || row.length !== T) return `a head is not ${T} x ${T}`;
    }
  }
  return null;
}

export interface PackedAttention {
  source: string;
  totalTokens: number;
  tokens: AttentionData['probe']['tokens'];
  cropped: number;
  N: number;
  H: number;
  /** Per layer and head, the causal half (q = 0..T-1, k = 0..q) as bytes round(v * 255), base64. */
  bytes: string[][];
}

export type StoredData = { exact: AttentionData } | { packed: PackedAttention };

export function storeData(d: AttentionData): StoredData | null {
  const T = d.probe.tokens.length, N = d.probe.layers.length, H = d.probe.layers[0].length;
  if (N * H * T * T <= EXACT_STATE_LIMIT) return { exact: d };
  const half = (T * (T + 1)) / 2;
  if (N * H * half > PACKED_STATE_LIMIT) return null;
  const buf = new Uint8Array(half);
  const bytes = d.probe.layers.map((layer) => layer.map((m) => {
    let i = 0;
    for (let q = 0; q < T; q++) {
      const row = m[q];
      for (let k = 0; k <= q; k++) {
        const v = row[k];
        buf[i++] = v > 0 ? Math.min(255, Math.round(v * 255)) : 0;
      }
    }
    return toBase64(buf);
  }));
  return { packed: { source: d.source, totalTokens: d.totalTokens, tokens: d.probe.tokens, cropped: d.probe.cropped, N, H, bytes } };
}

export function loadData(s: StoredData): { data: AttentionData; approximate: boolean } {
  if ('exact' in s) return { data: s.exact, approximate: false };
  const p = s.packed;
  const T = p.tokens.length;
  const layers = p.bytes.map((layer) => layer.map((b64) => {
    const buf = fromBase64(b64);
    const rows: number[][] = [];
    let i = 0;
    for (let q = 0; q < T; q++) {
      const row = new Array<number>(T).fill(0);
      for (let k = 0; k <= q; k++) row[k] = buf[i++] / 255;
      rows.push(row);
    }
    return rows;
  }));
  return { data: { source: p.source, totalTokens: p.totalTokens, probe: { tokens: p.tokens, cropped: p.cropped, layers } }, approximate: true };
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) s += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(s);
}

function fromBase64(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
