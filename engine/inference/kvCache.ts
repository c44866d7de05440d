// Generation with a KV cache: one forward per new token instead of one per context. Two paths: a compiled class's
// decode (the addon's NativeGPT or the wasm build's: the weights read once per token with no packing), and typed-array
// math here that runs the same math as model/gpt.ts over Float32Arrays (the reference, and the path without a compiled
// class). Tests hold both to the tfjs forward pass. Which one a session runs is the compute plan's (compute/plan.ts).
import type { NativeAddon, NativeGPTConstructor, NativeGPTHandle } from '../compute/addon';
import { flatLayout, flattenWeights } from '../model/flatLayout';
import { NORM_EPS, ropeTables, sinusoidalPositions, type GPT } from '../model/gpt';

// Shapes as in config.ts: H query heads, KV key/value heads (G = H/KV queries each), hs head size, A = H*hs,
// C = (H + 2*KV)*hs.

interface MlpWeights {
  ln2w: Float32Array; ln2b: Float32Array | null;
  fcW: Float32Array; fcB: Float32Array | null; // [F, D]
  fc2W: Float32Array; fc2B: Float32Array | null; // [D, F]
}

interface LayerWeights {
  ln1w: Float32Array; ln1b: Float32Array | null;
  attnW: Float32Array; attnB: Float32Array | null; // [C, D]
  projW: Float32Array; projB: Float32Array | null; // [D, A]
  mlp: MlpWeights | null; // null in attention-only blocks
}

/** Y[n, out] = X[n, in] @ W[out, in]^T (+ b): nn.Linear on rows, PyTorch layout. */
function linearRows(native: NativeAddon | null, X: Float32Array, n: number, W: Float32Array, b: Float32Array | null,
  inDim: number, outDim: number): Float32Array {
  const Y = new Float32Array(n * outDim);
  // One row is a matrix-vector product; the native GEMM still beats plain JavaScript on it by far once the weight is
  // bigger than a few thousand entries (below that the call costs more than the work).
  if (native && (n > 1 || inDim * outDim >= 16_384)) {
    native.sgemm(false, true, n, outDim, inDim, 1, X, inDim, W, inDim, 0, Y, outDim);
    if (b) for (let r = 0; r < n; r++) for (let o = 0; o < outDim; o++) Y[r * outDim + o] += b[o];
    return Y;
  }
  for (let r = 0; r < n; r++) {
    const x = r * inDim;
    for (let o = 0; o < outDim; o++) {
      const w = o * inDim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = 0;
      for (; i + 3 < inDim; i += 4) {
        s0 += X[x + i] * W[w + i];
        s1 += X[x + i + 1] * W[w + i + 1];
        s2 += X[x + i + 2] * W[w + i + 2];
        s3 += X[x + i + 3] * W[w + i + 3];
      }
      for (; i < inDim; i++) s0 += X[x + i] * W[w + i];
      Y[r * outDim + o] = s0 + s1 + s2 + s3 + (b ? b[o] : 0);
    }
  }
  return Y;
}

/** Attention's shape, as config.ts names it. */
interface HeadShape {
  H: number; KV: number; hs: number;
}

/**
 * Causal attention of n new rows (at positions p0..p0+n-1) over the cache: Y[r, head h] = softmax(q k^T / sqrt(hs)) V,
 * with q from qkv [n, C] and k, v of key/value head floor(h / G) from the cache [T, KV*hs] (already holding the new
 * rows). Scores in float64.
 */
function attend(qkv: Float32Array, K: Float32Array, V: Float32Array, n: number, p0: number, { H, KV, hs }: HeadShape,
  scores: Float64Array, acc: Float64Array): Float32Array {
  const scale = 1 / Math.sqrt(hs), G = H / KV, C = (H + 2 * KV) * hs, W = KV * hs;
  const Y = new Float32Array(n * H * hs); // [n, A]
  for (let r = 0; r < n; r++) {
    const last = p0 + r; // causal: position p attends to 0..p
    for (let h = 0; h < H; h++) {
      const q = r * C + h * hs, kv = Math.floor(h / G) * hs;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        const k = j * W + kv;
        let s = 0;
        for (let i = 0; i < hs; i++) s += qkv[q + i] * K[k + i];
        s *= scale;
        scores[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) sum += scores[j] = Math.exp(scores[j] - max);
      // y = sum_j p_j v_j, walking each cached value row front to back
      acc.fill(0);
      for (let j = 0; j <= last; j++) {
        const p = scores[j], v = j * W + kv;
        for (let i = 0; i < hs; i++) acc[i] += p * V[v + i];
      }
      const y = r * H * hs + h * hs;
      for (let i = 0; i < hs; i++) Y[y + i] = acc[i] / sum;
    }
  }
  return Y;
}

