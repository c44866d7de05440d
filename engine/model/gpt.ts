// The decoder-only GPT, written to read like the math. Shape legend in config.ts:
//   B batch, T time, D width, H query heads, KV key/value heads, G = H/KV query heads per key/value head, hs head size,
//   A = H*hs, C = (H + 2*KV)*hs, F = ffnMult*D, V vocabulary, N layers.
// Parameters live as tf.Variables in the engine's layout: nn.Linear weights are kept [in, out] (the transpose of
// PyTorch's [out, in]) so every forward matmul is untransposed; toTensors/fromTensors convert at the file boundary.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs'; // registers the gradients, which tfjs-core's CommonJS build does not include
import { validateConfig, type GPTConfig } from './config';
import { isLinearWeight, paramSpecs, residualStd, type ParamSpec } from './params';
import { Rng } from '../common/rng';

// PROD skips tfjs's debug checks and its console banner about tfjs-node; set where tensors are first made, so that no
// entry point (CLI, engine process, tests, benchmarks) prints it.
tf.env().set('PROD', true);

export const NORM_EPS = 1e-5;

export interface ForwardOptions {
  training?: boolean; // enables dropout
  collect?: boolean; // also return attention probabilities and residual streams
  reference?: boolean; // use the plain per-head attention instead of the batched one (tests compare the two)
  lastPosition?: boolean; // logits of the last position only, [B, 1, V] (the unembedding is most of a short pass)
  hooks?: ForwardHooks;
  /**
   * forwardFrom only: per layer, the keys and values [1 or B, KV, P, hs] of the P positions before the residual's,
   * from an earlier pass over the same tokens (hooks.capture returns them), so that only later positions are computed.
   */
  past?: KeyValues[];
}

/**
 * Where interpretability probes (engine/probes) read and change a forward pass, TransformerLens's hook points: z is a
 * layer's per-head attention output before c_proj [B, H, T, hs], so head h writes z_h @ W_O[h] into the residual
 * stream. (The residual stream entering each block is `collect`'s; forwardFrom resumes a pass from an edited one.)
 * Absent hooks cost nothing.
 */
export interface ForwardHooks {
  capture?: boolean; // return z, mlpOut and keyValues of every block
  z?: (layer: number, z: tf.Tensor4D) => tf.Tensor4D; // replaces a layer's z: head ablation, patching a head's output
}

/** Keys and values of one layer's key/value heads [B, KV, S, hs], after RoPE and QK-norm: what attention reads. */
export interface KeyValues {
  keys: tf.Tensor4D;
  values: tf.Tensor4D;
}

interface AttentionOutput extends KeyValues {
  out: tf.Tensor; // [BT, D]: what the attention adds to the residual stream
  att: tf.Tensor4D; // [B, H, T, S] probabilities
  z: tf.Tensor4D; // [B, H, T, hs] per-head outputs (after the z hook)
}

export interface ForwardResult {
  logits: tf.Tensor3D; // [B, T, V] ([B, 1, V] with lastPosition)
  attention?: tf.Tensor4D[]; // N x [B, H, T, S]: S = T, or P + T after P past positions
  residuals?: tf.Tensor3D[]; // N+1 x [B, T, D]: entering each block (the first is the embeddings), then entering ln_f
  z?: tf.Tensor4D[]; // N x [B, H, T, hs] (hooks.capture)
  mlpOut?: (tf.Tensor3D | null)[]; // N x [B, T, D], null for an attention-only block (hooks.capture)
  keyValues?: KeyValues[]; // N x [B, KV, S, hs] (hooks.capture)
}

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** Transposes a row-major [rows, cols] matrix. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  }
  return out;
}

/** P[i, 2j] = sin(i / 10000^(2j/D)), P[i, 2j+1] = cos(i / 10000^(2j/D)), computed in float64. */
export function sinusoidalPositions(T: number, D: number): Float32Array {
  const P = new Float32Array(T * D);
  for (let i = 0; i < T; i++) {
    for (let j = 0; 2 * j < D; j++) {
      const angle = i / Math.pow(10000, (2 * j) / D);
      P[i * D + 2 * j] = Math.sin(angle);
      if (2 * j + 1 < D) P[i * D + 2 * j + 1] = Math.cos(angle);
    }
  }
  return P;
}

