// The attention view's state: what arrived (checked: typed arrays of the right sizes), the maps held (the probe's open
// one, and those asked for since), the layer/head/token chosen, the compact copy that survives a window reload, and
// the layout rules (which rows get a label, the head view's rows). No DOM: node tests load it as is.
import type { AttentionData, AttentionHead, AttentionMap, AttentionRows, ModelTag, TextToken } from '../../engine/protocol';

/** Limits that keep a malformed or absurd message from freezing the view. */
export const MAX_LAYERS = 96;
export const MAX_HEADS = 128;
export const MAX_TOKENS = 4096;
/** Maps held at once besides the open one (each T x T floats). */
const MAX_HELD_MAPS = 24;
/** A label needs this many pixels of its row, or rows are labelled every n-th. */
export const LABEL_PX = 11;
/** Up to this many tokens, the map is made large enough to label every row (the pane scrolls if it must). */
export const LABEL_EVERY_ROW_UP_TO = 64;

/** What a probe's text and shape are: the same in the panel's model and in the compact copy kept over a reload. */
interface ProbeHeader {
  source: string;
  model: ModelTag | null;
  tokens: TextToken[];
  cropped: number;
  totalTokens: number;
  N: number;
  H: number;
  thumbRes: number;
}

export interface Model extends ProbeHeader {
  T: number;
  /** [N][H + 1][res][res], the last of each layer's H + 1 the mean over heads; zero past thumbLayers. */
  thumbnails: Float32Array;
  /** Layers whose thumbnails have come: N, or fewer after a first paint of the first layers (the rest follow). */
  thumbLayers: number;
  /** Full maps [T * T] by key `${layer}:${head}`. */
  maps: Map<string, Float32Array>;
  /** Weights rounded to 1/255 (restored from the compact copy after a reload). */
  approximate: boolean;
}

export interface Choice {
  layer: number;
  head: AttentionHead;
  token: number | null;
}

export const mapKey = (layer: number, head: AttentionHead): string => `${layer}:${head}`;

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const isInt = (x: unknown, min: number, max: number): x is number => Number.isInteger(x) && (x as number) >= min && (x as number) <= max;
const isHead = (x: unknown, H: number): x is AttentionHead => x === 'mean' || isInt(x, 0, H - 1);

/** Returns a reason the data cannot be drawn, or null when it is well formed (shapes and sizes, not every value). */
export function invalidReason(d: unknown): string | null {
  if (!isObj(d) || !isObj(d.probe)) return 'no data';
  const p = d.probe;
  if (!Array.isArray(p.tokens)) return 'the probe has no tokens';
  const T = p.tokens.length;
  if (T === 0) return 'the selection has no tokens';
  if (T > MAX_TOKENS) return `too many tokens (${T} > ${MAX_TOKENS})`;
  if (!p.tokens.every((t) => isObj(t) && typeof t.text === 'string')) return 'a token has no text';
  if (!isInt(p.layers, 1, MAX_LAYERS)) return `unexpected number of layers (${String(p.layers)})`;
  if (!isInt(p.heads, 1, MAX_HEADS)) return `unexpected number of heads (${String(p.heads)})`;
  const th = p.thumbnails;
  if (!isObj(th) || !isInt(th.res, 1, Math.min(T, 256)) || !(th.values instanceof Float32Array)) return 'the thumbnails are missing';
  if (th.from !== 0 || !isInt(th.count, 1, p.layers)) return 'the thumbnails do not start at the first layer';
  if (th.values.length !== th.count * (p.heads + 1) * th.res * th.res) return 'the thumbnails are not one per head and layer';
  if (!Array.isArray(p.maps)) return 'the probe has no maps';
  for (const m of p.maps) if (invalidMap(m, p.layers, p.heads, T)) return `a map is not ${T} x ${T}`;
  return null;
}

function invalidMap(m: unknown, N: number, H: number, T: number): boolean {
  return !isObj(m) || !isInt(m.layer, 0, N - 1) || !isHead(m.head, H) || !(m.weights instanceof Float32Array) || m.weights.length !== T * T;
}