/**
 * In place on the q and k heads (the first H + KV heads of each row of qkv [n, C]) of rows at positions p0..: RoPE
 * (pair (i, i + hs/2) turned by the position's angle) when tables are given, then QK-norm when asked.
 */
function prepareQueriesAndKeys(qkv: Float32Array, n: number, p0: number, { H, KV, hs }: HeadShape,
  rope: { cos: Float32Array; sin: Float32Array } | null, qkNorm: boolean): void {
  const C = (H + 2 * KV) * hs, half = hs / 2;
  for (let r = 0; r < n; r++) {
    for (let h = 0; h < H + KV; h++) {
      const o = r * C + h * hs;
      if (rope) {
        const t = (p0 + r) * half;
        for (let i = 0; i < half; i++) {
          const x1 = qkv[o + i], x2 = qkv[o + half + i], c = rope.cos[t + i], s = rope.sin[t + i];
          qkv[o + i] = x1 * c - x2 * s;
          qkv[o + half + i] = x2 * c + x1 * s;
        }
      }
      if (qkNorm) {
        let sq = 0;
        for (let i = 0; i < hs; i++) sq += qkv[o + i] * qkv[o + i];
        const inv = 1 / Math.sqrt(sq / hs + NORM_EPS);
        for (let i = 0; i < hs; i++) qkv[o + i] *= inv;
      }
    }
  }
}