/** RoPE's base: position t turns pair i of a head by the angle t / ROPE_BASE^(2i/hs). */
export const ROPE_BASE = 10000;

/**
 * Rotary tables [T, hs/2], computed in float64: cos and sin of t / 10000^(2i/hs) for position t and pair i. Pair i
 * of a head is its elements (i, i + hs/2): the rotate-half form of GPT-NeoX, LLaMA (Hugging Face) and nanochat.
 */
export function ropeTables(T: number, hs: number): { cos: Float32Array; sin: Float32Array } {
  const half = hs / 2;
  const cos = new Float32Array(T * half), sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t / Math.pow(ROPE_BASE, (2 * i) / hs);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * Row lookup whose gradient is a scatter-add. tfjs's own gather gradient needs UnsortedSegmentSum, which the wasm
 * backend lacks, so on such backends the scatter runs in plain JavaScript.
 */
function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const rows = table.shape[0];
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    (args[1] as tf.GradSaveFunc)([ids]); // the gradient runs after the forward scope has freed everything unsaved
    return {
      value: tf.gather(args[0] as tf.Tensor, ids), // [BT, D]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const savedIds = saved[0];
        if (tf.getKernel('UnsortedSegmentSum', tf.getBackend())) return tf.unsortedSegmentSum(dy, savedIds as tf.Tensor1D, rows);
        const D = dy.shape[1] ?? 0;
        const g = dy.dataSync(), idx = savedIds.dataSync();
        const out = new Float32Array(rows * D);
        for (let i = 0; i < idx.length; i++) {
          const src = i * D, dst = idx[i] * D;
          for (let d = 0; d < D; d++) out[dst + d] += g[src + d];
        }
        return tf.tensor2d(out, [rows, D]);
      },
    };
  });
  return lookup(table) as tf.Tensor2D;
}

/**
 * Runs fn inside tf.tidy and copies the tensors it returns out as plain data, then frees them. (Returning typed
 * arrays or nested arrays from tf.tidy itself makes tfjs walk every element looking for tensors.)
 */
export function tidyData(fn: () => tf.Tensor[]): Float32Array[] {
  const tensors = tf.tidy(fn);
  try {
    return tensors.map((t) => t.dataSync() as Float32Array);
  } finally {
    tf.dispose(tensors);
  }
}

/** Swaps the last two axes: [..., m, n] -> [..., n, m]. */
function swapLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
  return tf.transpose(t, perm);
}

/**
 * How matMul treats a transposed operand. tfjs's stock wasm and cpu kernels run transposed operands about 10x slower
 * than plain ones (and tfjs's own matMul gradient asks for transposed operands), so with them every product goes
 * through explicit transposes; the native kernels and TensorFlow take the flags at full speed. The compute plan
 * (compute/plan.ts) says which; explicit transposes are right on every backend, so they are the default.
 */
export type MatMulMode = 'explicit-transposes' | 'transpose-flags';

/** op(a) @ op(b) over matching leading batch axes; with explicit transposes, a gradient of untransposed matmuls only. */
export function matMul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false,
  mode: MatMulMode = 'explicit-transposes'): tf.Tensor {
  if (mode === 'transpose-flags') return tf.matMul(a, b, transposeA, transposeB);
  const product = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const a2 = transposeA ? swapLast(args[0] as tf.Tensor) : (args[0] as tf.Tensor); // [..., m, k]
    const b2 = transposeB ? swapLast(args[1] as tf.Tensor) : (args[1] as tf.Tensor); // [..., k, n]
    (args[2] as tf.GradSaveFunc)([a2, b2]);
    return {
      value: tf.matMul(a2, b2), // [..., m, n]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const da = tf.matMul(dy, swapLast(saved[1])); // [..., m, k]
        const db = tf.matMul(swapLast(saved[0]), dy); // [..., k, n]
        return [transposeA ? swapLast(da) : da, transposeB ? swapLast(db) : db];
      },
    };
  });
  return product(a, b);
}

