// The WebGPU GPT: native/src/gpt.cc's forward, backward, clipped AdamW, KV-cache decoding and probes as WGSL
// kernels (kernels.ts) over one flat parameter buffer in the model file's order and PyTorch layouts, with gradients
// and AdamW's moments beside it on the device. A training step is one command buffer of a few dozen dispatches per
// layer, built once per batch shape; only the batch's ids, the dropout seeds and AdamW's settings are written per
// step, and only the loss, the gradient norm and the row losses come back.
// Legend: B batch, T time, D width, H heads, hs = D/H, F = ffnMult*D, V vocabulary, N layers, M = B*T rows.
import type { GPTConfig } from '../../model/config';
import type { AsyncGPTHandle, NativeStepResult, AdamWStep } from '../addon';
import { grid1d, outOfMemory, type Binding, type Clear, type Dispatch, type GpuContext, type Plan } from './context';
import type { GpuBuffer } from './gpuTypes';
import { NONE, NORM_ROWS } from './kernels';

// Slot order of the flat layout's offset table (addon.ts flatLayout, native/src/gpt.h).
const G_WTE = 0, G_WPE = 1, G_LNF_W = 2, G_LNF_B = 3, G_LM_W = 4, G_LM_B = 5, GLOBALS = 6;
const L_LN1_W = 0, L_LN1_B = 1, L_ATTN_W = 2, L_ATTN_B = 3, L_PROJ_W = 4, L_PROJ_B = 5, L_LN2_W = 6, L_LN2_B = 7,
  L_FC_W = 8, L_FC_B = 9, L_FC2_W = 10, L_FC2_B = 11, LAYER_SLOTS = 12;

/** Workgroups of the gradient sum of squares. */
const SUMSQ_GROUPS = 1024;

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

// ---------------------------------------------------------------- buffers of one batch shape

/** The activations of a forward pass over up to capB x capT tokens, and the gradient scratch of its backward pass. */
interface Activations {
  capB: number;
  capT: number;
  resid: GpuBuffer[]; // (N+1) x [M, D]: the input of each block, then the final stream
  ln1: GpuBuffer[]; // N x [M, D]
  stats1: GpuBuffer[]; // N x [M, 2]: mean, 1/std
  qkv: GpuBuffer[]; // N x [M, 3D]
  att: GpuBuffer[]; // N x [B, H, T, T] probabilities (before dropout)
  attDrop: GpuBuffer[]; // N x [B, H, T, T] after dropout (dropout > 0 only)
  atty: GpuBuffer[]; // N x [M, D] heads merged, before c_proj
  mid: GpuBuffer[]; // N x [M, D] residual after attention
  ln2: GpuBuffer[];
  stats2: GpuBuffer[];
  fch: GpuBuffer[]; // N x [M, F] before the activation
  fca: GpuBuffer[]; // N x [M, F] after it
  lnf: GpuBuffer; // [M, D]
  statsf: GpuBuffer; // [M, 2]
  logits: GpuBuffer; // [M, V]; dL/dlogits in place after a training forward
  branch: GpuBuffer; // [M, D] a block's branch output / its gradient through dropout
  dresid: GpuBuffer; // [M, D]
  dln: GpuBuffer; // [M, D]
  dqkv: GpuBuffer; // [M, 3D]
  dff: GpuBuffer; // [M, F]
  dP: GpuBuffer; // [B, H, T, T]
  part: GpuBuffer; // a norm's partial column sums [M / NORM_ROWS, 2, D]
  idx: GpuBuffer; // [M] ids
  targets: GpuBuffer; // [M]
  csr: GpuBuffer; // rows grouped by token: [U], [U + 1], [M]
  losses: GpuBuffer; // [M]
  all: GpuBuffer[];
}

/** The decoding state: the KV cache and the scratch of up to ctx new rows. */
interface DecodeBuffers {
  K: GpuBuffer[]; // N x [ctx, D]
  Vc: GpuBuffer[];
  x: [GpuBuffer, GpuBuffer]; // [ctx, D], ping-pong residual stream
  ln: GpuBuffer;
  stats: GpuBuffer;
  qkv: GpuBuffer; // [ctx, 3D]
  S: GpuBuffer; // [H, n, L] scores, then probabilities
  y: GpuBuffer;
  branch: GpuBuffer;
  fch: GpuBuffer; // [ctx, F]
  fca: GpuBuffer;
  ids: GpuBuffer;
  logits: GpuBuffer; // [V]
  all: GpuBuffer[];
}

interface Shape {
  V: number; ctx: number; D: number; H: number; N: number; F: number; hs: number;
  rms: boolean; gelu: boolean; learned: boolean; tied: boolean; bias: boolean; qkvBias: boolean; dropout: number;
}