const erf = (x: number): number => {
  // Abramowitz-Stegun 7.1.26 is only 1.5e-7 accurate; this series/continued-fraction pair is exact to float64 rounding.
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = x, sum = x;
    const x2 = x * x;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by Lentz's continued fraction for large |x|
  let f = ax, C = ax, D = 0;
  for (let n = 1; n < 200; n++) {
    const a = n / 2;
    D = ax + a * D;
    D = 1 / D;
    C = ax + a / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / (f * Math.sqrt(Math.PI));
  return x > 0 ? 1 - erfc : erfc - 1;
};

/** The reference decoder: model/gpt.ts's math over typed arrays (the addon's sgemm for the products when it is loaded). */
class TypedDecoder implements Decoder {
  private readonly D: number;
  private readonly T: number;
  private readonly layers: LayerWeights[] = [];
  private readonly wte: Float32Array;
  private readonly positions: Float32Array | null; // [T, D] added to the embeddings (learned or sinusoidal)
  private readonly rope: { cos: Float32Array; sin: Float32Array } | null; // [T, hs/2] each
  private readonly heads: HeadShape;
  private readonly lnfw: Float32Array;
  private readonly lnfb: Float32Array | null;
  private readonly head: Float32Array; // [V, D]
  private readonly headB: Float32Array | null;
  private readonly K: Float32Array[]; // per layer [T, KV*hs]
  private readonly V: Float32Array[];
  private filled = 0;

  constructor(private readonly model: GPT, private readonly native: NativeAddon | null) {
    const c = model.config;
    this.D = c.dim;
    this.T = c.contextLength;
    const w = model.toTensors();
    const get = (name: string): Float32Array => {
      const t = w.get(name);
      if (!t) throw new Error(`missing ${name}`);
      return t.data;
    };
    const opt = (name: string): Float32Array | null => w.get(name)?.data ?? null;
    this.wte = get('transformer.wte.weight');
    this.positions = c.positions === 'learned' ? get('transformer.wpe.weight')
      : c.positions === 'sinusoidal' ? sinusoidalPositions(c.contextLength, c.dim) : null;
    this.rope = c.positions === 'rope' ? ropeTables(c.contextLength, c.headDim) : null;
    this.heads = { H: c.heads, KV: c.kvHeads, hs: c.headDim };
    for (let l = 0; l < c.layers; l++) {
      const h = `transformer.h.${l}`;
      this.layers.push({
        ln1w: get(`${h}.ln_1.weight`), ln1b: opt(`${h}.ln_1.bias`),
        attnW: get(`${h}.attn.c_attn.weight`), attnB: opt(`${h}.attn.c_attn.bias`),
        projW: get(`${h}.attn.c_proj.weight`), projB: opt(`${h}.attn.c_proj.bias`),
        mlp: c.ffnMult === 0 ? null : {
          ln2w: get(`${h}.ln_2.weight`), ln2b: opt(`${h}.ln_2.bias`),
          fcW: get(`${h}.mlp.c_fc.weight`), fcB: opt(`${h}.mlp.c_fc.bias`),
          fc2W: get(`${h}.mlp.c_proj.weight`), fc2B: opt(`${h}.mlp.c_proj.bias`),
        },
      });
    }
    this.lnfw = get('transformer.ln_f.weight');
    this.lnfb = opt('transformer.ln_f.bias');
    this.head = opt('lm_head.weight') ?? this.wte;
    this.headB = opt('lm_head.bias');
    this.K = this.layers.map(() => new Float32Array(this.T * c.kvHeads * c.headDim));
    this.V = this.layers.map(() => new Float32Array(this.T * c.kvHeads * c.headDim));
  }

  reset(): void {
    this.filled = 0;
  }

  dispose(): void {}

  decode(ids: Int32Array): Float32Array {
    return this.feed(ids, ids.length - 1);
  }

  rowLosses(inputs: Int32Array, targets: Int32Array, B: number, T: number): ArrayLike<number> {
    return this.rowScores(inputs, targets, B, T).losses;
  }

  rowScores(inputs: Int32Array, targets: Int32Array, B: number, T: number): RowScores {
    const V = this.model.config.vocabSize, losses = new Float64Array(B * T), entropies = new Float64Array(B * T);
    for (let b = 0; b < B; b++) {
      this.reset();
      const logits = this.feed(inputs.subarray(b * T, (b + 1) * T), 0); // [T, V]
      for (let r = 0; r < T; r++) {
        const row = logits.subarray(r * V, (r + 1) * V);
        let max = -Infinity, sum = 0, weighted = 0;
        for (const z of row) if (z > max) max = z;
        for (const z of row) {
          const e = Math.exp(z - max);
          sum += e;
          weighted += e * (z - max);
        }
        losses[b * T + r] = max + Math.log(sum) - row[targets[b * T + r]];
        entropies[b * T + r] = Math.log(sum) - weighted / sum; // log Z - sum(p * z)
      }
    }
    this.reset();
    return { losses, entropies };
  }

  /** In place over n rows of width D. */
  private norm(X: Float32Array, n: number, w: Float32Array, b: Float32Array | null): Float32Array {
    const D = this.D, out = new Float32Array(n * D);
    for (let r = 0; r < n; r++) {
      const o = r * D;
      let mean = 0;
      if (this.model.config.norm === 'layernorm') {
        for (let i = 0; i < D; i++) mean += X[o + i];
        mean /= D;
      }
      let sq = 0;
      for (let i = 0; i < D; i++) sq += (X[o + i] - mean) * (X[o + i] - mean);
      const inv = 1 / Math.sqrt(sq / D + NORM_EPS);
      for (let i = 0; i < D; i++) out[o + i] = (X[o + i] - mean) * inv * w[i] + (b ? b[i] : 0);
    }
    return out;
  }

  /** Appends ids at the next positions; the logits of rows firstRow..n-1 [n - firstRow, V]. */
  private feed(ids: Int32Array, firstRow: number): Float32Array {
    const n = ids.length, D = this.D, p0 = this.filled, c = this.model.config;
    const { H, KV, hs } = this.heads, F = c.ffnMult * D;
    const A = H * hs, W = KV * hs, C = A + 2 * W; // attention width, one cache row, q k v together
    const X = new Float32Array(n * D); // [n, D] residual stream
    for (let r = 0; r < n; r++) {
      const id = ids[r];
      for (let i = 0; i < D; i++) X[r * D + i] = this.wte[id * D + i] + (this.positions ? this.positions[(p0 + r) * D + i] : 0);
    }
    const scores = new Float64Array(this.T);
    const acc = new Float64Array(hs);
    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l], K = this.K[l], Vc = this.V[l];
      const qkv = linearRows(this.native, this.norm(X, n, L.ln1w, L.ln1b), n, L.attnW, L.attnB, D, C); // [n, C]
      prepareQueriesAndKeys(qkv, n, p0, this.heads, this.rope, c.qkNorm);
      for (let r = 0; r < n; r++) {
        K.set(qkv.subarray(r * C + A, r * C + A + W), (p0 + r) * W);
        Vc.set(qkv.subarray(r * C + A + W, r * C + C), (p0 + r) * W);
      }
      const Y = attend(qkv, K, Vc, n, p0, this.heads, scores, acc); // [n, A] attention output, heads side by side
      const attnOut = linearRows(this.native, Y, n, L.projW, L.projB, A, D);
      for (let i = 0; i < n * D; i++) X[i] += attnOut[i];
      const M = L.mlp;
      if (!M) continue; // attention-only block
      const hidden = linearRows(this.native, this.norm(X, n, M.ln2w, M.ln2b), n, M.fcW, M.fcB, D, F); // [n, F]
      if (c.activation === 'relu') for (let i = 0; i < hidden.length; i++) hidden[i] = hidden[i] > 0 ? hidden[i] : 0;
      else for (let i = 0; i < hidden.length; i++) hidden[i] = 0.5 * hidden[i] * (1 + erf(hidden[i] * Math.SQRT1_2));
      const mlpOut = linearRows(this.native, hidden, n, M.fc2W, M.fc2B, F, D);
      for (let i = 0; i < n * D; i++) X[i] += mlpOut[i];
    }
    this.filled += n;
    const rows = this.norm(X.subarray(firstRow * D, n * D), n - firstRow, this.lnfw, this.lnfb); // [n - firstRow, D]
    return linearRows(this.native, rows, n - firstRow, this.head, this.headB, D, c.vocabSize); // [n - firstRow, V]
  }
}

