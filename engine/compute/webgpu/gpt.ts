// The WebGPU GPT: native/src/gpt.cc's forward, backward, clipped AdamW, KV-cache decoding and probes as WGSL
// kernels (kernels.ts) over one flat parameter buffer in the model file's order and PyTorch layouts, with gradients
// and AdamW's moments beside it on the device. A training step is one command buffer, built once per batch shape:
// 7 dispatches per block forward and 8 backward (attention-only blocks 4 and 5; RoPE or QK-norm one more each way),
// and 8 more for the whole step. Only the batch's ids, the dropout seeds and AdamW's settings are written per step,
// and only the loss, the gradient norm and the row losses come back. Decoding reuses one plan per row count: per
// token the host writes the id and the position, and reads back the logits.
// Legend: B batch, T time, D width, H query heads, KV key/value heads, G = H/KV, hs head size, A = H*hs,
// C = (H + 2*KV)*hs, W = KV*hs, F = ffnMult*D, V vocabulary, N layers, M = B*T rows, ctx the context.
import type { GPTConfig } from '../../model/config';
import { ropeTables, sinusoidalPositions } from '../../model/gpt';
import type { AsyncGPTHandle, NativeStepResult, AdamWStep } from '../addon';
import { grid1d, outOfMemory, type Binding, type Clear, type Dispatch, type GpuContext, type Plan } from './context';
import type { GpuBuffer } from './gpuTypes';
import { ATTN_ROWS, GEMV_ROWS, NONE, NORM_ROWS } from './kernels';

// Slot order of the flat layout's offset table (model/flatLayout.ts, native/src/gpt.h).
const G_WTE = 0, G_WPE = 1, G_LNF_W = 2, G_LNF_B = 3, G_LM_W = 4, G_LM_B = 5, GLOBALS = 6;
const L_LN1_W = 0, L_LN1_B = 1, L_ATTN_W = 2, L_ATTN_B = 3, L_PROJ_W = 4, L_PROJ_B = 5, L_LN2_W = 6, L_LN2_B = 7,
  L_FC_W = 8, L_FC_B = 9, L_FC2_W = 10, L_FC2_B = 11, LAYER_SLOTS = 12;

/** Workgroups of the gradient sum of squares, and at most of AdamW (which reads all their partial sums). */
const SUMSQ_GROUPS = 1024;
const ADAMW_GROUPS = 512;

/** Decoding plans kept, by row count (one token at a time is the common case; prompts vary). */
const DECODE_PLANS = 4;

// ---------------------------------------------------------------- the dropout seeds (gpt.cc: mix64, site_seed)

const MASK64 = (1n << 64n) - 1n;