/** Where each tensor starts in the flat buffer, by slot; the flat layout is checked against the shape first. */
function checkLayout(s: Shape, offsets: Float64Array, nparams: number): number[] {
  if (!(offsets instanceof Float64Array)) throw new TypeError('WebGpuGPT: offsets must be a Float64Array');
  if (offsets.length !== GLOBALS + LAYER_SLOTS * s.N) throw new RangeError(`WebGpuGPT: offsets must hold ${GLOBALS + LAYER_SLOTS * s.N} entries`);
  const o = Array.from(offsets);
  const normBias = !s.rms && s.bias;
  const check = (at: number, size: number, present: boolean, name: string): void => {
    const off = o[at];
    if (!present) {
      if (off !== -1) throw new RangeError(`WebGpuGPT: ${name} is not in this config`);
      return;
    }
    if (!Number.isInteger(off) || off < 0 || off + size > nparams) throw new RangeError(`WebGpuGPT: ${name} lies outside the parameters`);
  };
  const { V, D, F } = s;
  check(G_WTE, V * D, true, 'wte');
  check(G_WPE, s.ctx * D, s.learned, 'wpe');
  check(G_LNF_W, D, true, 'ln_f.weight');
  check(G_LNF_B, D, normBias, 'ln_f.bias');
  check(G_LM_W, V * D, !s.tied, 'lm_head.weight');
  check(G_LM_B, V, s.bias, 'lm_head.bias');
  for (let l = 0; l < s.N; l++) {
    const b = GLOBALS + l * LAYER_SLOTS;
    check(b + L_LN1_W, D, true, 'ln_1.weight');
    check(b + L_LN1_B, D, normBias, 'ln_1.bias');
    check(b + L_ATTN_W, 3 * D * D, true, 'c_attn.weight');
    check(b + L_ATTN_B, 3 * D, s.qkvBias, 'c_attn.bias');
    check(b + L_PROJ_W, D * D, true, 'attn.c_proj.weight');
    check(b + L_PROJ_B, D, s.bias, 'attn.c_proj.bias');
    check(b + L_LN2_W, D, true, 'ln_2.weight');
    check(b + L_LN2_B, D, normBias, 'ln_2.bias');
    check(b + L_FC_W, F * D, true, 'c_fc.weight');
    check(b + L_FC_B, F, s.bias, 'c_fc.bias');
    check(b + L_FC2_W, D * F, true, 'mlp.c_proj.weight');
    check(b + L_FC2_B, D, s.bias, 'mlp.c_proj.bias');
  }
  return o;
}

/** P[i, 2j] = sin(i / 10000^(2j/D)), P[i, 2j+1] = cos(...), in double like model.ts and gpt.cc. */
function sinusoidTable(ctx: number, D: number): Float32Array {
  const t = new Float32Array(ctx * D);
  for (let i = 0; i < ctx; i++) {
    for (let j = 0; 2 * j < D; j++) {
      const angle = i / Math.pow(10000, (2 * j) / D);
      t[i * D + 2 * j] = Math.sin(angle);
      if (2 * j + 1 < D) t[i * D + 2 * j + 1] = Math.cos(angle);
    }
  }
  return t;
}

/** The dropout fields of a kernel's uniforms: off, or on at a site with the threshold and scale of gpt.cc. */
function dropFields(p: number, on: boolean, site: number): { drop: number; site: number; threshold: number; keepScale: number } {
  const pf = Math.fround(p);
  return { drop: on ? 1 : 0, site: on ? site : 0, threshold: Math.floor(pf * 16777216), keepScale: Math.fround(1 / Math.fround(1 - pf)) };
}

/** A GEMM's operands and sizes (kernels.ts gemm): C[M, N] = alpha op(A)[M, K] op(B)[K, N] (+ bias). */
interface GemmArgs {
  M: number; N: number; K: number;
  A: Binding; lda: number; offA?: number; transA?: boolean;
  B: Binding; ldb: number; offB?: number; transB?: boolean;
  C: Binding; ldc: number; offC?: number;
  bias?: { buffer: Binding; offset: number } | null;
  alpha?: number;
  /** Over (outer, inner) = (batch, head): count, heads and the element strides of each operand. */
  batch?: { count: number; inner: number; a: [number, number]; b: [number, number]; c: [number, number] };
  epilogue?: { kind: 1; C2: Binding } | { kind: 2; aux: Binding };
  causal?: 1 | 2 | 3;
  q0?: number;
  /** Also the row sums of op(A) into C at this offset (a bias gradient beside its weight's). */
  rowSumsAt?: number;
}

export class WebGpuGPT implements AsyncGPTHandle {
  private readonly s: Shape;
  private readonly off: number[];
  private readonly nparams: number;
  private readonly P: GpuBuffer;
  private grads: GpuBuffer | null = null;
  private m: GpuBuffer | null = null;
  private v: GpuBuffer | null = null;
  private readonly table: GpuBuffer | null;
  private readonly seeds: GpuBuffer;
  private readonly stats: GpuBuffer; // [loss, gradNorm, clip, applied]
  private readonly sumsqPart: GpuBuffer;
  private acts: Activations | null = null;
  private dec: DecodeBuffers | null = null;
  private cached = 0;
  private readonly plans = new Map<string, Plan>();
  private last: { B: number; T: number } | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private readonly created: Promise<void>;