/** The view's model of a well-formed payload (invalidReason(d) === null). */
export function modelOf(d: AttentionData): Model {
  const p = d.probe;
  const maps = new Map<string, Float32Array>();
  for (const m of p.maps) maps.set(mapKey(m.layer, m.head), m.weights);
  const T = p.tokens.length;
  const { res, count, values } = p.thumbnails;
  let thumbnails = values;
  if (count < p.layers) {
    thumbnails = new Float32Array(p.layers * (p.heads + 1) * res * res);
    thumbnails.set(values);
  }
  return {
    source: typeof d.source === 'string' ? d.source.slice(0, 200) : '',
    model: isObj(d.model) && typeof d.model.label === 'string' && typeof d.model.tokenizer === 'string' ? d.model : null,
    tokens: p.tokens, cropped: Number.isInteger(p.cropped) && p.cropped > 0 ? p.cropped : 0,
    totalTokens: Math.max(Number.isFinite(d.totalTokens) ? d.totalTokens : 0, T + Math.max(0, p.cropped | 0)),
    N: p.layers, H: p.heads, T, thumbRes: res, thumbnails, thumbLayers: count, maps, approximate: false,
  };
}

/** Adds the thumbnails of the layers a first paint left out; false when they do not continue this model's. */
export function addLayers(m: Model, t: unknown): boolean {
  if (!isObj(t) || t.res !== m.thumbRes || t.from !== m.thumbLayers || !isInt(t.count, 1, m.N - m.thumbLayers)) return false;
  const size = (m.H + 1) * m.thumbRes * m.thumbRes;
  if (!(t.values instanceof Float32Array) || t.values.length !== t.count * size) return false;
  m.thumbnails.set(t.values, m.thumbLayers * size);
  m.thumbLayers += t.count;
  return true;
}

/** Keeps a map the host sent (dropping the oldest ones beyond MAX_HELD_MAPS); false when it does not fit the model. */
export function holdMap(m: Model, map: unknown): boolean {
  if (invalidMap(map, m.N, m.H, m.T)) return false;
  const a = map as AttentionMap;
  const key = mapKey(a.layer, a.head);
  m.maps.delete(key);
  m.maps.set(key, a.weights);
  while (m.maps.size > MAX_HELD_MAPS) m.maps.delete(m.maps.keys().next().value as string);
  return true;
}

/** Whether rows the host sent belong to this model, layer and token. */
export function validRows(m: Model, rows: unknown, layer: number, query: number): rows is AttentionRows {
  return isObj(rows) && rows.layer === layer && rows.query === query && rows.weights instanceof Float32Array &&
    rows.weights.length === m.H * (query + 1);
}

/** The choice kept in range of a model (a new probe of another shape starts at layer 0, head 0, no token). */
export function clampChoice(m: Model, c: Choice): Choice {
  return {
    layer: isInt(c.layer, 0, m.N - 1) ? c.layer : 0,
    head: isHead(c.head, m.H) ? c.head : 0,
    token: c.token !== null && isInt(c.token, 0, m.T - 1) ? c.token : null,
  };
}

/** A thumbnail's pooled values [res * res] (head `H` is the mean). */
export function thumbnail(m: Model, layer: number, head: AttentionHead): Float32Array {
  const size = m.thumbRes * m.thumbRes;
  const h = head === 'mean' ? m.H : head;
  const at = (layer * (m.H + 1) + h) * size;
  return m.thumbnails.subarray(at, at + size);
}

/** The row a token gives under an open map: its weights on keys 0..token. */
export function focusRow(map: Float32Array, T: number, token: number): number[] {
  return Array.from(map.subarray(token * T, token * T + token + 1), (w) => Math.min(1, Math.max(0, w)));
}

/**
 * The open map's size and which rows get a label: every row while the map has LABEL_PX per row (up to
 * LABEL_EVERY_ROW_UP_TO tokens the map grows to make it so, and the pane scrolls if it must), else one in `step`, with
 * the reason said.
 */
export function labelPlan(T: number, room: number): { size: number; step: number; note: string | null } {
  const preferred = Math.min(640, T * 16);
  const size = T <= LABEL_EVERY_ROW_UP_TO ? Math.max(T * LABEL_PX, Math.min(room, preferred)) : Math.max(200, Math.min(room, preferred));
  const cell = size / T;
  const step = Math.max(1, Math.ceil(LABEL_PX / cell - 1e-9));
  return { size, step, note: step === 1 ? null
    : `One row in ${step} is labelled: ${T} rows of ${cell.toFixed(1)} px leave no room for every label. ` +
      'Hover a row, or use the token strip, to read any token.' };
}

/** The head view's rows: the key tokens 0..query with each head's weight, and where each row sits. */
export interface HeadView {
  query: number;
  rowHeight: number;
  labelStep: number;
  /** One line per head and key with weight >= minWeight. */
  lines: { head: number; key: number; weight: number }[];
}