/** Every row's cross-entropy and the entropy of its next-token distribution (nats) [B*T]. */
export interface RowScores {
  losses: ArrayLike<number>;
  entropies: ArrayLike<number>;
}

interface Decoder {
  /** Appends ids to the cache at the next positions; the logits of the last [V]. */
  decode(ids: Int32Array): Float32Array;
  /** The cross-entropy of every row of B windows of T ids from position 0 [B*T]; the cache is left empty. */
  rowLosses(inputs: Int32Array, targets: Int32Array, B: number, T: number): ArrayLike<number>;
  /** rowLosses with every row's entropy too. */
  rowScores(inputs: Int32Array, targets: Int32Array, B: number, T: number): RowScores;
  reset(): void;
  dispose(): void;
}

type NativeDecodeHandle = NativeGPTHandle & Required<Pick<NativeGPTHandle, 'decode' | 'rowLosses' | 'rowScores' | 'resetCache'>>;

/** The addon's NativeGPT.decode over its own copy of the weights. */
class NativeDecoder implements Decoder {
  constructor(private readonly handle: NativeDecodeHandle, private readonly layers: number) {}

  static create(model: GPT, cls: NativeGPTConstructor): NativeDecoder | null {
    const layout = flatLayout(model.config);
    const handle = new cls(model.config, layout.slots, flattenWeights(model, layout));
    if (typeof handle.decode !== 'function' || typeof handle.rowLosses !== 'function' || typeof handle.rowScores !== 'function' ||
      typeof handle.resetCache !== 'function') {
      handle.dispose(); // an addon built before decoding (or entropies) existed
      return null;
    }
    return new NativeDecoder(handle as NativeDecodeHandle, model.config.layers);
  }

  /**
   * One forward pass over a window from position 0: the attention probabilities of every layer, or of the first
   * `upTo` (the pass stops there), each [H, T, T].
   */
  attention(ids: Int32Array, upTo = this.layers): Float32Array[] {
    this.handle.resetCache();
    this.handle.forward(ids, 1, ids.length, upTo);
    return Array.from({ length: upTo }, (_, l) => this.handle.attention(l));
  }

  decode(ids: Int32Array): Float32Array {
    return this.handle.decode(ids);
  }

  rowLosses(inputs: Int32Array, targets: Int32Array, B: number, T: number): Float32Array {
    this.handle.resetCache();
    return this.handle.rowLosses(inputs, targets, B, T);
  }

  rowScores(inputs: Int32Array, targets: Int32Array, B: number, T: number): RowScores {
    this.handle.resetCache();
    const both = this.handle.rowScores(inputs, targets, B, T); // [2*B*T]: losses, then entropies
    return { losses: both.subarray(0, B * T), entropies: both.subarray(B * T) };
  }

  reset(): void {
    this.handle.resetCache();
  }

  dispose(): void {
    this.handle.dispose();
  }
}

/** Which decoder a session runs: the plan's compiled class when it has one (`auto`), or the typed-array reference. */
export type DecodePath = 'auto' | 'native' | 'typed';

/** What a decoder may use, as the compute plan says: its compiled class, and the addon's sgemm for the reference. */
export interface DecoderCompute {
  readonly decoderClass: NativeGPTConstructor | null;
  readonly addon: NativeAddon | null;
}

/**
 * A KV cache over a model that no longer changes (it holds a copy of the weights). Positions are absolute, so a full
 * cache has to be reset and refilled (see decodeWithCache).
 */
export class KVCacheSession {
  readonly path: 'native' | 'typed';
  private readonly decoder: Decoder;
  private readonly vocabSize: number;
  private filled = 0;
  readonly capacity: number;

