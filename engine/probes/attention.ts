// The attention probe as a panel reads it. One forward pass per text gives every layer's probabilities [H, T, T]; the
// engine keeps them (AttentionStore) and sends what a panel draws first: every map max-pooled to a thumbnail and the
// open map in full, as typed arrays. Any other map, or one token's rows over all heads, comes on request from the
// kept weights. For 12 layers x 8 heads x 512 tokens that is about 2 MB instead of 25 M numbers as nested arrays.
// A panel's first paint needs only the layers up to its open map's: the forward pass can stop there (`upTo`), and the
// other layers' thumbnails follow (attentionLayers) from the whole pass.
import * as tf from '@tensorflow/tfjs-core';
import { tidyData } from '../model/gpt';
import type { AttentionHead, AttentionMap, AttentionProbe, AttentionRows, AttentionThumbnails, TextToken } from '../protocol';
import { encodeForProbe, type ProbeContext } from './probes';

/**
 * A forward pass that returns the attention probabilities of the first `upTo` layers (all N when absent), each
 * [H, T, T] (the native decoder's; it may return more layers than asked for), or null.
 */
export type AttentionForward = (ids: Int32Array, upTo?: number) => Float32Array[] | null;

/** The attention of one text under one model. */
export interface TextAttention {
  tokens: TextToken[];
  cropped: number;
  N: number;
  H: number;
  T: number;
  /** Per layer [H, T, T]: head h, query q, key k at (h * T + q) * T + k. The first layers only, after a pass that stopped early. */
  layers: Float32Array[];
  /** Per layer the mean over heads [T, T], made when first asked for. */
  means: (Float32Array | null)[];
}

/** Thumbnail side in pixels when a request names none; at most this many keeps a message small. */
export const DEFAULT_THUMBNAIL = 64;
const MAX_THUMBNAIL = 256;
const MAX_OPEN_MAPS = 16;

/**
 * The attention over a text's last T tokens of every layer, or of the first `upTo` (1..N): the native forward pass
 * when given, which stops after them, else the tfjs model's.
 */
export function textAttention(ctx: ProbeContext, text: string, forward?: AttentionForward, upTo?: number): TextAttention {
  const { heads: H, layers: N } = ctx.model.config;
  if (upTo !== undefined && !(Number.isInteger(upTo) && upTo >= 1 && upTo <= N)) throw new Error(`layers must be 1 to the model's ${N}, not ${upTo}`);
  const want = upTo ?? N;
  const { ids, tokens, cropped } = encodeForProbe(ctx, text, ctx.model.config.contextLength);
  const T = ids.length;
  const all = forward?.(ids, want) ??
    tidyData(() => ctx.model.forward(tf.tensor2d(ids, [1, T], 'int32'), { collect: true }).attention ?? []); // N x [1, H, T, T]
  const layers = all.slice(0, want);
  if (layers.length !== want || layers.some((a) => a.length !== H * T * T)) {
    throw new Error(`the forward pass returned attention of the wrong shape (expected ${want} x [${H}, ${T}, ${T}])`);
  }
  return { tokens, cropped, N, H, T, layers, means: new Array<Float32Array | null>(N).fill(null) };
}

/**
 * The attention of the last text asked about, so a panel's next map or row costs no second forward pass. A pass that
 * stopped early answers for its layers only; asking for more runs the whole pass.
 */
export class AttentionStore {
  private last: { ctx: ProbeContext; text: string; attention: TextAttention } | null = null;

  of(ctx: ProbeContext, text: string, forward?: AttentionForward, upTo?: number): TextAttention {
    const last = this.last;
    if (last && last.ctx === ctx && last.text === text && last.attention.layers.length >= (upTo ?? last.attention.N)) return last.attention;
    this.last = null; // let the old weights go before the new ones are made
    const attention = textAttention(ctx, text, forward, upTo);
    this.last = { ctx, text, attention };
    return attention;
  }

  clear(): void {
    this.last = null;
  }
}

function checkLayer(a: TextAttention, layer: number): void {
  if (!(Number.isInteger(layer) && layer >= 0 && layer < a.N)) throw new Error(`layer ${layer} is not one of the model's ${a.N} layers (0-${a.N - 1})`);
  if (layer >= a.layers.length) throw new Error(`layer ${layer} is past the ${a.layers.length} layers this forward pass ran`);
}

function checkHead(a: TextAttention, head: AttentionHead): void {
  if (head !== 'mean' && !(Number.isInteger(head) && head >= 0 && head < a.H)) {
    throw new Error(`head ${String(head)} is not one of the model's ${a.H} heads (0-${a.H - 1}) or "mean"`);
  }
}

/** The mean over heads of a layer [T, T]. */
function meanOf(a: TextAttention, layer: number): Float32Array {
  const cached = a.means[layer];
  if (cached) return cached;
  const { H, T } = a;
  const src = a.layers[layer];
  const out = new Float32Array(T * T);
  for (let h = 0; h < H; h++) {
    const base = h * T * T;
    for (let i = 0; i < T * T; i++) out[i] += src[base + i];
  }
  for (let i = 0; i < T * T; i++) out[i] /= H;
  a.means[layer] = out;
  return out;
}