/**
 * Mean cross-entropy with the fused gradient softmax(z) - onehot(y), as llm.c's classifier does.
 * logits [M, V], targets [M] -> scalar.
 */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Scalar {
  const [M, V] = logits.shape;
  const ce = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[1] as tf.GradSaveFunc;
    const logp = tf.logSoftmax(args[0] as tf.Tensor); // [M, V]
    const onehot = tf.cast(tf.oneHot(targets, V), 'float32'); // [M, V]; wasm's OneHot ignores a float dtype
    const value = tf.div(tf.neg(tf.sum(tf.mul(onehot, logp))), M) as tf.Scalar;
    save([logp, onehot]); // tensors a gradient uses must be saved, or the forward scope frees them
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(tf.sub(tf.exp(saved[0]), saved[1]), tf.div(dy, M)),
    };
  });
  return ce(logits) as tf.Scalar;
}

/** Cross-entropy of every position: logits [M, V], targets [M] -> [M]. */
export function tokenLosses(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  const logp = tf.logSoftmax(logits);
  return tf.neg(tf.sum(tf.mul(tf.cast(tf.oneHot(targets, logits.shape[1]), 'float32'), logp), -1)) as tf.Tensor1D;
}

/** A parameter in the engine's layout from its PyTorch-layout data (linear weights transposed to [in, out]). */
function internalTensor(spec: ParamSpec, data: Float32Array | undefined): tf.Tensor {
  if (!data) throw new Error(`missing tensor ${spec.name}`);
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) throw new Error(`tensor ${spec.name} has ${data.length} values, expected ${size}`);
  return isLinearWeight(spec.name)
    ? tf.tensor2d(transpose2d(data, spec.shape[0], spec.shape[1]), [spec.shape[1], spec.shape[0]])
    : tf.tensor(data, spec.shape);
}

/** tfjs variable names are global, so each model suffixes its parameters' names with its own instance number. */
let instances = 0;

/** The nanoGPT parameter name of one of a model's tf.Variables (as keyed in tf.variableGrads results). */
export function paramNameOf(variableName: string): string {
  return variableName.replace(/@\d+$/, '');
}

export class GPT {
  readonly config: GPTConfig;
  readonly specs: ParamSpec[];
  private readonly params = new Map<string, tf.Variable>();
  private readonly causalMask: tf.Tensor2D; // [T, T]: 0 on and below the diagonal, -1e9 above
  private readonly positionTable: tf.Tensor2D | null; // [T, D] sinusoidal table, else null
  private readonly rope: { cos: tf.Tensor2D; sin: tf.Tensor2D } | null; // [T, hs/2] each with rotary positions
  private dropoutSeed = 1;