/** Lines of a head view from the rows of every head; weights under `minWeight` are not drawn (they would be invisible). */
export function headView(rows: AttentionRows, H: number, maxHeight: number, minWeight = 0.01): HeadView {
  const n = rows.query + 1;
  const rowHeight = Math.max(2, Math.min(18, Math.floor(maxHeight / n)));
  const lines: HeadView['lines'] = [];
  for (let h = 0; h < H; h++) {
    for (let k = 0; k < n; k++) {
      const w = rows.weights[h * n + k];
      if (w >= minWeight) lines.push({ head: h, key: k, weight: Math.min(1, w) });
    }
  }
  return { query: rows.query, rowHeight, labelStep: Math.max(1, Math.ceil(LABEL_PX / rowHeight)), lines };
}

// ---- the compact copy that survives a window reload ----

/** Above this many bytes (thumbnails plus the open map) nothing but the choice is persisted. */
export const PACKED_STATE_LIMIT = 3_000_000;

export interface Stored extends ProbeHeader {
  thumbnails: string; // bytes round(v * 255), base64
  open: { layer: number; head: AttentionHead; bytes: string } | null; // the open map's causal half, base64
}

export interface SavedState {
  version: 2;
  stored: Stored | null;
  choice: Choice;
  scale: 'row' | 'absolute';
  /** The head-role grid's role, text and ablation mode (roles.ts checks it on the way back). */
  roles?: unknown;
}

const toByte = (v: number): number => (v > 0 ? Math.min(255, Math.round(v * 255)) : 0);

/** Every value as a byte round(v * 255) (a plain loop: TypedArray.from with a map function is many times slower). */
function toBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toByte(values[i]);
  return out;
}

export function store(m: Model, open: { layer: number; head: AttentionHead } | null, toBase64: (b: Uint8Array) => string): Stored | null {
  const { T } = m;
  const half = (T * (T + 1)) / 2;
  if (m.thumbLayers < m.N || m.thumbnails.length + half > PACKED_STATE_LIMIT) return null; // kept once every layer has come
  const map = open ? m.maps.get(mapKey(open.layer, open.head)) : undefined;
  let openBytes: Stored['open'] = null;
  if (open && map) {
    const buf = new Uint8Array(half);
    let i = 0;
    for (let q = 0; q < T; q++) for (let k = 0; k <= q; k++) buf[i++] = toByte(map[q * T + k]);
    openBytes = { layer: open.layer, head: open.head, bytes: toBase64(buf) };
  }
  return { source: m.source, model: m.model, tokens: m.tokens, cropped: m.cropped, totalTokens: m.totalTokens, N: m.N, H: m.H,
    thumbRes: m.thumbRes, thumbnails: toBase64(toBytes(m.thumbnails)), open: openBytes };
}

/** The model a stored copy describes (weights rounded to 1/255), or null when it does not hold together. */
export function load(s: Stored, fromBase64: (b: string) => Uint8Array): Model | null {
  if (!isObj(s) || !Array.isArray(s.tokens) || !isInt(s.N, 1, MAX_LAYERS) || !isInt(s.H, 1, MAX_HEADS) || typeof s.thumbnails !== 'string') return null;
  const T = s.tokens.length;
  if (T === 0 || T > MAX_TOKENS || !isInt(s.thumbRes, 1, T)) return null;
  const bytes = fromBase64(s.thumbnails);
  if (bytes.length !== s.N * (s.H + 1) * s.thumbRes * s.thumbRes) return null;
  const maps = new Map<string, Float32Array>();
  if (s.open && isInt(s.open.layer, 0, s.N - 1) && isHead(s.open.head, s.H) && typeof s.open.bytes === 'string') {
    const half = fromBase64(s.open.bytes);
    if (half.length === (T * (T + 1)) / 2) {
      const map = new Float32Array(T * T);
      let i = 0;
      for (let q = 0; q < T; q++) for (let k = 0; k <= q; k++) map[q * T + k] = half[i++] / 255;
      maps.set(mapKey(s.open.layer, s.open.head), map);
    }
  }
  return { source: typeof s.source === 'string' ? s.source : '', model: s.model ?? null, tokens: s.tokens, cropped: s.cropped | 0,
    totalTokens: Number.isFinite(s.totalTokens) ? s.totalTokens : T, N: s.N, H: s.H, T, thumbRes: s.thumbRes,
    thumbnails: fromBytes(bytes), thumbLayers: s.N, maps, approximate: true };
}

function fromBytes(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}