/** One map [T, T], copied out (a view into the layer would carry all of its heads through IPC and postMessage). */
export function attentionMap(a: TextAttention, layer: number, head: AttentionHead): AttentionMap {
  checkLayer(a, layer);
  checkHead(a, head);
  const { T } = a;
  const weights = head === 'mean' ? meanOf(a, layer).slice() : a.layers[layer].slice(head * T * T, (head + 1) * T * T);
  return { layer, head, weights };
}

/** What query token `query` gives each key k <= query in every head of a layer: [H, query + 1]. */
export function attentionRows(a: TextAttention, layer: number, query: number): AttentionRows {
  checkLayer(a, layer);
  const { H, T } = a;
  if (!(Number.isInteger(query) && query >= 0 && query < T)) throw new Error(`token ${query} is not one of the ${T} probed tokens (0-${T - 1})`);
  const n = query + 1;
  const weights = new Float32Array(H * n);
  for (let h = 0; h < H; h++) weights.set(a.layers[layer].subarray((h * T + query) * T, (h * T + query) * T + n), h * n);
  return { layer, query, weights };
}

/**
 * Every head's map and each layer's mean over heads, of layers from .. (the layers computed) - 1, max-pooled to
 * res x res in one pass over the causal half: [count][H + 1][res][res]. Max, not mean: a one-token-wide diagonal (a previous-token head) stays visible. Pixel column c
 * holds keys [first[c], first[c + 1]); each run of a row's keys in one pixel is read in one loop and its maximum
 * written once. The mean's pixels pool the sum over heads, divided by H at the end (the max of a sum / H is the max
 * of the means).
 */
export function attentionThumbnails(a: TextAttention, res: number, from = 0): AttentionThumbnails {
  const { H, T } = a;
  const N = a.layers.length;
  if (!(Number.isInteger(from) && from >= 0 && from <= N)) throw new Error(`thumbnails from layer ${from}: the forward pass ran ${N} layers`);
  if (!(Number.isInteger(res) && res >= 1 && res <= T)) throw new Error(`a thumbnail of ${res} pixels for ${T} tokens`);
  const size = res * res;
  const out = new Float32Array((N - from) * (H + 1) * size);
  const first = new Int32Array(res + 1); // the first position of each pixel, then T
  for (let c = 0; c <= res; c++) first[c] = Math.ceil((c * T) / res);
  const sum = new Float32Array(T); // one query's weights summed over heads
  for (let l = from; l < N; l++) {
    const src = a.layers[l]; // [H, T, T]
    const layerBase = (l - from) * (H + 1) * size;
    for (let r = 0; r < res; r++) {
      for (let q = first[r]; q < first[r + 1]; q++) {
        sum.fill(0, 0, q + 1);
        for (let h = 0; h < H; h++) {
          const row = (h * T + q) * T;
          const base = layerBase + h * size + r * res;
          for (let c = 0; c < res && first[c] <= q; c++) {
            const end = Math.min(first[c + 1], q + 1);
            let m = out[base + c];
            for (let k = first[c]; k < end; k++) {
              const v = src[row + k];
              sum[k] += v;
              if (v > m) m = v;
            }
            out[base + c] = m;
          }
        }
        const base = layerBase + H * size + r * res;
        for (let c = 0; c < res && first[c] <= q; c++) {
          const end = Math.min(first[c + 1], q + 1);
          let m = out[base + c];
          for (let k = first[c]; k < end; k++) if (sum[k] > m) m = sum[k];
          out[base + c] = m;
        }
      }
    }
    for (let i = layerBase + H * size; i < layerBase + (H + 1) * size; i++) out[i] /= H;
  }
  return { res, from, count: N - from, values: out };
}

function thumbnailSize(a: TextAttention, thumbnail: number): number {
  if (!(Number.isInteger(thumbnail) && thumbnail >= 1 && thumbnail <= MAX_THUMBNAIL)) {
    throw new Error(`a thumbnail is 1 to ${MAX_THUMBNAIL} pixels, not ${thumbnail}`);
  }
  return Math.min(thumbnail, a.T);
}

/** What a panel draws first: thumbnails of every map the forward pass computed and the open maps in full. */
export function attentionProbe(a: TextAttention, thumbnail = DEFAULT_THUMBNAIL,
  open: readonly { layer: number; head: AttentionHead }[] = [{ layer: 0, head: 0 }]): AttentionProbe {
  const res = thumbnailSize(a, thumbnail);
  if (open.length > MAX_OPEN_MAPS) throw new Error(`at most ${MAX_OPEN_MAPS} maps open at once`);
  return { tokens: a.tokens, cropped: a.cropped, layers: a.N, heads: a.H, thumbnails: attentionThumbnails(a, res),
    maps: open.map((m) => attentionMap(a, m.layer, m.head)) };
}

/** The thumbnails of layers from .. N-1, after a probe of the first layers (the whole pass's). */
export function attentionLayers(a: TextAttention, from: number, thumbnail = DEFAULT_THUMBNAIL): AttentionThumbnails {
  if (a.layers.length < a.N) throw new Error('the rest of the layers need the whole forward pass');
  return attentionThumbnails(a, thumbnailSize(a, thumbnail), from);
}
