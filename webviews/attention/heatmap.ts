// Canvas drawing of attention maps: a colour lookup table from the theme, the engine's max-pooled thumbnails of every
// head (and the mean over heads), and the full-resolution map of one head.
//
// A map is [T][T], row = query position q, column = key position k. The model is causal, so k > q is masked: those
// pixels stay transparent (alpha 0), and the CSS hatch behind the canvas shows through, so "masked" never looks like
// "zero attention".
import { interpolateLab, rgb } from '../shared/d3';
import type { Rgb } from '../shared/theme';

/** value in [0, 1] -> RGBA, 256 steps; index = round(sqrt(v) * 255), so small weights stay visible. */
export type Lut = Uint8ClampedArray;

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
