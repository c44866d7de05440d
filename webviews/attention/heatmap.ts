import { interpolateLab, rgb } from 'd3';

/**
 * Canvas drawing of attention maps: a colour lookup table from the theme, max-pooled thumbnails of every head (and
 * the mean over heads) in one pass over the data, and the full-resolution map of one head.
 *
 * A map is [T][T], row = query position q, column = key position k. The model is causal, so k > q is masked: those
 * pixels stay transparent (alpha 0), and the CSS hatch behind the canvas shows through, so "masked" never looks like
 * "zero attention".
 */

/** value in [0, 1] -> RGBA, 256 steps; index = round(sqrt(v) * 255), so small weights stay visible. */
export type Lut = Uint8ClampedArray;

export type Rgb = [number, number, number];

export function makeLut(low: Rgb, high: Rgb): Lut {
  const lut = new Uint8ClampedArray(256 * 4);
  // Perceptually even steps (CIELAB) from the background-ish low end to the theme's accent.
  const mix = interpolateLab(rgb(...low), rgb(...high));
  for (let i = 0; i < 256; i++) {
    const c = rgb(mix(i / 255));
    lut[i * 4] = c.r;
    lut[i * 4 + 1] = c.g;
    lut[i * 4 + 2] = c.b;
    lut[i * 4 + 3] = 255;
  }
  return lut;
}

/** The largest value of a map (at least a tiny positive number, so it can divide). */
export function mapMax(map: Float32Array): number {
  let m = 0;
  for (let i = 0; i < map.length; i++) if (map[i] > m) m = map[i];
  return m > 0 ? m : 1;
}

export function lutIndex(v: number): number {
  if (!(v > 0)) return 0; // 0, negative, NaN
  if (v >= 1) return 255;
  return Math.round(Math.sqrt(v) * 255);
}

/** A weight as text, exactly enough to compare neighbours. */
export function fmtWeight(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  if (v < 1e-4) return v.toExponential(2);
  return v.toFixed(4);
}

/** The bin (0..res-1) of each of T positions when T positions are pooled into res bins. */
function bins(T: number, res: number): Int32Array {
  const b = new Int32Array(T);
  for (let i = 0; i < T; i++) b[i] = Math.min(res - 1, Math.floor((i * res) / T));
  return b;
}

export interface Thumbs {
  res: number;
  /** [H + 1] pooled maps of res*res; index H is the mean over heads. */
  maps: Float32Array[];
}

/**
 * Max-pools one layer's heads (and their mean) to res x res in a single pass over the causal half of the data.
 * Max, not mean, pooling: a one-token-wide diagonal (previous-token heads) stays visible in a 64-pixel thumbnail.
 */
export function poolLayer(layer: number[][][], T: number, res: number): Thumbs {
  const H = layer.length;
  const rowBin = bins(T, res), colBin = bins(T, res);
  const maps = Array.from({ length: H + 1 }, () => new Float32Array(res * res));
  const mean = maps[H];
  const meanRow = new Float64Array(T);
  for (let q = 0; q < T; q++) {
    const base = rowBin[q] * res;
    meanRow.fill(0, 0, q + 1);
    for (let h = 0; h < H; h++) {
      const row = layer[h][q];
      const out = maps[h];
      for (let k = 0; k <= q; k++) {
        let v = row[k];
        if (!(v > 0)) v = 0;
        meanRow[k] += v;
        const i = base + colBin[k];
        if (v > out[i]) out[i] = v;
      }
    }
    for (let k = 0; k <= q; k++) {
      const v = meanRow[k] / H;
      const i = base + colBin[k];
      if (v > mean[i]) mean[i] = v;
    }
  }
  return { res, maps };
}

/**
 * Paints a pooled (or full, res = T) map into ImageData, colour = lut(value / max) (max 1: absolute weights).
 * Masked pixels (every key after every query of the pixel) stay transparent.
 */
export function paintPooled(ctx: CanvasRenderingContext2D, map: Float32Array, res: number, T: number, lut: Lut, max = 1): void {
  const img = ctx.createImageData(res, res);
  const px = img.data;
  // First query of each row bin / first key of each column bin, to tell whole-masked pixels.
  const lastQ = new Int32Array(res), firstK = new Int32Array(res);
  for (let b = 0; b < res; b++) {
    firstK[b] = Math.ceil((b * T) / res);
    lastQ[b] = Math.ceil(((b + 1) * T) / res) - 1;
  }
  for (let r = 0; r < res; r++) {
    for (let c = 0; c < res; c++) {
      const o = (r * res + c) * 4;
      if (firstK[c] > lastQ[r]) continue; // masked: alpha stays 0
      const j = lutIndex(map[r * res + c] / max) * 4;
      px[o] = lut[j];
      px[o + 1] = lut[j + 1];
      px[o + 2] = lut[j + 2];
      px[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

/** A full T x T map with each row scaled to its own largest weight: where each token looks, whatever its position. */
export function paintRows(ctx: CanvasRenderingContext2D, map: Float32Array, T: number, lut: Lut): void {
  const img = ctx.createImageData(T, T);
  const px = img.data;
  for (let q = 0; q < T; q++) {
    let max = 0;
    for (let k = 0; k <= q; k++) if (map[q * T + k] > max) max = map[q * T + k];
    if (!(max > 0)) max = 1;
    for (let k = 0; k <= q; k++) {
      // Linear within a row (v / row max): the contrast between the keys a token chooses among.
      const r = map[q * T + k] / max;
      const o = (q * T + k) * 4, j = (r > 0 ? Math.min(255, Math.round(r * 255)) : 0) * 4;
      px[o] = lut[j];
      px[o + 1] = lut[j + 1];
      px[o + 2] = lut[j + 2];
      px[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

/** One full map [T][T] as a flat Float32Array (q * T + k); `heads` > 1 averages them (the mean-over-heads view). */
export function flatMap(layer: number[][][], head: number | 'mean', T: number): Float32Array {
  const out = new Float32Array(T * T);
  const heads = head === 'mean' ? layer : [layer[head]];
  for (const m of heads) {
    for (let q = 0; q < T; q++) {
      const row = m[q];
      for (let k = 0; k <= q; k++) {
        const v = row[k];
        if (v > 0) out[q * T + k] += v;
      }
    }
  }
  if (heads.length > 1) for (let i = 0; i < out.length; i++) out[i] /= heads.length;
  return out;
}

/** A value of one cell straight from the data (the mean computed on the fly). */
export function cellValue(layer: number[][][], head: number | 'mean', q: number, k: number): number {
  if (k > q) return 0;
  if (head !== 'mean') return layer[head][q][k];
  let s = 0;
  for (const m of layer) s += m[q][k];
  return s / layer.length;
}