  constructor(private readonly ctx: GpuContext, shape: GPTConfig, offsets: Float64Array, private readonly params: Float32Array) {
    if (!(params instanceof Float32Array)) throw new TypeError('WebGpuGPT: params must be a Float32Array');
    const known = (x: string, ok: string[]): boolean => ok.includes(x);
    if (!known(shape.norm, ['layernorm', 'rmsnorm']) || !known(shape.activation, ['relu', 'gelu']) ||
      !known(shape.positions, ['learned', 'sinusoidal'])) throw new TypeError('WebGpuGPT: unknown norm, activation or positions');
    if (shape.dim % shape.heads !== 0) throw new RangeError('WebGpuGPT: dim must be divisible by heads');
    // The WGSL kernels cover standard multi-head attention with an MLP in every block so far.
    const unsupported = [shape.kvHeads !== shape.heads && 'kvHeads', shape.headDim * shape.heads !== shape.dim && 'headDim',
      shape.qkNorm && 'qkNorm', shape.ffnMult === 0 && 'ffnMult=0'].filter(Boolean);
    if (unsupported.length) throw new RangeError(`the WebGPU trainer does not support ${unsupported.join(', ')} yet`);
    const F = shape.ffnMult * shape.dim;
    this.s = {
      V: shape.vocabSize, ctx: shape.contextLength, D: shape.dim, H: shape.heads, N: shape.layers, F, hs: shape.dim / shape.heads,
      rms: shape.norm === 'rmsnorm', gelu: shape.activation === 'gelu', learned: shape.positions === 'learned',
      tied: shape.tieEmbeddings, bias: shape.bias, qkvBias: shape.qkvBias, dropout: shape.dropout,
    };
    this.nparams = params.length;
    this.off = checkLayout(this.s, offsets, params.length);
    ctx.device.pushErrorScope('out-of-memory');
    this.P = ctx.storage(params.length, 'the parameters');
    ctx.device.queue.writeBuffer(this.P, 0, params);
    this.table = this.s.learned ? null : ctx.storage(this.s.ctx * this.s.D, 'the sinusoid table');
    if (this.table) ctx.device.queue.writeBuffer(this.table, 0, sinusoidTable(this.s.ctx, this.s.D));
    this.seeds = ctx.storage(2 * (3 * this.s.N + 1), 'the dropout seeds');
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
    return this.serial(async () => {
      await this.checkBatch(inputs, targets, B, T);
      this.upload(inputs, targets, B, T, false);
      const [losses] = await this.ctx.run(this.plan('loss', B, T), [{ buffer: this.acts!.losses, bytes: 4 * B * T }], 'the loss');
      return meanOf(new Float32Array(losses));
    });
  }

  lossAndGradients(inputs: Int32Array, targets: Int32Array, B: number, T: number, seed = 0): Promise<number> {
    return this.serial(async () => {
      if (!Number.isInteger(seed) || seed < 0) throw new TypeError('seed must be a non-negative integer');
      await this.checkBatch(inputs, targets, B, T);
      await this.ensureTrainingState();
      const drop = seed !== 0 && this.s.dropout > 0;
      this.upload(inputs, targets, B, T, true);
      if (drop) this.ctx.device.queue.writeBuffer(this.seeds, 0, siteSeeds(seed, this.s.N));
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
      if (drop) this.ctx.device.queue.writeBuffer(this.seeds, 0, siteSeeds(st.seed, this.s.N));
      const plan = this.plan(drop ? 'step-drop' : 'step', B, T);
      plan.update('clip', { gradClip: Math.fround(st.gradClip) });
      plan.update('adamw', adamwUniforms(st, this.nparams));
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
      this.ctx.device.queue.writeBuffer(d.ids, 0, ids);
      const plan = this.ctx.plan(this.decodeDispatches(d, p0, n));
      try {
        const [logits] = await this.ctx.run(plan, [{ buffer: d.logits, bytes: 4 * this.s.V }], 'decoding');
        this.cached = p0 + n;
        return new Float32Array(logits);
      } finally {
        plan.dispose();
      }
    });
  }