function mix64(z0: bigint): bigint {
  let z = (z0 + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** Seeds of the dropout sites of one training forward (0 the embeddings; per layer 3l+1 attention, 3l+2, 3l+3 the branches), as (lo, hi) pairs. */
export function siteSeeds(seed: number, layers: number): Uint32Array {
  const step = BigInt(Math.trunc(seed)) | 1n; // gpt.cc: dropoutSeed_ = seed | 1
  const out = new Uint32Array(2 * (3 * layers + 1));
  for (let site = 0; site <= 3 * layers; site++) {
    const s = mix64((((step * 0x9e3779b97f4a7c15n) & MASK64) + BigInt(site)) & MASK64);
    out[2 * site] = Number(s & 0xffffffffn);
    out[2 * site + 1] = Number(s >> 32n);
  }
  return out;
}

/** Where the seeds start in a state buffer (kernels.ts: state[0] is p0, state[2 + 2s] site s's seed). */
const SEEDS_AT = 2;

// ---------------------------------------------------------------- buffers of one batch shape

/** The activations of a forward pass over up to capB x capT tokens, and the gradient scratch of its backward pass. */
interface Activations {
  capB: number;
  capT: number;
  resid: GpuBuffer[]; // (N+1) x [M, D]: the input of each block, then the final stream
  ln1: GpuBuffer[]; // N x [M, D]
  stats1: GpuBuffer[]; // N x [M, 2]: mean, 1/std
  qkv: GpuBuffer[]; // N x [M, C], q and k after RoPE and QK-norm
  rstd: GpuBuffer[]; // N x [M, H + KV] QK-norm's factors (qkNorm only)
  att: GpuBuffer[]; // N x [B, H, T, T] probabilities (before dropout)
  attDrop: GpuBuffer[]; // N x [B, H, T, T] after dropout (dropout > 0 only)
  atty: GpuBuffer[]; // N x [M, A] heads merged, before c_proj
  mid: GpuBuffer[]; // N x [M, D] residual after attention (blocks with an MLP)
  ln2: GpuBuffer[];
  stats2: GpuBuffer[];
  fch: GpuBuffer[]; // N x [M, F] before the activation
  fca: GpuBuffer[]; // N x [M, F] after it
  lnf: GpuBuffer; // [M, D]
  statsf: GpuBuffer; // [M, 2]
  logits: GpuBuffer; // [M, V]; dL/dlogits in place after a training forward
  branch: GpuBuffer; // [M, D] a block's branch output / its gradient through dropout
  dresid: GpuBuffer; // [M, D]
  dln: GpuBuffer; // [M, max(A, D)]
  dqkv: GpuBuffer; // [M, C]
  dff: GpuBuffer | null; // [M, F]
  dS: GpuBuffer; // [B, H, T, T]
  parts: [GpuBuffer, GpuBuffer]; // two norms' partial column sums [M / NORM_ROWS, 2, D], in turn
  idx: GpuBuffer; // [M] ids
  targets: GpuBuffer; // [M]
  csr: GpuBuffer; // rows grouped by token: [U], [U + 1], [M]
  losses: GpuBuffer; // [M]
  all: GpuBuffer[];
}

/** The decoding state: the KV cache and the scratch of up to ctx new rows. */
interface DecodeBuffers {
  K: GpuBuffer[]; // N x [ctx, W]
  Vc: GpuBuffer[];
  x: [GpuBuffer, GpuBuffer]; // [ctx, D], ping-pong residual stream
  ln: GpuBuffer;
  stats: GpuBuffer;
  qkv: GpuBuffer; // [ctx, C]
  rstd: GpuBuffer; // [ctx, H + KV]
  S: GpuBuffer; // [H, n, ctx] probabilities
  y: GpuBuffer; // [ctx, A]
  branch: GpuBuffer;
  fch: GpuBuffer; // [ctx, F]
  fca: GpuBuffer;
  ids: GpuBuffer;
  logits: GpuBuffer; // [V]
  state: GpuBuffer; // [p0, 0, a seed that no decoding kernel uses]
  all: GpuBuffer[];
}

type PlanKind = 'loss' | 'forward' | 'grad' | 'grad-drop' | 'step' | 'step-drop';

interface Shape {
  V: number; ctx: number; D: number; H: number; KV: number; G: number; hs: number; A: number; C: number; W: number;
  N: number; F: number; rms: boolean; gelu: boolean; positions: GPTConfig['positions']; qkNorm: boolean;
  tied: boolean; bias: boolean; qkvBias: boolean; dropout: number;
}

/** Where each tensor starts in the flat buffer, by slot, after checking the layout against the shape as gpt.cc does. */
function checkLayout(s: Shape, offsets: Float64Array, nparams: number): number[] {
  if (!(offsets instanceof Float64Array)) throw new TypeError('WebGpuGPT: offsets must be a Float64Array');
  if (offsets.length !== GLOBALS + LAYER_SLOTS * s.N) throw new RangeError(`WebGpuGPT: offsets must hold ${GLOBALS + LAYER_SLOTS * s.N} entries`);
  const o = Array.from(offsets);
  const normBias = !s.rms && s.bias, mlp = s.F > 0;
  const spans: [number, number][] = [];
  const check = (at: number, size: number, present: boolean, name: string): void => {
    const off = o[at];
    if (!present) {
      if (off !== -1) throw new RangeError(`WebGpuGPT: ${name} is not in this config`);
      return;
    }
    if (!Number.isInteger(off) || off < 0 || off + size > nparams) throw new RangeError(`WebGpuGPT: ${name} lies outside the parameters`);
    spans.push([off, size]);
  };
  const { V, D, F, A, C } = s;
  check(G_WTE, V * D, true, 'wte');
  check(G_WPE, s.ctx * D, s.positions === 'learned', 'wpe');
  check(G_LNF_W, D, true, 'ln_f.weight');
  check(G_LNF_B, D, normBias, 'ln_f.bias');
  check(G_LM_W, V * D, !s.tied, 'lm_head.weight');
  check(G_LM_B, V, s.bias, 'lm_head.bias');
  for (let l = 0; l < s.N; l++) {
    const b = GLOBALS + l * LAYER_SLOTS;
    check(b + L_LN1_W, D, true, 'ln_1.weight');
    check(b + L_LN1_B, D, normBias, 'ln_1.bias');
    check(b + L_ATTN_W, C * D, true, 'c_attn.weight');
    check(b + L_ATTN_B, C, s.qkvBias, 'c_attn.bias');
    check(b + L_PROJ_W, D * A, true, 'attn.c_proj.weight');
    check(b + L_PROJ_B, D, s.bias, 'attn.c_proj.bias');
    check(b + L_LN2_W, D, mlp, 'ln_2.weight');
    check(b + L_LN2_B, D, mlp && normBias, 'ln_2.bias');
    check(b + L_FC_W, F * D, mlp, 'c_fc.weight');
    check(b + L_FC_B, F, mlp && s.bias, 'c_fc.bias');
    check(b + L_FC2_W, D * F, mlp, 'mlp.c_proj.weight');
    check(b + L_FC2_B, D, mlp && s.bias, 'mlp.c_proj.bias');
  }
  // Together they tile the buffer: sizes that fit but differ from the layout's would read the wrong weights.
  spans.sort((a, b) => a[0] - b[0]);
  let end = 0;
  for (const [off, size] of spans) {
    if (off !== end) throw new RangeError("WebGpuGPT: the config's tensors do not tile the parameter buffer");
    end += size;
  }
  if (end !== nparams) throw new RangeError("WebGpuGPT: the config's tensors do not tile the parameter buffer");
  return o;
}

/** The fixed position tables that follow the parameters on the device: sinusoids [ctx, D], or RoPE's cos, sin [ctx, hs/2]. */
function positionTables(s: Shape): Float32Array {
  if (s.positions === 'sinusoidal') return sinusoidalPositions(s.ctx, s.D);
  if (s.positions !== 'rope') return new Float32Array(0);
  const { cos, sin } = ropeTables(s.ctx, s.hs);
  const out = new Float32Array(cos.length + sin.length);
  out.set(cos);
  out.set(sin, cos.length);
  return out;
}

/** The dropout fields of a kernel's uniforms: off, or on at a site with the threshold and scale of gpt.cc. */
function dropFields(p: number, on: boolean, site: number): { drop: number; site: number; threshold: number; keepScale: number } {
  const pf = Math.fround(p);
  return { drop: on ? 1 : 0, site: on ? site : 0, threshold: Math.floor(pf * 16777216), keepScale: Math.fround(1 / Math.fround(1 - pf)) };
}

/** One product of a gemm dispatch (kernels.ts gemm): C[M, N] = op(A)[M, K] op(B)[K, N] (+ bias). */
interface GemmJob {
  M: number; N: number; K: number;
  lda: number; offA?: number; transA?: boolean;
  B: Binding; ldb: number; offB?: number; transB?: boolean;
  C: Binding; ldc: number; offC?: number;
  /** The bias's offset in the parameters (job 0 only: its B is the parameters), or -1. */
  biasAt?: number;
  /** 1: also act(C) into the dispatch's C1 (job 0); 2: times act'(aux) (aux indexed like C). */
  epilogue?: 1 | 2;
  /** Also the row sums of op(A) into C at this offset (a bias gradient beside its weight's), or -1. */
  rowSumsAt?: number;
}

export class WebGpuGPT implements AsyncGPTHandle {
  private readonly s: Shape;
  private readonly off: number[];
  private readonly nparams: number;
  /** The parameters, then the position tables (offTables). */
  private readonly P: GpuBuffer;
  private readonly offTables: number;
  private grads: GpuBuffer | null = null;
  private m: GpuBuffer | null = null;
  private v: GpuBuffer | null = null;
  private readonly state: GpuBuffer; // training: [0, 0, dropout seeds]
  private readonly stats: GpuBuffer; // [loss, gradNorm, clip, applied]
  private readonly sumsqPart: GpuBuffer;
  private acts: Activations | null = null;
  private dec: DecodeBuffers | null = null;
  private cached = 0;
  private readonly plans = new Map<string, Plan>();
  private readonly decodePlans = new Map<number, Plan>();
  private last: { B: number; T: number } | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private readonly created: Promise<void>;

  constructor(private readonly ctx: GpuContext, shape: GPTConfig, offsets: Float64Array, private readonly params: Float32Array) {
    if (!(params instanceof Float32Array)) throw new TypeError('WebGpuGPT: params must be a Float32Array');
    const known = (x: string, ok: string[]): boolean => ok.includes(x);
    if (!known(shape.norm, ['layernorm', 'rmsnorm']) || !known(shape.activation, ['relu', 'gelu']) ||
      !known(shape.positions, ['learned', 'sinusoidal', 'rope', 'none'])) throw new TypeError('WebGpuGPT: unknown norm, activation or positions');
    const { heads: H, kvHeads: KV, headDim: hs, dim: D } = shape;
    if (![H, KV, hs, D, shape.layers, shape.vocabSize, shape.contextLength].every((n) => Number.isInteger(n) && n >= 1) ||
      !Number.isInteger(shape.ffnMult) || shape.ffnMult < 0) throw new RangeError('WebGpuGPT: every dimension must be a positive integer');
    if (H % KV !== 0) throw new RangeError('WebGpuGPT: heads must be a multiple of kvHeads');
    if (shape.positions === 'rope' && hs % 2 !== 0) throw new RangeError('WebGpuGPT: rotary positions need an even head size');
    if (!(shape.dropout >= 0 && shape.dropout < 1)) throw new RangeError('WebGpuGPT: dropout must be in [0, 1)');
    this.s = {
      V: shape.vocabSize, ctx: shape.contextLength, D, H, KV, G: H / KV, hs, A: H * hs, C: (H + 2 * KV) * hs, W: KV * hs,
      N: shape.layers, F: shape.ffnMult * D, rms: shape.norm === 'rmsnorm', gelu: shape.activation === 'gelu',
      positions: shape.positions, qkNorm: shape.qkNorm, tied: shape.tieEmbeddings, bias: shape.bias, qkvBias: shape.qkvBias,
      dropout: shape.dropout,
    };
    this.nparams = params.length;
    this.off = checkLayout(this.s, offsets, params.length);
    const tables = positionTables(this.s);
    this.offTables = params.length;
    ctx.device.pushErrorScope('out-of-memory');
    this.P = ctx.storage(params.length + tables.length, 'the parameters');
    ctx.device.queue.writeBuffer(this.P, 0, params);
    if (tables.length) ctx.device.queue.writeBuffer(this.P, 4 * params.length, tables);
    this.state = ctx.storage(SEEDS_AT + 2 * (3 * this.s.N + 1), 'the dropout seeds');
    this.stats = ctx.storage(4, 'the step results');
    this.sumsqPart = ctx.storage(SUMSQ_GROUPS, 'the gradient norm partials');
    // Whether the device could hold them is known only asynchronously: the first call waits for it.
    this.created = ctx.device.popErrorScope().then((e) => {
      if (e) throw outOfMemory(`the model's ${params.length} parameters did not fit in the GPU's memory (${e.message.split('\n')[0]})`);
    });
    this.created.catch(() => undefined); // reported by the first call, not as an unhandled rejection
  }

  // ---------------------------------------------------------------- public entry points

  loss(inputs: Int32Array, targets: Int32Array, B: number, T: number): Promise<number> {
    return this.serial(async () => meanOf(await this.rowLossesNow(inputs, targets, B, T, 'the loss')));
  }

  lossAndGradients(inputs: Int32Array, targets: Int32Array, B: number, T: number, seed = 0): Promise<number> {
    return this.serial(async () => {
      if (!Number.isInteger(seed) || seed < 0) throw new TypeError('seed must be a non-negative integer');
      await this.checkBatch(inputs, targets, B, T);
      await this.ensureTrainingState();
      const drop = seed !== 0 && this.s.dropout > 0;
      this.upload(inputs, targets, B, T, true);
      if (drop) this.ctx.device.queue.writeBuffer(this.state, 4 * SEEDS_AT, siteSeeds(seed, this.s.N));
      const [losses] = await this.ctx.run(this.plan(drop ? 'grad-drop' : 'grad', B, T), [{ buffer: this.acts!.losses, bytes: 4 * B * T }],
        'the gradients');
      return meanOf(new Float32Array(losses));
    });
  }

  gradients(): Promise<Float32Array> {
    return this.serial(async () => {
      if (!this.grads) throw new Error('gradients: call lossAndGradients or step first');
      const [g] = await this.ctx.run(null, [{ buffer: this.grads, bytes: 4 * this.nparams }], 'reading the gradients');
      return new Float32Array(g);
    });
  }

  step(inputs: Int32Array, targets: Int32Array, B: number, T: number, st: AdamWStep): Promise<NativeStepResult> {
    return this.serial(async () => {
      const settings = [st?.lr, st?.beta1, st?.beta2, st?.eps, st?.weightDecay, st?.gradClip, st?.t, st?.seed];
      if (settings.some((x) => typeof x !== 'number') || !Number.isInteger(st.t) || st.t < 1 || !(st.seed >= 0 && st.seed <= 9.0e15)) {
        throw new TypeError('step: settings need lr, beta1, beta2, eps, weightDecay, gradClip, t >= 1 and seed');
      }
      await this.checkBatch(inputs, targets, B, T);
      await this.ensureTrainingState();
      const drop = this.s.dropout > 0;
      this.upload(inputs, targets, B, T, true);
      if (drop) this.ctx.device.queue.writeBuffer(this.state, 4 * SEEDS_AT, siteSeeds(st.seed, this.s.N));
      const plan = this.plan(drop ? 'step-drop' : 'step', B, T);
      plan.update('adamw', adamwUniforms(st));
      const [stats, losses] = await this.ctx.run(plan, [{ buffer: this.stats, bytes: 16 }, { buffer: this.acts!.losses, bytes: 4 * B * T }], 'a training step');
      const r = new Float32Array(stats);
      return { loss: meanOf(new Float32Array(losses)), gradNorm: r[1], applied: r[3] !== 0, threads: 0 };
    });
  }

  forward(inputs: Int32Array, B: number, T: number): Promise<void> {
    return this.serial(async () => {
      await this.checkBatch(inputs, null, B, T);
      this.upload(inputs, null, B, T, false);
      await this.ctx.run(this.plan('forward', B, T), [], 'a forward pass');
      this.last = { B, T };
    });
  }

  logits(): Promise<Float32Array> {
    return this.serial(async () => {
      const { B, T } = this.lastForward();
      return new Float32Array((await this.ctx.run(null, [{ buffer: this.acts!.logits, bytes: 4 * B * T * this.s.V }], 'reading the logits'))[0]);
    });
  }

  attention(layer: number): Promise<Float32Array> {
    return this.serial(async () => {
      const { B, T } = this.lastForward();
      if (!Number.isInteger(layer) || layer < 0 || layer >= this.s.N) throw new RangeError('layer index out of range');
      const bytes = 4 * B * this.s.H * T * T;
      return new Float32Array((await this.ctx.run(null, [{ buffer: this.acts!.att[layer], bytes }], 'reading the attention'))[0]);
    });
  }

  residual(layer: number): Promise<Float32Array> {
    return this.serial(async () => {
      const { B, T } = this.lastForward();
      if (!Number.isInteger(layer) || layer < 0 || layer > this.s.N) throw new RangeError('layer index out of range');
      const bytes = 4 * B * T * this.s.D;
      return new Float32Array((await this.ctx.run(null, [{ buffer: this.acts!.resid[layer], bytes }], 'reading the residual stream'))[0]);
    });
  }

  decode(ids: Int32Array): Promise<Float32Array> {
    return this.serial(async () => {
      if (!(ids instanceof Int32Array)) throw new TypeError('ids must be an Int32Array');
      const n = ids.length, p0 = this.cached;
      if (n < 1 || p0 + n > this.s.ctx) throw new RangeError(`decode: the cache holds ${this.s.ctx} tokens; ${p0} + ${n} do not fit`);
      for (const id of ids) if (id < 0 || id >= this.s.V) throw new RangeError("token id out of the model's vocabulary");
      const d = await this.decodeBuffers();
      const q = this.ctx.device.queue;
      q.writeBuffer(d.ids, 0, ids);
      q.writeBuffer(d.state, 0, Uint32Array.of(p0));
      const [logits] = await this.ctx.run(this.decodePlan(d, n), [{ buffer: d.logits, bytes: 4 * this.s.V }], 'decoding');
      this.cached = p0 + n;
      return new Float32Array(logits);
    });
  }

  rowLosses(inputs: Int32Array, targets: Int32Array, B: number, T: number): Promise<Float32Array> {
    return this.serial(() => this.rowLossesNow(inputs, targets, B, T, 'the row losses'));
  }

  resetCache(): void {
    this.cached = 0;
  }

  /** The GPU decides its own parallelism. */
  setThreads(_n: number): void {}

  syncParams(): Promise<void> {
    return this.serial(async () => {
      const [p] = await this.ctx.run(null, [{ buffer: this.P, bytes: 4 * this.nparams }], 'reading the parameters');
      this.params.set(new Float32Array(p));
    });
  }

  /**
   * Dispatches of one command buffer: a training step (forward, backward and AdamW) on a [B, T] batch, and decoding
   * one token. For the bench and the tests; builds nothing on the device.
   */
  dispatchCounts(B: number, T: number): { step: number; decodeToken: number } {
    const stand = (): GpuBuffer => this.P; // stands in for every buffer: the lists are counted, never bound
    return {
      step: this.stepItems('step', B, T, this.activationsOf(B, T, stand, []), this.P).filter((d) => 'kernel' in d).length,
      decodeToken: this.decodeDispatches(this.decodeBuffersOf(stand, []), 1).length,
    };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // After the calls already made: their buffers stay alive until they have finished.
    void this.chain.finally(() => {
      this.dropPlans();
      this.dropDecodePlans();
      for (const b of [...this.acts?.all ?? [], ...this.dec?.all ?? []]) b.destroy();
      for (const b of [this.P, this.grads, this.m, this.v, this.state, this.stats, this.sumsqPart]) b?.destroy();
    });
  }

  // ---------------------------------------------------------------- state

  /** Runs calls one after another, in the order they were made: they share buffers and plans. */
  private serial<R>(call: () => Promise<R>): Promise<R> {
    if (this.disposed) return Promise.reject(new TypeError('WebGpuGPT: the model was disposed'));
    const next = async (): Promise<R> => {
      await this.created;
      return call();
    };
    const result = this.chain.then(next, next);
    this.chain = result.catch(() => undefined);
    return result;
  }

  private async rowLossesNow(inputs: Int32Array, targets: Int32Array, B: number, T: number, what: string): Promise<Float32Array> {
    await this.checkBatch(inputs, targets, B, T);
    this.upload(inputs, targets, B, T, false);
    const [losses] = await this.ctx.run(this.plan('loss', B, T), [{ buffer: this.acts!.losses, bytes: 4 * B * T }], what);
    return new Float32Array(losses);
  }

  private lastForward(): { B: number; T: number } {
    if (!this.last || !this.acts) throw new TypeError('call forward first');
    return this.last;
  }

  /** Gradients and AdamW moments, on the first call that trains (a model that only infers never allocates them). */
  private async ensureTrainingState(): Promise<void> {
    if (this.grads) return;
    const made: GpuBuffer[] = [];
    try {
      await this.ctx.allocate('the gradients and AdamW moments', () => {
        for (const what of ['the gradients', 'the AdamW moments', 'the AdamW moments']) made.push(this.ctx.storage(this.nparams, what));
      });
    } catch (e) {
      for (const b of made) b.destroy();
      throw e;
    }
    [this.grads, this.m, this.v] = made;
  }

  private async checkBatch(inputs: Int32Array, targets: Int32Array | null, B: number, T: number): Promise<void> {
    if (!(inputs instanceof Int32Array)) throw new TypeError('inputs must be an Int32Array');
    if (targets !== null && !(targets instanceof Int32Array)) throw new TypeError('targets must be an Int32Array');
    if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1) throw new TypeError('B and T must be positive integers');
    if (T > this.s.ctx) throw new RangeError('T exceeds the context length');
    if (inputs.length !== B * T || (targets && targets.length !== inputs.length)) throw new RangeError('inputs/targets must hold B*T ids');
    for (let i = 0; i < inputs.length; i++) {
      if (inputs[i] < 0 || inputs[i] >= this.s.V || (targets && (targets[i] < 0 || targets[i] >= this.s.V))) {
        throw new RangeError("token id out of the model's vocabulary");
      }
    }
    await this.reserve(B, T);
  }

  /** Writes a batch's ids (and, for a backward pass, its rows grouped by token) to the device. */
  private upload(inputs: Int32Array, targets: Int32Array | null, B: number, T: number, backward: boolean): void {
    const a = this.acts!, q = this.ctx.device.queue;
    q.writeBuffer(a.idx, 0, inputs);
    if (targets) q.writeBuffer(a.targets, 0, targets);
    this.last = null; // a new batch overwrites the activations the probes read
    if (backward) q.writeBuffer(a.csr, 0, rowsByToken(inputs, B * T));
  }

  /** Lays out the activations of a [B, T] batch, growing them when it is larger than any before (gpt.cc: reserve). */
  private async reserve(B: number, T: number): Promise<void> {
    if (this.acts && B <= this.acts.capB && T <= this.acts.capT) return;
    const capB = Math.max(B, this.acts?.capB ?? 0), capT = Math.max(T, this.acts?.capT ?? 0);
    this.dropPlans();
    for (const b of this.acts?.all ?? []) b.destroy();
    this.acts = null;
    const all: GpuBuffer[] = [];
    try {
      this.acts = await this.ctx.allocate(`the activations of a batch of ${capB} x ${capT} tokens`, () => this.allocate(capB, capT, all));
    } catch (e) {
      for (const b of all) b.destroy(); // a tensor the device cannot hold: nothing half-built stays
      throw e;
    }
  }

  private allocate(capB: number, capT: number, all: GpuBuffer[]): Activations {
    return this.activationsOf(capB, capT, (n, what) => {
      const b = this.ctx.storage(n, `${what} of a batch of ${capB} x ${capT} tokens`);
      all.push(b);
      return b;
    }, all);
  }

  /** The activations' layout, each buffer made by buf(elements, what). */
  private activationsOf(capB: number, capT: number, buf: (n: number, what: string) => GpuBuffer, all: GpuBuffer[]): Activations {
    const { D, F, V, N, H, KV, A, C } = this.s;
    const M = capB * capT, att = capB * H * capT * capT, mlp = F > 0;
    const layers = (n: number, what: string, present = true): GpuBuffer[] => present ? Array.from({ length: N }, () => buf(n, what)) : [];
    const chunks = Math.ceil(M / NORM_ROWS);
    return {
      capB, capT,
      resid: Array.from({ length: N + 1 }, () => buf(M * D, 'the residual stream')),
      ln1: layers(M * D, 'ln_1'), stats1: layers(2 * M, 'ln_1 statistics'), qkv: layers(M * C, 'q, k, v'),
      rstd: layers(M * (H + KV), 'the QK-norm factors', this.s.qkNorm),
      att: layers(att, 'the attention probabilities'),
      attDrop: layers(att, 'the attention dropout', this.s.dropout > 0),
      atty: layers(M * A, 'the attention output'), mid: layers(M * D, 'the residual stream', mlp), ln2: layers(M * D, 'ln_2', mlp),
      stats2: layers(2 * M, 'ln_2 statistics', mlp), fch: layers(M * F, 'the MLP', mlp), fca: layers(M * F, 'the MLP', mlp),
      lnf: buf(M * D, 'ln_f'), statsf: buf(2 * M, 'ln_f statistics'), logits: buf(M * V, 'the logits'),
      branch: buf(M * D, 'a branch'), dresid: buf(M * D, 'a gradient'), dln: buf(M * Math.max(A, D), 'a gradient'),
      dqkv: buf(M * C, 'a gradient'), dff: mlp ? buf(M * F, 'a gradient') : null, dS: buf(att, 'the attention gradient'),
      parts: [buf(chunks * 2 * D, 'partial sums'), buf(chunks * 2 * D, 'partial sums')],
      idx: buf(M, 'the ids'), targets: buf(M, 'the targets'), csr: buf(3 * M + 2, 'the rows by token'), losses: buf(M, 'the losses'),
      all,
    };
  }

  private dropPlans(): void {
    for (const p of this.plans.values()) p.dispose();
    this.plans.clear();
  }

  private dropDecodePlans(): void {
    for (const p of this.decodePlans.values()) p.dispose();
    this.decodePlans.clear();
  }

  /** The plan of one kind of call on a [B, T] batch, built on first use. */
  private plan(kind: PlanKind, B: number, T: number): Plan {
    const key = `${kind}:${B}x${T}`;
    let p = this.plans.get(key);
    if (!p) {
      p = this.ctx.plan(this.stepItems(kind, B, T, this.acts!, this.grads));
      this.plans.set(key, p);
    }
    return p;
  }

  /** What one kind of call runs, in order; clears first (each ends the compute pass, and at the start it splits nothing). */
  private stepItems(kind: PlanKind, B: number, T: number, a: Activations, G: GpuBuffer | null): (Dispatch | Clear)[] {
    const drop = kind.endsWith('-drop');
    const items: (Dispatch | Clear)[] = this.forwardDispatches(a, B, T, drop);
    if (kind !== 'forward') items.push(this.crossEntropy(a, B * T, kind !== 'loss'));
    if (kind.startsWith('grad') || kind.startsWith('step')) items.push(...this.backwardDispatches(a, G!, B, T, drop));
    if (kind.startsWith('step')) items.push(...this.optimizerDispatches(a, G!, B * T));
    return [...items.filter((d) => !('kernel' in d)), ...items.filter((d) => 'kernel' in d)];
  }

  // ---------------------------------------------------------------- layers as dispatches

  private layerOffset(l: number, slot: number): number {
    return this.off[GLOBALS + l * LAYER_SLOTS + slot];
  }

  /** One gemm dispatch of one or two independent products; the second reads the same A as the first. */
  private gemm(A: Binding, jobs: [GemmJob] | [GemmJob, GemmJob], extra: { C1?: Binding; aux?: Binding } = {}): Dispatch {
    const uniforms = jobs.map((j) => {
      const tilesN = Math.ceil(j.N / 64);
      return {
        M: j.M, N: j.N, K: j.K, lda: j.lda, ldb: j.ldb, ldc: j.ldc, offA: j.offA ?? 0, offB: j.offB ?? 0, offC: j.offC ?? 0,
        offBias: j.biasAt !== undefined && j.biasAt >= 0 ? j.biasAt : NONE,
        offRowSum: j.rowSumsAt !== undefined && j.rowSumsAt >= 0 ? j.rowSumsAt : NONE,
        transA: j.transA ? 1 : 0, transB: j.transB ? 1 : 0, epilogue: j.epilogue ?? 0, gelu: this.s.gelu ? 1 : 0,
        tilesN, tiles: tilesN * Math.ceil(j.M / 64),
      };
    });
    const [j0, j1] = jobs;
    return {
      kernel: 'gemm', uniforms,
      buffers: [A, j0.B, j0.C, j1?.B ?? null, j1?.C ?? extra.C1 ?? null, extra.aux ?? null],
      grid: grid1d(uniforms.reduce((s, u) => s + u.tiles, 0)),
    };
  }

  /** y [rows, out] = x [rows, in] W[out, in]^T (+ b); with `act`, also act(y) into it (the MLP's c_fc). */
  private linear(x: Binding, inDim: number, wOff: number, bOff: number, y: GpuBuffer, outDim: number, rows: number,
    opts: { act?: GpuBuffer; offX?: number } = {}): Dispatch {
    if (rows <= GEMV_ROWS) {
      return { kernel: 'gemv', uniforms: { M: rows, N: outDim, K: inDim, lda: inDim, offA: opts.offX ?? 0, offW: wOff,
        offBias: bOff >= 0 ? bOff : NONE, epilogue: opts.act ? 1 : 0, gelu: this.s.gelu ? 1 : 0 },
      buffers: [x, this.P, y, opts.act ?? null], grid: grid1d(Math.ceil(outDim / 8)) };
    }
    return this.gemm(x, [{ M: rows, N: outDim, K: inDim, lda: inDim, offA: opts.offX, B: this.P, ldb: inDim, offB: wOff, transB: true,
      C: y, ldc: outDim, biasAt: bOff, epilogue: opts.act ? 1 : undefined }], { C1: opts.act });
  }

  /**
   * From dy [rows, out], in one dispatch: dW = dy^T x and db = column sums of dy (both overwritten), and dx [rows, in]
   * = dy W (times act'(pre) when `actOf` is given: the MLP's c_proj, whose input was act(pre)).
   */
  private linearBackward(G: GpuBuffer, dy: GpuBuffer, outDim: number, x: GpuBuffer, inDim: number, wOff: number, bOff: number, rows: number,
    dx: GpuBuffer, actOf?: GpuBuffer): Dispatch {
    return this.gemm(dy, [
      { M: outDim, N: inDim, K: rows, lda: outDim, transA: true, B: x, ldb: inDim, C: G, ldc: inDim, offC: wOff, rowSumsAt: bOff },
      { M: rows, N: inDim, K: outDim, lda: outDim, B: this.P, ldb: inDim, offB: wOff, C: dx, ldc: inDim, epilogue: actOf ? 2 : undefined },
    ], { aux: actOf });
  }

  /** y = norm(s) with its statistics, s being a (mode 0), a + dropout(b) (1) or the embeddings of idx (2), kept in sum. */
  private norm(rows: number, mode: 0 | 1 | 2, a: Binding, b: Binding, sum: Binding, y: GpuBuffer, stats: GpuBuffer, wOff: number,
    bOff: number, drop: boolean, site: number, embed?: { T: number; idx: GpuBuffer; state: GpuBuffer }): Dispatch {
    const pos = this.s.positions === 'learned' ? this.off[G_WPE] : this.s.positions === 'sinusoidal' ? this.offTables : NONE;
    return {
      kernel: 'norm',
      uniforms: { rows, D: this.s.D, offW: wOff, offB: bOff >= 0 ? bOff : NONE, mode, rms: this.s.rms ? 1 : 0, T: embed?.T ?? 1,
        offWte: this.off[G_WTE], offPos: pos, ...dropFields(this.s.dropout, drop, site) },
      buffers: [a, b, sum, y, stats, this.P, embed?.idx ?? null, embed?.state ?? this.state],
      grid: grid1d(rows),
    };
  }

  /** RoPE and QK-norm in place on the q and k heads of qkv [rows, C], or (backward) their gradient on dqkv. */
  private queryKey(rows: number, T: number, x: GpuBuffer, y: Binding, rstd: Binding, backward: boolean, state: GpuBuffer): Dispatch[] {
    const { H, KV, hs, C, ctx } = this.s, rope = this.s.positions === 'rope';
    if (!rope && !this.s.qkNorm) return [];
    return [{ kernel: 'queryKey', uniforms: { rows, T, heads: H + KV, hs, C, rope: rope ? 1 : 0, qkNorm: this.s.qkNorm ? 1 : 0,
      backward: backward ? 1 : 0, offCos: this.offTables, offSin: this.offTables + (ctx * hs) / 2 },
    buffers: [x, y, rstd, this.P, state], grid: grid1d(Math.ceil((rows * (H + KV)) / 64)) }];
  }

  private attentionSizes(B: number, Tq: number, ldP: number): Record<string, number> {
    const { H, G, hs, C, A, W } = this.s;
    return { B, H, G, hs, Tq, C, A, W, ldP, scale: Math.fround(1 / Math.sqrt(hs)) };
  }

  /** Everything between ln_1 and c_proj of block l on a batch: qkv [M, C] -> att [B, H, T, T], atty [M, A]. */
  private attentionForward(a: Activations, l: number, B: number, T: number, drop: boolean): Dispatch[] {
    const { D, H, C } = this.s, M = B * T;
    return [
      this.linear(a.ln1[l], D, this.layerOffset(l, L_ATTN_W), this.layerOffset(l, L_ATTN_B), a.qkv[l], C, M), // [M, C]
      ...this.queryKey(M, T, a.qkv[l], null, a.rstd[l] ?? null, false, this.state),
      { kernel: 'attention', uniforms: { ...this.attentionSizes(B, T, T), cache: 0, ...dropFields(this.s.dropout, drop, 3 * l + 1) },
        buffers: [a.qkv[l], a.att[l], drop ? a.attDrop[l] : null, a.atty[l], null, null, this.state],
        grid: grid1d(B * H * Math.ceil(T / ATTN_ROWS)) },
    ];
  }

  /** From d atty (in dln [M, A]) back to d ln_1 (in dln [M, D]) through the attention, c_attn and RoPE/QK-norm. */
  private attentionBackward(a: Activations, G: GpuBuffer, l: number, B: number, T: number, drop: boolean): Dispatch[] {
    const { D, H, KV, C } = this.s, M = B * T;
    const sizes = this.attentionSizes(B, T, T), blocks = Math.ceil(T / ATTN_ROWS);
    return [
      { kernel: 'attentionBackwardQ', uniforms: { ...sizes, ...dropFields(this.s.dropout, drop, 3 * l + 1) },
        buffers: [a.qkv[l], a.att[l], a.dln, a.dS, a.dqkv, this.state], grid: grid1d(B * H * blocks) },
      { kernel: 'attentionBackwardKV', uniforms: { ...sizes, KV }, buffers: [a.qkv[l], drop ? a.attDrop[l] : a.att[l], a.dln, a.dS, a.dqkv],
        grid: grid1d(B * KV * blocks) },
      ...this.queryKey(M, T, a.dqkv, a.qkv[l], a.rstd[l] ?? null, true, this.state),
      this.linearBackward(G, a.dqkv, C, a.ln1[l], D, this.layerOffset(l, L_ATTN_W), this.layerOffset(l, L_ATTN_B), M, a.dln),
    ];
  }

  /** gpt.cc forwardPass: embeddings, N blocks, ln_f and the head, keeping every activation the backward pass needs. */
  private forwardDispatches(a: Activations, B: number, T: number, drop: boolean): Dispatch[] {
    const { D, F, V, N, A } = this.s, M = B * T;
    const ln = (l: number, slot: number): number => this.layerOffset(l, slot);
    // x = dropout(wte[idx] + pos[t]), then ln_1 of block 0
    const out: Dispatch[] = [this.norm(M, 2, null, null, a.resid[0], a.ln1[0], a.stats1[0], ln(0, L_LN1_W), ln(0, L_LN1_B), drop, 0,
      { T, idx: a.idx, state: this.state })];
    for (let l = 0; l < N; l++) {
      const last = l + 1 === N;
      // the next norm: block l+1's ln_1, or ln_f after the last block
      const next = { y: last ? a.lnf : a.ln1[l + 1], stats: last ? a.statsf : a.stats1[l + 1],
        w: last ? this.off[G_LNF_W] : ln(l + 1, L_LN1_W), b: last ? this.off[G_LNF_B] : ln(l + 1, L_LN1_B) };
      // x + c_proj(attention(ln_1(x)))
      out.push(...this.attentionForward(a, l, B, T, drop),
        this.linear(a.atty[l], A, ln(l, L_PROJ_W), ln(l, L_PROJ_B), a.branch, D, M)); // [M, D]
      if (F === 0) { // attention-only block: x' = x + that, normed by what reads it next
        out.push(this.norm(M, 1, a.resid[l], a.branch, a.resid[l + 1], next.y, next.stats, next.w, next.b, drop, 3 * l + 2));
        continue;
      }
      out.push(
        this.norm(M, 1, a.resid[l], a.branch, a.mid[l], a.ln2[l], a.stats2[l], ln(l, L_LN2_W), ln(l, L_LN2_B), drop, 3 * l + 2),
        // x' = mid + c_proj(act(c_fc(ln_2(mid))))
        this.linear(a.ln2[l], D, ln(l, L_FC_W), ln(l, L_FC_B), a.fch[l], F, M, { act: a.fca[l] }), // [M, F]
        this.linear(a.fca[l], F, ln(l, L_FC2_W), ln(l, L_FC2_B), a.branch, D, M),
        this.norm(M, 1, a.mid[l], a.branch, a.resid[l + 1], next.y, next.stats, next.w, next.b, drop, 3 * l + 3),
      );
    }
    // logits = lm_head(ln_f(x)), lm_head being wte when tied
    out.push(this.linear(a.lnf, D, this.s.tied ? this.off[G_WTE] : this.off[G_LM_W], this.off[G_LM_B], a.logits, V, M)); // [M, V]
    return out;
  }

  /** losses [M]; with grad the logits become dL/dlogits for the mean loss. */
  private crossEntropy(a: Activations, M: number, grad: boolean): Dispatch {
    return { kernel: 'crossEntropy', uniforms: { rows: M, V: this.s.V, grad: grad ? 1 : 0, scale: Math.fround(1 / M) },
      buffers: [a.logits, a.targets, a.losses], grid: grid1d(M) };
  }

  /** gpt.cc backward: the gradient of the mean loss of the last training forward, into the gradient buffer. */
  private backwardDispatches(a: Activations, G: GpuBuffer, B: number, T: number, drop: boolean): (Dispatch | Clear)[] {
    const { D, F, V, N, A } = this.s, M = B * T;
    const ln = (l: number, slot: number): number => this.layerOffset(l, slot);
    const out: (Dispatch | Clear)[] = [];
    // Untied, nothing but the embeddings' scatter-add writes dwte: start it at zero.
    if (!this.s.tied) out.push({ clear: G, offset: 4 * this.off[G_WTE], size: 4 * V * D });
    // The norms' backward passes in turn, each writing its partial sums to one of two buffers and adding up the one
    // before's into its weight gradients (kernels.ts normBackward); the last one's are added up by embedBackward.
    const chunks = Math.ceil(M / NORM_ROWS);
    const norms = { count: 0, w: NONE, b: NONE };
    const normBackward = (dy: GpuBuffer, x: GpuBuffer, stats: GpuBuffer, wOff: number, bOff: number, accumulate: boolean): Dispatch => {
      const first = norms.count === 0;
      const d: Dispatch = {
        kernel: 'normBackward',
        uniforms: { rows: M, D, offW: wOff, accumulate: accumulate ? 1 : 0, rms: this.s.rms ? 1 : 0, chunks, prevChunks: chunks,
          prevOffW: norms.w, prevOffB: norms.b },
        buffers: [dy, x, stats, this.P, a.dresid, a.parts[norms.count % 2], a.parts[(norms.count + 1) % 2], G],
        grid: grid1d(chunks + (first ? 0 : Math.ceil(D / 256))),
      };
      Object.assign(norms, { count: norms.count + 1, w: wOff, b: bOff >= 0 ? bOff : NONE });
      return d;
    };
    // lm_head and ln_f
    out.push(this.linearBackward(G, a.logits, V, a.lnf, D, this.s.tied ? this.off[G_WTE] : this.off[G_LM_W], this.off[G_LM_B], M, a.dln));
    out.push(normBackward(a.dln, a.resid[N], a.statsf, this.off[G_LNF_W], this.off[G_LNF_B], false));
    // Through a residual branch that had dropout, its gradient is dresid times the same mask.
    const branchGradient = (site: number): GpuBuffer => {
      if (!drop) return a.dresid;
      out.push({ kernel: 'dropout', uniforms: { n: M * D, ...dropFields(this.s.dropout, true, site) }, buffers: [a.dresid, a.branch, this.state],
        grid: grid1d(Math.ceil((M * D) / 256)) });
      return a.branch;
    };
    for (let l = N - 1; l >= 0; l--) {
      if (F > 0) {
        // MLP branch: dresid holds dL/dx'; afterwards dL/dmid
        out.push(this.linearBackward(G, branchGradient(3 * l + 3), D, a.fca[l], F, ln(l, L_FC2_W), ln(l, L_FC2_B), M, a.dff!, a.fch[l]));
        out.push(this.linearBackward(G, a.dff!, F, a.ln2[l], D, ln(l, L_FC_W), ln(l, L_FC_B), M, a.dln));
        out.push(normBackward(a.dln, a.mid[l], a.stats2[l], ln(l, L_LN2_W), ln(l, L_LN2_B), true));
      }
      // attention branch: afterwards dresid holds dL/dx
      out.push(this.linearBackward(G, branchGradient(3 * l + 2), D, a.atty[l], A, ln(l, L_PROJ_W), ln(l, L_PROJ_B), M, a.dln)); // d atty [M, A]
      out.push(...this.attentionBackward(a, G, l, B, T, drop)); // d ln_1 [M, D]
      out.push(normBackward(a.dln, a.resid[l], a.stats1[l], ln(l, L_LN1_W), ln(l, L_LN1_B), true));
    }
    // embeddings: scatter-add into wte by token (after lm_head's share when tied), the sum over the batch into wpe, and
    // block 0's ln_1 weight gradients
    const wteGroups = Math.ceil((Math.min(V, M) * D) / 256), posGroups = this.s.positions === 'learned' ? Math.ceil((this.s.ctx * D) / 256) : 0;
    out.push({ kernel: 'embedBackward',
      uniforms: { D, T, B, ctx: this.s.ctx, offWte: this.off[G_WTE], offWpe: posGroups ? this.off[G_WPE] : 0, wteGroups, posGroups,
        prevChunks: chunks, prevOffW: norms.w, prevOffB: norms.b, ...dropFields(this.s.dropout, drop, 0) },
      buffers: [a.dresid, a.csr, G, a.parts[(norms.count + 1) % 2], this.state], grid: grid1d(wteGroups + posGroups + Math.ceil(D / 256)) });
    return out;
  }

  /** clip_grad_norm_ and AdamW: the norm's partial sums, then the step unless it is not finite (stats says which). */
  private optimizerDispatches(a: Activations, G: GpuBuffer, M: number): Dispatch[] {
    const n = this.nparams, groups = Math.min(ADAMW_GROUPS, Math.ceil(n / 256));
    return [
      { kernel: 'sumSquares', uniforms: { n, stride: SUMSQ_GROUPS * 256 }, buffers: [G, this.sumsqPart], grid: [SUMSQ_GROUPS] },
      { kernel: 'adamw', name: 'adamw',
        uniforms: { n, stride: groups * 256, parts: SUMSQ_GROUPS, rows: M, gradClip: 1, b1: 0, b2: 0, omb1: 0, omb2: 0, eps: 0, decay: 0,
          step: 0, bc2s: 1 },
        buffers: [this.P, G, this.m, this.v, this.sumsqPart, a.losses, this.stats], grid: [groups] },
    ];
  }

  // ---------------------------------------------------------------- decoding with a KV cache

  private async decodeBuffers(): Promise<DecodeBuffers> {
    if (this.dec) return this.dec;
    const all: GpuBuffer[] = [];
    try {
      this.dec = await this.ctx.allocate('the decoding cache', () => this.decodeBuffersOf((n, what) => {
        const b = this.ctx.storage(n, what);
        all.push(b);
        return b;
      }, all));
    } catch (e) {
      for (const b of all) b.destroy();
      throw e;
    }
    return this.dec;
  }

  private decodeBuffersOf(buf: (n: number, what: string) => GpuBuffer, all: GpuBuffer[]): DecodeBuffers {
    const { ctx, D, F, V, N, H, KV, A, C, W } = this.s;
    return {
      K: Array.from({ length: N }, () => buf(ctx * W, 'the key cache')), Vc: Array.from({ length: N }, () => buf(ctx * W, 'the value cache')),
      x: [buf(ctx * D, 'the decoding stream'), buf(ctx * D, 'the decoding stream')], ln: buf(ctx * D, 'decoding'),
      stats: buf(2 * ctx, 'decoding'), qkv: buf(ctx * C, 'decoding'), rstd: buf(ctx * (H + KV), 'decoding'),
      S: buf(H * ctx * ctx, 'decoding attention'), y: buf(ctx * A, 'decoding'), branch: buf(ctx * D, 'decoding'),
      fch: buf(ctx * Math.max(F, 1), 'decoding'), fca: buf(ctx * Math.max(F, 1), 'decoding'), ids: buf(ctx, 'decoding'),
      logits: buf(V, 'decoding'), state: buf(SEEDS_AT + 2, 'the decoding position'), all,
    };
  }

  /** The plan that decodes n rows at whatever position the state buffer says, built once per n. */
  private decodePlan(d: DecodeBuffers, n: number): Plan {
    let p = this.decodePlans.get(n);
    if (p) {
      this.decodePlans.delete(n); // re-inserted below: the map's order is the order of use
    } else {
      p = this.ctx.plan(this.decodeDispatches(d, n));
      if (this.decodePlans.size >= DECODE_PLANS) {
        const [oldest, plan] = this.decodePlans.entries().next().value as [number, Plan];
        plan.dispose();
        this.decodePlans.delete(oldest);
      }
    }
    this.decodePlans.set(n, p);
    return p;
  }

  /** gpt.cc decode: n new rows at positions p0.. (state[0]) join the cache; the last one's logits [V] come out. */
  private decodeDispatches(d: DecodeBuffers, n: number): Dispatch[] {
    const { D, F, V, N, H, C, A, ctx } = this.s;
    const ln = (l: number, slot: number): number => this.layerOffset(l, slot);
    let [x, next] = d.x; // each residual connection writes the other buffer
    const out: Dispatch[] = [this.norm(n, 2, null, null, x, d.ln, d.stats, ln(0, L_LN1_W), ln(0, L_LN1_B), false, 0,
      { T: n, idx: d.ids, state: d.state })];
    for (let l = 0; l < N; l++) {
      const last = l + 1 === N;
      const nextW = last ? this.off[G_LNF_W] : ln(l + 1, L_LN1_W), nextB = last ? this.off[G_LNF_B] : ln(l + 1, L_LN1_B);
      out.push(
        this.linear(d.ln, D, ln(l, L_ATTN_W), ln(l, L_ATTN_B), d.qkv, C, n), // [n, C]
        ...this.queryKey(n, n, d.qkv, null, d.rstd, false, d.state),
        { kernel: 'attention', uniforms: { ...this.attentionSizes(1, n, ctx), cache: 1, ...dropFields(0, false, 0) },
          buffers: [d.qkv, d.S, null, d.y, d.K[l], d.Vc[l], d.state], grid: grid1d(H * Math.ceil(n / ATTN_ROWS)) },
        this.linear(d.y, A, ln(l, L_PROJ_W), ln(l, L_PROJ_B), d.branch, D, n),
      );
      if (F > 0) {
        out.push(
          this.norm(n, 1, x, d.branch, next, d.ln, d.stats, ln(l, L_LN2_W), ln(l, L_LN2_B), false, 0),
          this.linear(d.ln, D, ln(l, L_FC_W), ln(l, L_FC_B), d.fch, F, n, { act: d.fca }),
          this.linear(d.fca, F, ln(l, L_FC2_W), ln(l, L_FC2_B), d.branch, D, n),
        );
        [x, next] = [next, x];
      }
      out.push(this.norm(n, 1, x, d.branch, next, d.ln, d.stats, nextW, nextB, false, 0));
      [x, next] = [next, x];
    }
    // logits = lm_head(ln_f(x)) of the last row
    out.push(this.linear(d.ln, D, this.s.tied ? this.off[G_WTE] : this.off[G_LM_W], this.off[G_LM_B], d.logits, V, 1, { offX: (n - 1) * D }));
    return out;
  }
}

/** AdamW's per-step uniforms, each rounded to float32 in the order gpt.cc's adamw computes them. */
function adamwUniforms(s: AdamWStep): Record<string, number> {
  const f = Math.fround;
  const lr = f(s.lr), b1 = f(s.beta1), b2 = f(s.beta2), wd = f(s.weightDecay);
  const bc1 = f(1 - Math.pow(s.beta1, s.t)), bc2s = f(Math.sqrt(1 - Math.pow(s.beta2, s.t)));
  return { gradClip: f(s.gradClip), b1, b2, omb1: f(1 - b1), omb2: f(1 - b2), eps: f(s.eps), decay: f(1 - f(lr * wd)), step: f(lr / bc1), bc2s };
}

/** The mean of row losses, summed in double as gpt.cc sums them. */
function meanOf(losses: Float32Array): number {
  let s = 0;
  for (const v of losses) s += v;
  return s / losses.length;
}

/** The batch's rows grouped by token, for the embeddings' scatter-add: [U][U tokens][U + 1 starts][rows, in order]. */
export function rowsByToken(ids: Int32Array, M: number): Uint32Array {
  const rowsOf = new Map<number, number[]>();
  for (let r = 0; r < M; r++) {
    const list = rowsOf.get(ids[r]);
    if (list) list.push(r);
    else rowsOf.set(ids[r], [r]);
  }
  const U = rowsOf.size;
  const out = new Uint32Array(2 * U + 2 + M);
  out[0] = U;
  let k = 0, at = 0;
  for (const [tok, rows] of rowsOf) {
    out[1 + k] = tok;
    out[1 + U + k] = at;
    for (const r of rows) out[2 * U + 2 + at++] = r;
    k++;
  }
  out[1 + 2 * U] = at;
  return out;
}