  private constructor(config: GPTConfig, tensors: Map<string, Float32Array>, readonly matmul: MatMulMode) {
    this.config = validateConfig({ ...config });
    this.specs = paramSpecs(this.config);
    const instance = ++instances;
    for (const spec of this.specs) {
      const internal = internalTensor(spec, tensors.get(spec.name));
      this.params.set(spec.name, tf.variable(internal, true, `${spec.name}@${instance}`));
      internal.dispose();
    }
    const T = this.config.contextLength, D = this.config.dim;
    this.causalMask = tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([T, T]), -1, 0)), -1e9)) as tf.Tensor2D;
    this.positionTable = this.config.positions === 'sinusoidal' ? tf.tensor2d(sinusoidalPositions(T, D), [T, D]) : null;
    const hs = this.config.headDim;
    const tables = this.config.positions === 'rope' ? ropeTables(T, hs) : null;
    this.rope = tables ? { cos: tf.tensor2d(tables.cos, [T, hs / 2]), sin: tf.tensor2d(tables.sin, [T, hs / 2]) } : null;
  }

  /** GPT-2 initialisation: N(0, 0.02), residual projections N(0, residualStd), biases 0, norm gains 1. */
  static init(config: GPTConfig, seed: number, matmul: MatMulMode = 'explicit-transposes'): GPT {
    const rng = new Rng(seed);
    const tensors = new Map<string, Float32Array>();
    for (const spec of paramSpecs(validateConfig(config))) {
      const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      const std = spec.init === 'residual' ? residualStd(config) : 0.02;
      if (spec.init === 'ones') data.fill(1);
      else if (spec.init !== 'zeros') for (let i = 0; i < data.length; i++) data[i] = std * rng.normal();
      tensors.set(spec.name, data);
    }
    return new GPT(config, tensors, matmul);
  }

  /** Builds a model from tensors in PyTorch layout, keyed by nanoGPT names. */
  static fromTensors(config: GPTConfig, tensors: Map<string, Float32Array>, matmul: MatMulMode = 'explicit-transposes'): GPT {
    return new GPT(config, tensors, matmul);
  }

  /** All parameters in PyTorch layout, in the canonical order of params.ts. */
  toTensors(): Map<string, NamedTensor> {
    const out = new Map<string, NamedTensor>();
    for (const spec of this.specs) {
      const v = this.param(spec.name);
      const data = v.dataSync() as Float32Array;
      out.set(spec.name, {
        shape: spec.shape,
        data: isLinearWeight(spec.name) ? transpose2d(data, spec.shape[1], spec.shape[0]) : Float32Array.from(data),
      });
    }
    return out;
  }

  /** Replaces every weight with tensors in PyTorch layout keyed by nanoGPT names, as toTensors gives them. */
  setWeights(tensors: Map<string, Float32Array>): void {
    for (const spec of this.specs) {
      const internal = internalTensor(spec, tensors.get(spec.name));
      this.param(spec.name).assign(internal);
      internal.dispose();
    }
  }

  /** The trainable variables, in the canonical order. */
  variables(): tf.Variable[] {
    return this.specs.map((s) => this.param(s.name));
  }

  param(name: string): tf.Variable {
    const v = this.params.get(name);
    if (!v) throw new Error(`model has no parameter ${name}`);
    return v;
  }

  private maybeParam(name: string): tf.Variable | null {
    return this.params.get(name) ?? null;
  }

  get parameterCount(): number {
    return this.specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** The input embedding matrix [V, D] as plain data, for neighbour and projection probes. */
  embeddingMatrix(): Float32Array {
    return this.param('transformer.wte.weight').dataSync() as Float32Array;
  }

  private dropout(x: tf.Tensor, training: boolean): tf.Tensor {
    const p = this.config.dropout;
    if (!training || p === 0) return x;
    return tf.dropout(x, p, undefined, this.dropoutSeed++);
  }

  /** x [M, D] -> [M, out]: x @ W + b with W kept [in, out]. */
  private linear(x: tf.Tensor, prefix: string): tf.Tensor {
    const y = matMul(x, this.param(`${prefix}.weight`), false, false, this.matmul);
    const b = this.maybeParam(`${prefix}.bias`);
    return b ? tf.add(y, b) : y;
  }

  /** LayerNorm or RMSNorm over the last axis, eps 1e-5. x [M, D] -> [M, D]. */
  private norm(x: tf.Tensor, prefix: string): tf.Tensor {
    const w = this.param(`${prefix}.weight`);
    if (this.config.norm === 'rmsnorm') {
      const ms = tf.mean(tf.square(x), -1, true); // [M, 1]
      return tf.mul(tf.mul(x, tf.rsqrt(tf.add(ms, NORM_EPS))), w);
    }
    const mean = tf.mean(x, -1, true); // [M, 1]
    const xc = tf.sub(x, mean); // [M, D]
    const variance = tf.mean(tf.square(xc), -1, true); // [M, 1], biased as in PyTorch
    const y = tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, NORM_EPS))), w);
    const b = this.maybeParam(`${prefix}.bias`);
    return b ? tf.add(y, b) : y;
  }

  private activation(x: tf.Tensor): tf.Tensor {
    if (this.config.activation === 'relu') return tf.relu(x);
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))); // exact erf GELU
  }

  /** RoPE on one head tensor x [B, n, T, hs] at positions P..P+T-1: pair (i, i + hs/2) at position t turns by t / 10000^(2i/hs). */
  private rotary(x: tf.Tensor, P: number, T: number): tf.Tensor {
    const half = this.config.headDim / 2;
    const cos = tf.slice(this.rope!.cos, [P, 0], [T, half]), sin = tf.slice(this.rope!.sin, [P, 0], [T, half]); // [T, hs/2]
    const [x1, x2] = tf.split(x, 2, 3); // [B, n, T, hs/2] each
    return tf.concat([tf.sub(tf.mul(x1, cos), tf.mul(x2, sin)), tf.add(tf.mul(x2, cos), tf.mul(x1, sin))], 3); // [B, n, T, hs]
  }

  /** QK-norm: RMSNorm without a weight over each head's last axis. x [B, n, T, hs] -> [B, n, T, hs]. */
  private headNorm(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), NORM_EPS)));
  }

  /**
   * Causal self-attention with H query heads over KV key/value heads, query head h reading key/value head
   * floor(h / G). x [B*T, D] -> y [B*T, D]. With `past` (the keys and values of positions 0..P-1 from an earlier pass
   * over the same tokens), x holds positions P..P+T-1, which attend to all S = P+T; without it P = 0.
   */
  private attention(x: tf.Tensor, B: number, T: number, layer: number, opts: ForwardOptions, past: KeyValues | null): AttentionOutput {
    const { heads: H, kvHeads: KV, headDim: hs } = this.config;
    const G = H / KV, P = past ? past.keys.shape[2] : 0, S = P + T;
    const prefix = `transformer.h.${layer}.attn`;
    const qkv = this.linear(x, `${prefix}.c_attn`); // [BT, C]
    const [q2, k2, v2] = tf.split(qkv, [H * hs, KV * hs, KV * hs], 1); // [BT, A], [BT, KV*hs], [BT, KV*hs]
    const heads = (t: tf.Tensor, n: number): tf.Tensor => tf.transpose(tf.reshape(t, [B, T, n, hs]), [0, 2, 1, 3]); // [B, n, T, hs]
    let q = heads(q2, H), k = heads(k2, KV); // [B, H, T, hs], [B, KV, T, hs]
    let v = heads(v2, KV); // [B, KV, T, hs]
    if (this.rope) [q, k] = [this.rotary(q, P, T), this.rotary(k, P, T)];
    if (this.config.qkNorm) [q, k] = [this.headNorm(q), this.headNorm(k)]; // after RoPE, as nanochat (they commute)
    if (past) {
      // One past for every row of the batch: B copies (wasm's Tile kernel is 20x slower than a concat of copies).
      const rows = (t: tf.Tensor4D): tf.Tensor => (t.shape[0] === B ? t : tf.concat(new Array<tf.Tensor>(B).fill(t), 0)); // [B, KV, P, hs]
      [k, v] = [tf.concat([rows(past.keys), k], 2), tf.concat([rows(past.values), v], 2)]; // [B, KV, S, hs]
    }
    const mask = tf.slice(this.causalMask, [P, 0], [T, S]); // [T, S]
    let y: tf.Tensor, att: tf.Tensor;
    if (!opts.reference) {
      // The G query heads of a key/value head are consecutive: stacked as G*T rows, they share one product with k and v.
      const qg = tf.reshape(q, [B, KV, G * T, hs]); // [B, KV, G*T, hs]
      const scores = tf.add(tf.reshape(tf.mul(matMul(qg, k, false, true, this.matmul), 1 / Math.sqrt(hs)), [B, H, T, S]), mask); // [B, H, T, S]
      att = this.dropout(tf.softmax(scores), !!opts.training); // [B, H, T, S]
      y = tf.reshape(matMul(tf.reshape(att, [B, KV, G * T, S]), v, false, false, this.matmul), [B, H, T, hs]); // [B, H, T, hs]
    } else {
      // Plain path: one 2-D attention per (batch, head), exactly the textbook formula.
      const ys: tf.Tensor[] = [], atts: tf.Tensor[] = [];
      const pick = (t: tf.Tensor, b: number, h: number, n: number): tf.Tensor => tf.reshape(tf.slice(t, [b, h, 0, 0], [1, 1, n, hs]), [n, hs]);
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          const qh = pick(q, b, h, T), kh = pick(k, b, Math.floor(h / G), S), vh = pick(v, b, Math.floor(h / G), S); // [T, hs], [S, hs]
          const p = tf.softmax(tf.add(tf.div(matMul(qh, tf.transpose(kh), false, false, this.matmul), Math.sqrt(hs)), mask)); // [T, S]
          atts.push(p);
          ys.push(matMul(p, vh, false, false, this.matmul)); // [T, hs]
        }
      }
      att = tf.reshape(tf.stack(atts), [B, H, T, S]);
      y = tf.reshape(tf.stack(ys), [B, H, T, hs]);
    }
    const z = opts.hooks?.z ? opts.hooks.z(layer, y as tf.Tensor4D) : (y as tf.Tensor4D); // [B, H, T, hs]
    const merged = tf.reshape(tf.transpose(z, [0, 2, 1, 3]), [B * T, H * hs]); // [BT, A]
    const out = this.dropout(this.linear(merged, `${prefix}.c_proj`), !!opts.training); // [BT, D]
    return { out, att: att as tf.Tensor4D, z, keys: k as tf.Tensor4D, values: v as tf.Tensor4D };
  }

  private mlp(x: tf.Tensor, layer: number, training: boolean): tf.Tensor {
    const prefix = `transformer.h.${layer}.mlp`;
    const h = this.activation(this.linear(x, `${prefix}.c_fc`)); // [BT, F]
    return this.dropout(this.linear(h, `${prefix}.c_proj`), training); // [BT, D]
  }

  /** Final norm and unembedding: residual [M, D] -> logits [M, V]. */
  headLogits(x: tf.Tensor): tf.Tensor {
    const xf = this.norm(x, 'transformer.ln_f'); // [M, D]
    const lmHead = this.maybeParam('lm_head.weight'); // [D, V] when untied
    const logits = lmHead ? matMul(xf, lmHead, false, false, this.matmul)
      : matMul(xf, this.param('transformer.wte.weight'), false, true, this.matmul);
    const b = this.maybeParam('lm_head.bias');
    return b ? tf.add(logits, b) : logits;
  }

  /** idx [B, T] int32 with T <= contextLength -> logits [B, T, V] (plus probes when collect is set). */
  forward(idx: tf.Tensor2D, opts: ForwardOptions = {}): ForwardResult {
    const [B, T] = idx.shape;
    const { dim: D, contextLength } = this.config;
    if (T > contextLength) throw new Error(`sequence length ${T} exceeds the context length ${contextLength}`);
    if (opts.past) throw new Error('a forward pass from the tokens starts at position 0: past keys and values are for forwardFrom');
    const tokens = embeddingLookup(this.param('transformer.wte.weight') as tf.Tensor2D, tf.reshape(idx, [B * T])); // [BT, D]
    // Learned and sinusoidal positions are added here; rotary ones turn q and k inside attention; none has nothing.
    const table = this.config.positions === 'learned' ? this.param('transformer.wpe.weight') : this.positionTable; // [Tmax, D]
    const x: tf.Tensor = table
      ? tf.reshape(tf.add(tf.reshape(tokens, [B, T, D]), tf.slice(table, [0, 0], [T, D])), [B * T, D]) // [BT, D]
      : tokens;
    return this.blocks(this.dropout(x, !!opts.training), 0, B, T, opts);
  }

  /**
   * The rest of a forward pass from the residual stream entering block `layer` [B, T, D]: blocks layer..N-1, ln_f
   * and the unembedding. Patching reruns only the blocks after the patched one. With opts.past (keys and values of
   * the P positions before, per layer), the residual holds positions P..P+T-1.
   */
  forwardFrom(layer: number, residual: tf.Tensor3D, opts: ForwardOptions = {}): ForwardResult {
    const [B, T, D] = residual.shape;
    const P = opts.past?.[layer]?.keys.shape[2] ?? 0;
    if (!(Number.isInteger(layer) && layer >= 0 && layer <= this.config.layers)) throw new Error(`no block ${layer} in a ${this.config.layers}-layer model`);
    if (P + T > this.config.contextLength || D !== this.config.dim) throw new Error(`a residual of shape [${residual.shape.join(', ')}] after ${P} positions does not fit this model`);
    if (opts.past && opts.past.length !== this.config.layers) throw new Error(`past keys and values are for ${opts.past.length} layers, the model has ${this.config.layers}`);
    return this.blocks(tf.reshape(residual, [B * T, D]), layer, B, T, opts);
  }

  /** Blocks from..N-1 on the residual stream x [BT, D], then the final norm and the unembedding. */
  private blocks(x: tf.Tensor, from: number, B: number, T: number, opts: ForwardOptions): ForwardResult {
    const { dim: D, vocabSize: V, layers: N } = this.config;
    const training = !!opts.training, hooks = opts.hooks;
    const attention: tf.Tensor4D[] = [], residuals: tf.Tensor3D[] = [];
    const z: tf.Tensor4D[] = [], mlpOut: (tf.Tensor3D | null)[] = [], keyValues: KeyValues[] = [];
    for (let l = from; l < N; l++) {
      if (opts.collect) residuals.push(tf.reshape(x, [B, T, D]) as tf.Tensor3D);
      const a = this.attention(this.norm(x, `transformer.h.${l}.ln_1`), B, T, l, opts, opts.past?.[l] ?? null);
      x = tf.add(x, a.out); // [BT, D]
      const m = this.config.ffnMult > 0 ? this.mlp(this.norm(x, `transformer.h.${l}.ln_2`), l, training) : null; // [BT, D]
      if (m) x = tf.add(x, m); // [BT, D]
      if (opts.collect) attention.push(a.att);
      if (hooks?.capture) {
        z.push(a.z);
        mlpOut.push(m ? (tf.reshape(m, [B, T, D]) as tf.Tensor3D) : null);
        keyValues.push({ keys: a.keys, values: a.values });
      }
    }
    if (opts.collect) residuals.push(tf.reshape(x, [B, T, D]) as tf.Tensor3D);
    const last = opts.lastPosition ? tf.reshape(tf.slice(tf.reshape(x, [B, T, D]), [0, T - 1, 0], [B, 1, D]), [B, D]) : x; // [B, D] or [BT, D]
    const logits = tf.reshape(this.headLogits(last), [B, opts.lastPosition ? 1 : T, V]) as tf.Tensor3D; // [B, T, V]
    return { logits, ...(opts.collect ? { attention, residuals } : {}), ...(hooks?.capture ? { z, mlpOut, keyValues } : {}) };
  }

  /** Mean next-token cross-entropy of a batch: inputs, targets [B, T] int32 -> scalar. */
  loss(inputs: tf.Tensor2D, targets: tf.Tensor2D, training = false): tf.Scalar {
    const [B, T] = inputs.shape;
    const { logits } = this.forward(inputs, { training });
    return crossEntropy(tf.reshape(logits, [B * T, this.config.vocabSize]) as tf.Tensor2D, tf.reshape(targets, [B * T]) as tf.Tensor1D);
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
    this.causalMask.dispose();
    this.positionTable?.dispose();
    if (this.rope) tf.dispose([this.rope.cos, this.rope.sin]);
  }
}