  rowLosses(inputs: Int32Array, targets: Int32Array, B: number, T: number): Promise<Float32Array> {
    return this.serial(async () => {
      await this.checkBatch(inputs, targets, B, T);
      this.upload(inputs, targets, B, T, false);
      const [losses] = await this.ctx.run(this.plan('loss', B, T), [{ buffer: this.acts!.losses, bytes: 4 * B * T }], 'the row losses');
      return new Float32Array(losses);
    });
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

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // After the calls already made: their buffers stay alive until they have finished.
    void this.chain.finally(() => {
      this.dropPlans();
      for (const b of [...this.acts?.all ?? [], ...this.dec?.all ?? []]) b.destroy();
      for (const b of [this.P, this.grads, this.m, this.v, this.table, this.seeds, this.stats, this.sumsqPart]) b?.destroy();
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
    const { D, F, V, N, H } = this.s;
    const M = capB * capT, att = capB * H * capT * capT;
    const buf = (n: number, what: string): GpuBuffer => {
      const b = this.ctx.storage(n, `${what} of a batch of ${capB} x ${capT} tokens`);
      all.push(b);
      return b;
    };
    const layers = (n: number, what: string): GpuBuffer[] => Array.from({ length: N }, () => buf(n, what));
    return {
      capB, capT,
      resid: Array.from({ length: N + 1 }, () => buf(M * D, 'the residual stream')),
      ln1: layers(M * D, 'ln_1'), stats1: layers(2 * M, 'ln_1 statistics'), qkv: layers(3 * M * D, 'q, k, v'),
      att: layers(att, 'the attention probabilities'),
      attDrop: this.s.dropout > 0 ? layers(att, 'the attention dropout') : [],
      atty: layers(M * D, 'the attention output'), mid: layers(M * D, 'the residual stream'), ln2: layers(M * D, 'ln_2'),
      stats2: layers(2 * M, 'ln_2 statistics'), fch: layers(M * F, 'the MLP'), fca: layers(M * F, 'the MLP'),
      lnf: buf(M * D, 'ln_f'), statsf: buf(2 * M, 'ln_f statistics'), logits: buf(M * V, 'the logits'),
      branch: buf(M * D, 'a branch'), dresid: buf(M * D, 'a gradient'), dln: buf(M * D, 'a gradient'), dqkv: buf(3 * M * D, 'a gradient'),
      dff: buf(M * F, 'a gradient'), dP: buf(att, 'the attention gradient'),
      part: buf(Math.ceil(M / NORM_ROWS) * 2 * D, 'partial sums'),
      idx: buf(M, 'the ids'), targets: buf(M, 'the targets'), csr: buf(3 * M + 2, 'the rows by token'), losses: buf(M, 'the losses'),
      all,
    };
  }

  private dropPlans(): void {
    for (const p of this.plans.values()) p.dispose();
    this.plans.clear();
  }

  /** The plan of one kind of call on a [B, T] batch, built on first use. */
  private plan(kind: 'loss' | 'forward' | 'grad' | 'grad-drop' | 'step' | 'step-drop', B: number, T: number): Plan {
    const key = `${kind}:${B}x${T}`;
    let p = this.plans.get(key);
    if (!p) {
      const drop = kind.endsWith('-drop');
      const items: (Dispatch | Clear)[] = this.forwardDispatches(B, T, drop);
      if (kind !== 'forward') items.push(this.crossEntropy(B * T, kind !== 'loss'));
      if (kind.startsWith('grad') || kind.startsWith('step')) items.push(...this.backwardDispatches(B, T, drop));
      if (kind.startsWith('step')) items.push(...this.optimizerDispatches(B * T));
      p = this.ctx.plan(items);
      this.plans.set(key, p);
    }
    return p;
  }

  // ---------------------------------------------------------------- layers as dispatches

  private layerOffset(l: number, slot: number): number {
    return this.off[GLOBALS + l * LAYER_SLOTS + slot];
  }

  private gemm(g: GemmArgs): Dispatch {
    const b = g.batch ?? { count: 1, inner: 1, a: [0, 0], b: [0, 0], c: [0, 0] };
    const epi = g.epilogue;
    return {
      kernel: 'gemm',
      uniforms: {
        M: g.M, N: g.N, K: g.K, inner: b.inner, lda: g.lda, ldb: g.ldb, ldc: g.ldc,
        offBias: g.bias && g.bias.offset >= 0 ? g.bias.offset : NONE, offA: g.offA ?? 0, offB: g.offB ?? 0, offC: g.offC ?? 0,
        q0: g.q0 ?? 0, sAo: b.a[0], sAi: b.a[1], sBo: b.b[0], sBi: b.b[1], sCo: b.c[0], sCi: b.c[1], alpha: g.alpha ?? 1,
        transA: g.transA ? 1 : 0, transB: g.transB ? 1 : 0, epilogue: epi?.kind ?? 0, gelu: this.s.gelu ? 1 : 0, causal: g.causal ?? 0,
        offRowSum: g.rowSumsAt !== undefined && g.rowSumsAt >= 0 ? g.rowSumsAt : NONE,
      },
      buffers: [g.A, g.B, g.C, g.bias && g.bias.offset >= 0 ? g.bias.buffer : null, epi?.kind === 2 ? epi.aux : null,
        epi?.kind === 1 ? epi.C2 : null],
      grid: [Math.ceil(g.N / 64), Math.ceil(g.M / 64), b.count],
    };
  }

  /** y [rows, out] = x [rows, in] W[out, in]^T (+ b); with `act`, also act(y) into C2 (the MLP's c_fc). */
  private linear(x: Binding, inDim: number, wOff: number, bOff: number, y: GpuBuffer, outDim: number, rows: number,
    opts: { act?: GpuBuffer; offX?: number } = {}): Dispatch {
    return this.gemm({ M: rows, N: outDim, K: inDim, A: x, lda: inDim, offA: opts.offX, B: this.P, ldb: inDim, offB: wOff, transB: true,
      C: y, ldc: outDim, bias: { buffer: this.P, offset: bOff }, epilogue: opts.act ? { kind: 1, C2: opts.act } : undefined });
  }

  /**
   * From dy [rows, out]: dW = dy^T x and db = column sums of dy (both overwritten, in one dispatch), and dx [rows, in]
   * = dy W when dx is given (times act'(pre) when `actOf` is: the MLP's c_proj, whose input was act(pre)).
   */
  private linearBackward(dy: GpuBuffer, outDim: number, x: GpuBuffer, inDim: number, wOff: number, bOff: number, rows: number,
    dx: GpuBuffer | null, actOf?: GpuBuffer): Dispatch[] {
    const out: Dispatch[] = [this.gemm({ M: outDim, N: inDim, K: rows, A: dy, lda: outDim, transA: true, B: x, ldb: inDim,
      C: this.grads, ldc: inDim, offC: wOff, rowSumsAt: bOff })];
    if (dx) {
      out.push(this.gemm({ M: rows, N: inDim, K: outDim, A: dy, lda: outDim, B: this.P, ldb: inDim, offB: wOff, C: dx, ldc: inDim,
        epilogue: actOf ? { kind: 2, aux: actOf } : undefined }));
    }
    return out;
  }

  /** s = a (+ dropout(b) into sum), then y = norm(s) with its statistics. */
  private norm(rows: number, a: GpuBuffer, b: GpuBuffer | null, sum: GpuBuffer | null, y: GpuBuffer, stats: GpuBuffer,
    wOff: number, bOff: number, drop: boolean, site: number): Dispatch {
    return {
      kernel: 'norm',
      uniforms: { rows, D: this.s.D, offW: wOff, offB: bOff >= 0 ? bOff : NONE, add: b ? 1 : 0, rms: this.s.rms ? 1 : 0,
        ...dropFields(this.s.dropout, drop, site) },
      buffers: [a, b, sum, y, stats, this.P, this.seeds],
      grid: grid1d(rows),
    };
  }

  /** dx (+)= the norm's input gradient, and its weight and bias gradients (overwritten). */
  private normBackward(rows: number, dy: GpuBuffer, x: GpuBuffer, stats: GpuBuffer, wOff: number, bOff: number, dx: GpuBuffer,
    accumulate: boolean): Dispatch[] {
    const chunks = Math.ceil(rows / NORM_ROWS), part = this.acts!.part;
    return [
      { kernel: 'normBackward', uniforms: { rows, D: this.s.D, offW: wOff, accumulate: accumulate ? 1 : 0, rms: this.s.rms ? 1 : 0 },
        buffers: [dy, x, stats, this.P, dx, part], grid: grid1d(chunks) },
      { kernel: 'normFinal', uniforms: { cols: this.s.D, chunks, offW: wOff, offB: bOff >= 0 ? bOff : NONE }, buffers: [part, this.grads],
        grid: [Math.ceil(this.s.D / 256)] },
    ];
  }

  private dropout(src: GpuBuffer, dst: GpuBuffer, n: number, site: number): Dispatch {
    return { kernel: 'dropout', uniforms: { n, ...dropFields(this.s.dropout, true, site) }, buffers: [src, dst, this.seeds],
      grid: grid1d(Math.ceil(n / 256)) };
  }

  /** The batch's attention for layer l: qkv [M, 3D] -> att [B, H, T, T] (probabilities), atty [M, D]. */
  private attentionForward(l: number, B: number, T: number, drop: boolean): Dispatch[] {
    const { D, H, hs } = this.s, a = this.acts!;
    const probs = drop ? a.attDrop[l] : a.att[l];
    return [
      // S = q k^T / sqrt(hs) per (b, h)
      this.gemm({ M: T, N: T, K: hs, A: a.qkv[l], lda: 3 * D, B: a.qkv[l], offB: D, ldb: 3 * D, transB: true, C: a.att[l], ldc: T,
        alpha: Math.fround(1 / Math.sqrt(hs)), causal: 1,
        batch: { count: B * H, inner: H, a: [T * 3 * D, hs], b: [T * 3 * D, hs], c: [H * T * T, T * T] } }),
      // P = causal softmax(S), and its dropped copy
      { kernel: 'attnSoftmax', uniforms: { rows: B * H * T, L: T, Trow: T, q0: 0, ...dropFields(this.s.dropout, drop, 3 * l + 1) },
        buffers: [a.att[l], drop ? a.attDrop[l] : null, this.seeds], grid: grid1d(B * H * T) },
      // y_h = P v_h, heads side by side
      this.gemm({ M: T, N: hs, K: T, A: probs, lda: T, B: a.qkv[l], offB: 2 * D, ldb: 3 * D, C: a.atty[l], ldc: D, causal: 2,
        batch: { count: B * H, inner: H, a: [H * T * T, T * T], b: [T * 3 * D, hs], c: [T * D, hs] } }),
    ];
  }

  /** dy = dln [M, D] -> dqkv [M, 3D], from the saved probabilities. */
  private attentionBackward(l: number, B: number, T: number, drop: boolean): Dispatch[] {
    const { D, H, hs } = this.s, a = this.acts!;
    const probs = drop ? a.attDrop[l] : a.att[l];
    const headsOfRows = (ld: number): [number, number] => [T * ld, hs];
    const perHead: [number, number] = [H * T * T, T * T];
    return [
      // dP = dy v^T
      this.gemm({ M: T, N: T, K: hs, A: a.dln, lda: D, B: a.qkv[l], offB: 2 * D, ldb: 3 * D, transB: true, C: a.dP, ldc: T, causal: 1,
        batch: { count: B * H, inner: H, a: headsOfRows(D), b: headsOfRows(3 * D), c: perHead } }),
      // dS = softmax backward (through the dropout mask), scaled by 1/sqrt(hs)
      { kernel: 'attnSoftmaxBackward', uniforms: { rows: B * H * T, L: T, Trow: T, q0: 0, scale: Math.fround(1 / Math.sqrt(hs)),
        ...dropFields(this.s.dropout, drop, 3 * l + 1) }, buffers: [a.att[l], a.dP, this.seeds], grid: grid1d(B * H * T) },
      // dq = dS k
      this.gemm({ M: T, N: hs, K: T, A: a.dP, lda: T, B: a.qkv[l], offB: D, ldb: 3 * D, C: a.dqkv, ldc: 3 * D, causal: 2,
        batch: { count: B * H, inner: H, a: perHead, b: headsOfRows(3 * D), c: headsOfRows(3 * D) } }),
      // dk = dS^T q
      this.gemm({ M: T, N: hs, K: T, A: a.dP, lda: T, transA: true, B: a.qkv[l], ldb: 3 * D, C: a.dqkv, offC: D, ldc: 3 * D, causal: 3,
        batch: { count: B * H, inner: H, a: perHead, b: headsOfRows(3 * D), c: headsOfRows(3 * D) } }),
      // dv = Pd^T dy
      this.gemm({ M: T, N: hs, K: T, A: probs, lda: T, transA: true, B: a.dln, ldb: D, C: a.dqkv, offC: 2 * D, ldc: 3 * D, causal: 3,
        batch: { count: B * H, inner: H, a: perHead, b: headsOfRows(D), c: headsOfRows(3 * D) } }),
    ];
  }

  /** gpt.cc forwardPass: embeddings, N blocks, ln_f and the head, keeping every activation the backward pass needs. */
  private forwardDispatches(B: number, T: number, drop: boolean): Dispatch[] {
    const { D, F, V, N } = this.s, a = this.acts!, M = B * T;
    const ln = (l: number, slot: number): number => this.layerOffset(l, slot);
    const out: Dispatch[] = [
      // x = wte[idx] + pos[t], dropout
      { kernel: 'embed', uniforms: { n: M * D, D, T, p0: 0, offWte: this.off[G_WTE], offPos: this.s.learned ? this.off[G_WPE] : 0,
        sinusoid: this.s.learned ? 0 : 1, ...dropFields(this.s.dropout, drop, 0) },
      buffers: [this.P, this.table, a.idx, a.resid[0], this.seeds], grid: grid1d(Math.ceil((M * D) / 256)) },
      this.norm(M, a.resid[0], null, null, a.ln1[0], a.stats1[0], ln(0, L_LN1_W), ln(0, L_LN1_B), false, 0),
    ];
    for (let l = 0; l < N; l++) {
      const last = l + 1 === N;
      out.push(
        // mid = x + c_proj(attention(ln_1(x))), then ln_2(mid)
        this.linear(a.ln1[l], D, ln(l, L_ATTN_W), ln(l, L_ATTN_B), a.qkv[l], 3 * D, M), // [M, 3D]
        ...this.attentionForward(l, B, T, drop), // [M, D]
        this.linear(a.atty[l], D, ln(l, L_PROJ_W), ln(l, L_PROJ_B), a.branch, D, M),
        this.norm(M, a.resid[l], a.branch, a.mid[l], a.ln2[l], a.stats2[l], ln(l, L_LN2_W), ln(l, L_LN2_B), drop, 3 * l + 2),
        // x' = mid + c_proj(act(c_fc(ln_2(mid)))), normed by the next block's ln_1 (or ln_f after the last block)
        this.linear(a.ln2[l], D, ln(l, L_FC_W), ln(l, L_FC_B), a.fch[l], F, M, { act: a.fca[l] }), // [M, F]
        this.linear(a.fca[l], F, ln(l, L_FC2_W), ln(l, L_FC2_B), a.branch, D, M),
        this.norm(M, a.mid[l], a.branch, a.resid[l + 1], last ? a.lnf : a.ln1[l + 1], last ? a.statsf : a.stats1[l + 1],
          last ? this.off[G_LNF_W] : ln(l + 1, L_LN1_W), last ? this.off[G_LNF_B] : ln(l + 1, L_LN1_B), drop, 3 * l + 3),
      );
    }
    // logits = lm_head(ln_f(x)), lm_head being wte when tied
    out.push(this.linear(a.lnf, D, this.s.tied ? this.off[G_WTE] : this.off[G_LM_W], this.off[G_LM_B], a.logits, V, M)); // [M, V]
    return out;
  }

  /** losses [M]; with grad the logits become dL/dlogits for the mean loss. */
  private crossEntropy(M: number, grad: boolean): Dispatch {
    const a = this.acts!;
    return { kernel: 'crossEntropy', uniforms: { rows: M, V: this.s.V, grad: grad ? 1 : 0, scale: Math.fround(1 / M) },
      buffers: [a.logits, a.targets, a.losses], grid: grid1d(M) };
  }

  /** gpt.cc backward: the gradient of the mean loss of the last training forward, into the gradient buffer. */
  private backwardDispatches(B: number, T: number, drop: boolean): (Dispatch | Clear)[] {
    const { D, F, V, N } = this.s, a = this.acts!, M = B * T, G = this.grads!;
    const ln = (l: number, slot: number): number => this.layerOffset(l, slot);
    const out: (Dispatch | Clear)[] = [];
    // Untied, nothing but the embeddings' scatter-add writes dwte: start it at zero.
    if (!this.s.tied) out.push({ clear: G, offset: 4 * this.off[G_WTE], size: 4 * V * D });
    // lm_head and ln_f
    out.push(...this.linearBackward(a.logits, V, a.lnf, D, this.s.tied ? this.off[G_WTE] : this.off[G_LM_W], this.off[G_LM_B], M, a.dln));
    out.push(...this.normBackward(M, a.dln, a.resid[N], a.statsf, this.off[G_LNF_W], this.off[G_LNF_B], a.dresid, false));
    // Through a residual branch that had dropout, its gradient is dresid times the same mask.
    const branchGradient = (site: number): GpuBuffer => {
      if (!drop) return a.dresid;
      out.push(this.dropout(a.dresid, a.branch, M * D, site));
      return a.branch;
    };
    for (let l = N - 1; l >= 0; l--) {
      // MLP branch: dresid holds dL/dx'; afterwards dL/dmid
      out.push(...this.linearBackward(branchGradient(3 * l + 3), D, a.fca[l], F, ln(l, L_FC2_W), ln(l, L_FC2_B), M, a.dff, a.fch[l]));
      out.push(...this.linearBackward(a.dff, F, a.ln2[l], D, ln(l, L_FC_W), ln(l, L_FC_B), M, a.dln));
      out.push(...this.normBackward(M, a.dln, a.mid[l], a.stats2[l], ln(l, L_LN2_W), ln(l, L_LN2_B), a.dresid, true));
      // attention branch: afterwards dresid holds dL/dx
      out.push(...this.linearBackward(branchGradient(3 * l + 2), D, a.atty[l], D, ln(l, L_PROJ_W), ln(l, L_PROJ_B), M, a.dln));
      out.push(...this.attentionBackward(l, B, T, drop));
      out.push(...this.linearBackward(a.dqkv, 3 * D, a.ln1[l], D, ln(l, L_ATTN_W), ln(l, L_ATTN_B), M, a.dln));
      out.push(...this.normBackward(M, a.dln, a.resid[l], a.stats1[l], ln(l, L_LN1_W), ln(l, L_LN1_B), a.dresid, true));
    }
    // embeddings: scatter-add into wte by token (after lm_head's share when tied), and the sum over the batch into wpe
    const d = dropFields(this.s.dropout, drop, 0);
    out.push({ kernel: 'embedBackward', uniforms: { D, offWte: this.off[G_WTE], ...d }, buffers: [a.dresid, a.csr, G, this.seeds],
      grid: grid1d(Math.ceil((Math.min(V, M) * D) / 256)) });
    if (this.s.learned) {
      out.push({ kernel: 'positionBackward', uniforms: { ctx: this.s.ctx, T, B, D, offWpe: this.off[G_WPE], ...d },
        buffers: [a.dresid, G, this.seeds], grid: grid1d(Math.ceil((this.s.ctx * D) / 256)) });
    }
    return out;
  }

  /** clip_grad_norm_ and AdamW: the norm and the step's verdict (stats), then the update unless it is not finite. */
  private optimizerDispatches(M: number): Dispatch[] {
    const n = this.nparams;
    return [
      { kernel: 'sumSquares', uniforms: { n, stride: SUMSQ_GROUPS * 256 }, buffers: [this.grads, this.sumsqPart], grid: [SUMSQ_GROUPS] },
      { kernel: 'finish', name: 'clip', uniforms: { parts: SUMSQ_GROUPS, rows: M, gradClip: 1 },
        buffers: [this.sumsqPart, this.acts!.losses, this.stats], grid: [1] },
      { kernel: 'adamw', name: 'adamw', uniforms: { n, b1: 0, b2: 0, omb1: 0, omb2: 0, eps: 0, decay: 0, step: 0, bc2s: 1 },
        buffers: [this.P, this.grads, this.m, this.v, this.stats], grid: grid1d(Math.ceil(n / 256)) },
    ];
  }

  // ---------------------------------------------------------------- decoding with a KV cache

  private async decodeBuffers(): Promise<DecodeBuffers> {
    if (this.dec) return this.dec;
    const all: GpuBuffer[] = [];
    try {
      this.dec = await this.ctx.allocate('the decoding cache', () => this.allocateDecoding(all));
    } catch (e) {
      for (const b of all) b.destroy();
      throw e;
    }
    return this.dec;
  }

  private allocateDecoding(all: GpuBuffer[]): DecodeBuffers {
    const { ctx, D, F, V, N, H } = this.s;
    const buf = (n: number, what: string): GpuBuffer => {
      const b = this.ctx.storage(n, what);
      all.push(b);
      return b;
    };
    return {
      K: Array.from({ length: N }, () => buf(ctx * D, 'the key cache')), Vc: Array.from({ length: N }, () => buf(ctx * D, 'the value cache')),
      x: [buf(ctx * D, 'the decoding stream'), buf(ctx * D, 'the decoding stream')], ln: buf(ctx * D, 'decoding'),
      stats: buf(2 * ctx, 'decoding'), qkv: buf(3 * ctx * D, 'decoding'), S: buf(H * ctx * ctx, 'decoding attention'),
      y: buf(ctx * D, 'decoding'), branch: buf(ctx * D, 'decoding'), fch: buf(ctx * F, 'decoding'), fca: buf(ctx * F, 'decoding'),
      ids: buf(ctx, 'decoding'), logits: buf(V, 'decoding'), all,
    };
  }

  /** gpt.cc decode: n new rows at positions p0.. join the cache; the last one's logits [V] come out. */
  private decodeDispatches(d: DecodeBuffers, p0: number, n: number): Dispatch[] {
    const { D, F, V, N, H, hs } = this.s, L = p0 + n;
    const ln = (l: number, slot: number): number => this.layerOffset(l, slot);
    const [x, next] = d.x; // the stream goes x -> next (attention) -> x (MLP) in each block
    const out: Dispatch[] = [
      { kernel: 'embed', uniforms: { n: n * D, D, T: n, p0, offWte: this.off[G_WTE], offPos: this.s.learned ? this.off[G_WPE] : 0,
        sinusoid: this.s.learned ? 0 : 1, ...dropFields(0, false, 0) },
      buffers: [this.P, this.table, d.ids, x, this.seeds], grid: grid1d(Math.ceil((n * D) / 256)) },
      this.norm(n, x, null, null, d.ln, d.stats, ln(0, L_LN1_W), ln(0, L_LN1_B), false, 0),
    ];
    for (let l = 0; l < N; l++) {
      const last = l + 1 === N;
      out.push(
        this.linear(d.ln, D, ln(l, L_ATTN_W), ln(l, L_ATTN_B), d.qkv, 3 * D, n), // [n, 3D]
        { kernel: 'kvStore', uniforms: { n, D, p0 }, buffers: [d.qkv, d.K[l], d.Vc[l]], grid: grid1d(Math.ceil((n * D) / 256)) },
        // S = q k^T / sqrt(hs) over the cache; row r sees positions 0..p0+r
        this.gemm({ M: n, N: L, K: hs, A: d.qkv, lda: 3 * D, B: d.K[l], ldb: D, transB: true, C: d.S, ldc: L, causal: 1, q0: p0,
          alpha: Math.fround(1 / Math.sqrt(hs)), batch: { count: H, inner: H, a: [0, hs], b: [0, hs], c: [0, n * L] } }),
        { kernel: 'attnSoftmax', uniforms: { rows: H * n, L, Trow: n, q0: p0, ...dropFields(0, false, 0) }, buffers: [d.S, null, this.seeds],
          grid: grid1d(H * n) },
        this.gemm({ M: n, N: hs, K: L, A: d.S, lda: L, B: d.Vc[l], ldb: D, C: d.y, ldc: D, causal: 2, q0: p0,
          batch: { count: H, inner: H, a: [0, n * L], b: [0, hs], c: [0, hs] } }),
        this.linear(d.y, D, ln(l, L_PROJ_W), ln(l, L_PROJ_B), d.branch, D, n),
        this.norm(n, x, d.branch, next, d.ln, d.stats, ln(l, L_LN2_W), ln(l, L_LN2_B), false, 0),
        this.linear(d.ln, D, ln(l, L_FC_W), ln(l, L_FC_B), d.fch, F, n, { act: d.fca }),
        this.linear(d.fca, F, ln(l, L_FC2_W), ln(l, L_FC2_B), d.branch, D, n),
        this.norm(n, next, d.branch, x, d.ln, d.stats, last ? this.off[G_LNF_W] : ln(l + 1, L_LN1_W),
          last ? this.off[G_LNF_B] : ln(l + 1, L_LN1_B), false, 0),
      );
    }
    // logits = lm_head(ln_f(x)) of the last row
    out.push(this.linear(d.ln, D, this.s.tied ? this.off[G_WTE] : this.off[G_LM_W], this.off[G_LM_B], d.logits, V, 1, { offX: (n - 1) * D }));
    return out;
  }
}

/** AdamW's per-step uniforms, each rounded to float32 in the order gpt.cc's adamw computes them. */
function adamwUniforms(s: AdamWStep, n: number): Record<string, number> {
  const f = Math.fround;
  const lr = f(s.lr), b1 = f(s.beta1), b2 = f(s.beta2), wd = f(s.weightDecay);
  const bc1 = f(1 - Math.pow(s.beta1, s.t)), bc2s = f(Math.sqrt(1 - Math.pow(s.beta2, s.t)));
  return { n, b1, b2, omb1: f(1 - b1), omb2: f(1 - b2), eps: f(s.eps), decay: f(1 - f(lr * wd)), step: f(lr / bc1), bc2s };
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