  constructor(model: GPT, compute: DecoderCompute, path: DecodePath = 'auto') {
    const cls = compute.decoderClass;
    const native = path !== 'typed' && cls ? NativeDecoder.create(model, cls) : null;
    if (path === 'native' && !native) throw new Error('the native decoder needs the addon (npm run build:native)');
    this.decoder = native ?? new TypedDecoder(model, compute.addon);
    this.path = native ? 'native' : 'typed';
    this.capacity = model.config.contextLength;
    this.vocabSize = model.config.vocabSize;
  }

  /** Tokens held in the cache. */
  get length(): number {
    return this.filled;
  }

  reset(): void {
    this.filled = 0;
    this.decoder.reset();
  }

  /** Appends tokens to the cache and returns the logits [V] after the last one. */
  feed(ids: ArrayLike<number>): Float32Array {
    const batch = this.checked(ids, this.capacity - this.filled);
    const logits = this.decoder.decode(batch);
    this.filled += batch.length;
    return logits;
  }

  /**
   * A probe's forward pass over one window of T <= capacity ids from position 0: the attention probabilities of
   * every layer, or of the first `upTo`, each [H, T, T], on the native decoder (null on the typed one). The cache is
   * left empty.
   */
  attention(ids: Int32Array, upTo?: number): Float32Array[] | null {
    if (!(this.decoder instanceof NativeDecoder)) return null;
    this.filled = 0;
    return this.decoder.attention(this.checked(ids, this.capacity), upTo);
  }

  /**
   * A probe's forward pass over B windows of T <= capacity ids, each from position 0: the cross-entropy of predicting
   * targets[i] (the id after inputs[i] in the text) for every row [B*T], in nats. The cache is left empty.
   */
  rowLosses(inputs: Int32Array, targets: Int32Array, B: number, T: number): ArrayLike<number> {
    this.checkBatch(inputs, targets, B, T);
    return this.decoder.rowLosses(this.checked(inputs, Infinity), this.checked(targets, Infinity), B, T);
  }

  /** rowLosses with the entropy of every row's next-token distribution too (nats): how unsure the model is there. */
  rowScores(inputs: Int32Array, targets: Int32Array, B: number, T: number): RowScores {
    this.checkBatch(inputs, targets, B, T);
    return this.decoder.rowScores(this.checked(inputs, Infinity), this.checked(targets, Infinity), B, T);
  }

  private checkBatch(inputs: Int32Array, targets: Int32Array, B: number, T: number): void {
    if (!(Number.isInteger(B) && Number.isInteger(T) && B >= 1 && T >= 1 && T <= this.capacity)) throw new Error(`no [${B}, ${T}] batch fits a context of ${this.capacity}`);
    if (inputs.length !== B * T || targets.length !== B * T) throw new Error('rowLosses needs B*T inputs and targets');
    this.reset();
  }

  dispose(): void {
    this.decoder.dispose();
  }

  /** ids as an Int32Array, after checking that there are 1..room of them and that they are in the vocabulary. */
  private checked(ids: ArrayLike<number>, room: number): Int32Array {
    const n = ids.length;
    if (n === 0) throw new Error('feed needs at least one token');
    if (n > room) throw new Error(`the cache holds ${this.capacity} tokens; ${this.filled} + ${n} do not fit`);
    for (let i = 0; i < n; i++) {
      if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= this.vocabSize) throw new Error(`token id ${ids[i]} is not in the model's vocabulary`);
    }
    return ids instanceof Int32Array ? ids : Int32Array.from(ids);
  }
}

/**
 * Autoregressive decoding with the cache. While prompt and continuation fit in the context, every token is
 * conditioned on all previous ones, exactly as a full forward over them. When the cache is full it keeps the most
 * recent half of the context, refills, and continues (absolute positions cannot be shifted in place).
 */
export function* decodeWithCache(session: KVCacheSession, prompt: ArrayLike<number>, next: (logits: Float32Array) => number,
  count: number): Generator<number> {
  const T = session.capacity;
  let history = Array.from(prompt);
  if (history.length === 0) throw new Error('generation needs a prompt of at least one token');
  session.reset();
  let logits = session.feed(history.slice(-T));
  for (let i = 0; i < count; i++) {
    const id = next(logits);
    yield id;
    history.push(id);
    if (i + 1 === count) break;
    if (session.length === T) {
      history = history.slice(-Math.max(1, Math.floor(T / 2)));
      session.reset();
      logits = session.feed(history);
    } else {
      logits = session.feed([id]);
    }
  }
}
