// The WGSL kernels of the WebGPU trainer: the native trainer's math (native/src/gpt.cc, ops_impl.h) as compute
// shaders, fused so that a training step is a few dispatches per layer. Each kernel reads its sizes from a uniform
// block declared field by field in KERNELS below, so the host writes it from the same list. Reductions run inside
// one workgroup or in two passes of fixed shape, never with float atomics, so a result does not depend on scheduling.
// Legend: B batch, T time, D width, H query heads, KV key/value heads, G = H/KV, hs head size, A = H*hs,
// C = (H + 2*KV)*hs (q, k, v side by side), W = KV*hs, F = ffnMult*D, V vocabulary, M = B*T rows, ctx the context.
//
// Every kernel that draws dropout masks or reads a position binds `state` (u32): state[0] is the first position of
// the rows (p0: 0 in training, the cache length when decoding), state[2 + 2s], state[3 + 2s] the seed of dropout
// site s. A decoding plan is reused for every token: only state[0] changes between runs.

/** How a kernel binds a buffer: a storage buffer it reads, or one it writes (the uniform block is binding 0). */
export type BindingKind = 'read' | 'write';

export interface KernelSpec {
  /** Uniform fields in order; `floatFields` are f32, the rest u32. */
  fields: readonly string[];
  floatFields?: readonly string[];
  /** Independent jobs per dispatch, each with its own uniform block (u = U[job]); 1 when absent. */
  jobs?: number;
  /** Bindings after the uniform block (binding 0), in order. */
  bindings: readonly { name: string; kind: BindingKind; type?: 'f32' | 'u32' }[];
  /** Workgroup size (x only). */
  workgroup: number;
  /** The body of `fn main`, with `wid` (workgroup id), `lid` (local id) and `u` (or `U` with jobs) in scope. */
  body: string;
  /** Helpers and workgroup memory before main. */
  prelude?: string;
}

/** No tensor: an offset field set to this means "absent" (a bias the config does not have). */
export const NONE = 0xffffffff;

// ---------------------------------------------------------------- shared WGSL

/** Rows and 1-D element grids wider than 65535 workgroups fold into a second dimension. */
export const MAX_GROUPS = 65535;

/** Rows of one workgroup of a norm's backward pass (and of one partial column sum of its weight gradient). */
export const NORM_ROWS = 16;

/** Query (or key) rows of one workgroup of the attention kernels. */
export const ATTN_ROWS = 16;

/** Linear layers on at most this many rows run as dot products (gemv) rather than tiled products (gemm). */
export const GEMV_ROWS = 4;

const GRID = /* wgsl */ `
fn groupIndex(wid: vec3<u32>) -> u32 { return wid.y * ${MAX_GROUPS}u + wid.x; }
`;

// splitmix64 in vec2<u32> (lo, hi) arithmetic: the native trainer's dropout masks, bit for bit, so a seed drops the
// same elements on every path (gpt.cc: mix64, keeps).
const HASH = /* wgsl */ `
fn mul32x32(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = p01 + (p00 >> 16u);
  let mid2 = mid + p10;
  let carry = select(0u, 1u, mid2 < mid);
  return vec2<u32>((mid2 << 16u) | (p00 & 0xffffu), p11 + (mid2 >> 16u) + (carry << 16u));
}
fn mul64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  var r = mul32x32(a.x, b.x);
  r.y = r.y + a.x * b.y + a.y * b.x;
  return r;
}
fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let lo = a.x + b.x;
  return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}
// z >> n for 0 < n < 32
fn shr64(z: vec2<u32>, n: u32) -> vec2<u32> { return vec2<u32>((z.x >> n) | (z.y << (32u - n)), z.y >> n); }
fn mix64(z0: vec2<u32>) -> vec2<u32> {
  var z = add64(z0, vec2<u32>(0x7f4a7c15u, 0x9e3779b9u));
  z = mul64(z ^ shr64(z, 30u), vec2<u32>(0x1ce4e5b9u, 0xbf58476du));
  z = mul64(z ^ shr64(z, 27u), vec2<u32>(0x133111ebu, 0x94d049bbu));
  return z ^ shr64(z, 31u);
}
// Element i survives dropout when the top 24 bits of its hash are at least p * 2^24.
fn keeps(seed: vec2<u32>, i: u32, threshold: u32) -> bool {
  let h = mix64(seed ^ mul64(vec2<u32>(i, 0u), vec2<u32>(0xde82ef95u, 0xd1342543u)));
  return (h.y >> 8u) >= threshold;
}
fn siteSeed(site: u32) -> vec2<u32> { return vec2<u32>(state[2u + 2u * site], state[3u + 2u * site]); }
// x through the dropout mask of site u.site at element i (when u.drop)
fn dropped(x: f32, i: u32, seed: vec2<u32>) -> f32 {
  if (u.drop == 0u) { return x; }
  return select(0.0, x * u.keepScale, keeps(seed, i, u.threshold));
}
`;

/** Sum (and max) over a workgroup of 256 invocations, in a fixed tree order. Call from uniform control flow. */
const REDUCE = /* wgsl */ `
var<workgroup> red: array<vec2<f32>, 256>;
fn reduceSum2(v: vec2<f32>, t: u32) -> vec2<f32> {
  red[t] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (t < s) { red[t] = red[t] + red[t + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn reduceSum(v: f32, t: u32) -> f32 { return reduceSum2(vec2<f32>(v, 0.0), t).x; }
fn reduceMax(v: f32, t: u32) -> f32 {
  red[t] = vec2<f32>(v, 0.0);
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (t < s) { red[t].x = max(red[t].x, red[t + s].x); }
    workgroupBarrier();
  }
  let r = red[0].x;
  workgroupBarrier();
  return r;
}
`;

/** Whether a float is neither NaN nor infinite, by its bits (WGSL may assume arithmetic never sees NaN). */
const FINITE = /* wgsl */ `
fn isFinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
`;

// GELU in the erf form: Phi(x) = 0.5 erfc(-x / sqrt 2), erfc by Numerical Recipes' Chebyshev fit with -z^2 split
// into two floats, exactly as ops_impl.h's vphi.
const ACT = /* wgsl */ `
fn phi(x: f32) -> f32 {
  let u = x * -0.70710678118654752;
  let z = abs(u);
  let t = 1.0 / (z * 0.5 + 1.0);
  let hi = z * z;
  let lo = fma(z, z, -hi);
  var p = t * (t * 0.17087277 - 0.82215223);
  p = t * (p + 1.48851587);
  p = t * (p - 1.13520398);
  p = t * (p + 0.27886807);
  p = t * (p - 0.18628806);
  p = t * (p + 0.09678418);
  p = t * (p + 0.37409196);
  p = t * (p + 1.00002368);
  let e = t * exp(p - hi - lo - 1.26551223);
  return select(2.0 - e, e, u >= 0.0) * 0.5;
}
fn actForward(x: f32, gelu: bool) -> f32 {
  if (gelu) { return x * phi(x); }
  return max(x, 0.0);
}
// d/dx [x Phi(x)] = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)
fn actBackward(x: f32, g: f32, gelu: bool) -> f32 {
  if (gelu) { return g * (phi(x) + x * exp(x * x * -0.5) * 0.3989422804014327); }
  return select(0.0, g, x > 0.0);
}
`;

/**
 * Row-block reductions of the attention kernels: 16 rows of 16 invocations each (invocation t: row t / 16, lane
 * t % 16), added up or maxed over the lanes of each row in a fixed tree order. Call from uniform control flow.
 */
const ROW_REDUCE = /* wgsl */ `
var<workgroup> rowRed: array<f32, 256>;
fn rowSum(v: f32, t: u32) -> f32 {
  rowRed[t] = v;
  workgroupBarrier();
  for (var s = 8u; s > 0u; s = s >> 1u) {
    if (t % 16u < s) { rowRed[t] = rowRed[t] + rowRed[t + s]; }
    workgroupBarrier();
  }
  let r = rowRed[t - t % 16u];
  workgroupBarrier();
  return r;
}
fn rowMax(v: f32, t: u32) -> f32 {
  rowRed[t] = v;
  workgroupBarrier();
  for (var s = 8u; s > 0u; s = s >> 1u) {
    if (t % 16u < s) { rowRed[t] = max(rowRed[t], rowRed[t + s]); }
    workgroupBarrier();
  }
  let r = rowRed[t - t % 16u];
  workgroupBarrier();
  return r;
}
`;

/**
 * Workgroup memory of the attention kernels' small products. Each works on a block of 16 rows with 256 invocations
 * (row t / 16, lane t % 16), and each invocation keeps 4 results (columns lane + 16e): scores against 64 keys at a
 * time, hs in chunks of 16; weighted sums over 16 keys at a time, hs in chunks of 64.
 */
const TILES = /* wgsl */ `
var<workgroup> tileA: array<f32, 1024>;
var<workgroup> tileB: array<f32, 1024>;
`;

/**
 * The start of the attention kernels' bodies over blocks of 16 query rows of one (sequence b, head h; key/value head
 * g): the block this workgroup takes (it returns when there is none), its first row i0 and its rows, this
 * invocation's row r and lane, whether r is one of the block's rows (live), and where row r starts in P [B, H, Tq, ldP].
 */
const QUERY_BLOCK = /* wgsl */ `
  let blocks = (u.Tq + 15u) / 16u;
  let w = groupIndex(wid);
  let bh = w / blocks;
  if (bh >= u.B * u.H) { return; }
  let b = bh / u.H; let h = bh % u.H; let g = h / u.G;
  let i0 = (w % blocks) * 16u;
  let rows = min(16u, u.Tq - i0);
  let t = lid.x; let r = t / 16u; let lane = t % 16u;
  let live = r < rows;
  let prow = (bh * u.Tq + i0 + r) * u.ldP;`;

/**
 * The small product the attention kernels take four times (S = q k^T, y = P v forward; dP = dy v^T, dq = dS k
 * backward), as WGSL for a kernel body that has defined t, r and lane (its invocation, row and lane in the block of 16
 * rows) and the names its operands use. For each block of 64 output columns c0 < cols, acc[e] = sum over the depth
 * k < depth of A[r][k] B[k][c0 + lane + 16e], the depth in chunks of 16 staged through tileA [16 depth][16 rows] and
 * tileB [16 depth][64 columns]; then `store` runs for each column c = c0 + lane + 16e (guarding it as it needs).
 * `a` is a statement that sets av to A[r][k0 + lane] where that exists (av is 0 otherwise); `b` reads B[k0 + kk][c0 +
 * cc], only inside the bounds. B is always a [keys][dims] matrix with its dims contiguous, so the invocations walk
 * the dims fastest: the depth when it is the dims (depthIsDims), else the columns.
 */
function tileProduct(o: { cols: string; depth: string; depthIsDims: boolean; a: string; b: string; store: string }): string {
  const element = o.depthIsDims ? 'let cc = at / 16u; let kk = at % 16u;' : 'let kk = at / 64u; let cc = at % 64u;';
  return /* wgsl */ `
  for (var c0 = 0u; c0 < ${o.cols}; c0 = c0 + 64u) {
    var acc: array<f32, 4>;
    for (var k0 = 0u; k0 < ${o.depth}; k0 = k0 + 16u) {
      var av = 0.0;
      ${o.a}
      tileA[lane * 16u + r] = av;
      for (var e = 0u; e < 4u; e = e + 1u) {
        let at = t + 256u * e; ${element}
        var bv = 0.0;
        if (c0 + cc < ${o.cols} && k0 + kk < ${o.depth}) { bv = ${o.b}; }
        tileB[kk * 64u + cc] = bv;
      }
      workgroupBarrier();
      for (var kk = 0u; kk < 16u; kk = kk + 1u) {
        let x = tileA[kk * 16u + r];
        for (var e = 0u; e < 4u; e = e + 1u) { acc[e] = acc[e] + x * tileB[kk * 64u + lane + 16u * e]; }
      }
      workgroupBarrier();
    }
    for (var e = 0u; e < 4u; e = e + 1u) {
      let c = c0 + lane + 16u * e;
      ${o.store}
    }
  }`;
}

// ---------------------------------------------------------------- the kernels

/** Dropout fields shared by the kernels that draw masks: the site's seed is state[2 + 2 site] (written each step). */
const DROP_FIELDS = ['drop', 'site', 'threshold', 'keepScale'] as const;

/** The attention kernels' sizes: the rows of one sequence, its keys, and where q, k, v lie in a row of qkv [M, C]. */
const ATTN_FIELDS = ['B', 'H', 'G', 'hs', 'Tq', 'C', 'A', 'W', 'ldP', 'scale'] as const;

export const KERNELS = {
  /**
   * Up to two independent products per dispatch (a linear layer's weight gradient and input gradient, say), each
   * C = op(A) op(B) (+ bias) in 64x64 tiles of 4x4 per invocation (read as two vec4 from workgroup memory per k); workgroups [0, U[0].tiles) run job 0, the rest
   * job 1. op(A) is [M, K] (transA reads A as [K, M]), op(B) [K, N] (transB reads B as [N, K], a PyTorch [out, in]
   * weight). Both jobs read A; job j reads Bj and writes Cj. The bias lies in job 0's B (the parameters). Epilogue 1
   * (job 0) also writes act(C) to C1: c_fc and its activation; epilogue 2 multiplies by act'(aux): the gradient
   * through c_fc's activation. With offRowSum, the first column of tiles also writes the row sums of op(A) to
   * Cj[offRowSum + m]: a bias gradient (the column sums of dy) from its weight gradient's own pass over dy, added up
   * in a fixed order. The switches are uniforms, not pipeline constants: one pipeline compiles once (a software
   * adapter takes seconds per pipeline).
   */
  gemm: {
    fields: ['M', 'N', 'K', 'lda', 'ldb', 'ldc', 'offA', 'offB', 'offC', 'offBias', 'offRowSum', 'transA', 'transB', 'epilogue',
      'gelu', 'tilesN', 'tiles', 'pad0', 'pad1', 'pad2'],
    jobs: 2,
    bindings: [
      { name: 'A', kind: 'read' }, { name: 'B0', kind: 'read' }, { name: 'C0', kind: 'write' }, { name: 'B1', kind: 'read' },
      { name: 'C1', kind: 'write' }, { name: 'aux', kind: 'read' },
    ],
    workgroup: 256,
    prelude: GRID + ACT + /* wgsl */ `
const BM = 64u; const BN = 64u; const BK = 16u;
var<workgroup> As: array<vec4<f32>, 256>; // [BK, BM / 4]: rows 4i .. 4i+3 of op(A) at each k
var<workgroup> Bs: array<vec4<f32>, 256>; // [BK, BN / 4]
fn loadB(job: u32, i: u32) -> f32 {
  if (job == 0u) { return B0[i]; }
  return B1[i];
}
fn storeC(job: u32, i: u32, v: f32) {
  if (job == 0u) { C0[i] = v; } else { C1[i] = v; }
}
`,
    body: /* wgsl */ `
  let w = groupIndex(wid);
  let job = select(0u, 1u, w >= U[0].tiles);
  let u = U[job];
  let tile = w - select(0u, U[0].tiles, job == 1u);
  if (tile >= u.tiles) { return; }
  let m0 = (tile / u.tilesN) * BM; let n0 = (tile % u.tilesN) * BN;
  let transA = u.transA != 0u; let transB = u.transB != 0u; let gelu = u.gelu != 0u;
  let rowSums = u.offRowSum != ${NONE}u && n0 == 0u;
  // invocation t computes rows m0 + 4 ty .. +3 and columns n0 + 4 tx .. +3
  let t = lid.x; let ty = t / 16u; let tx = t % 16u;
  var acc: array<vec4<f32>, 4>;
  var rs = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < u.K; k0 = k0 + BK) {
    for (var e = 0u; e < 4u; e = e + 1u) {
      let idx = t + e * 256u;
      var mm: u32; var kk: u32;
      if (transA) { mm = idx % BM; kk = idx / BM; } else { kk = idx % BK; mm = idx / BK; }
      let gm = m0 + mm; let gk = k0 + kk;
      var v = 0.0;
      if (gm < u.M && gk < u.K) {
        if (transA) { v = A[u.offA + gk * u.lda + gm]; } else { v = A[u.offA + gm * u.lda + gk]; }
      }
      As[kk * 16u + mm / 4u][mm % 4u] = v;
      var nn: u32; var kb: u32;
      if (transB) { kb = idx % BK; nn = idx / BK; } else { nn = idx % BN; kb = idx / BN; }
      let gn = n0 + nn; let gkb = k0 + kb;
      var b = 0.0;
      if (gn < u.N && gkb < u.K) {
        if (transB) { b = loadB(job, u.offB + gn * u.ldb + gkb); } else { b = loadB(job, u.offB + gkb * u.ldb + gn); }
      }
      Bs[kb * 16u + nn / 4u][nn % 4u] = b;
    }
    workgroupBarrier();
    if (rowSums && tx == 0u) {
      for (var kk = 0u; kk < BK; kk = kk + 1u) { rs = rs + As[kk * 16u + ty]; }
    }
    for (var kk = 0u; kk < BK; kk = kk + 1u) {
      let a = As[kk * 16u + ty]; let b = Bs[kk * 16u + tx];
      acc[0] = acc[0] + a.x * b; acc[1] = acc[1] + a.y * b;
      acc[2] = acc[2] + a.z * b; acc[3] = acc[3] + a.w * b;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let m = m0 + 4u * ty + i;
    if (m >= u.M) { continue; }
    if (rowSums && tx == 0u) { storeC(job, u.offRowSum + m, rs[i]); }
    for (var j = 0u; j < 4u; j = j + 1u) {
      let n = n0 + 4u * tx + j;
      if (n >= u.N) { continue; }
      var v = acc[i][j];
      if (u.offBias != ${NONE}u) { v = v + B0[u.offBias + n]; }
      let ci = u.offC + m * u.ldc + n;
      if (u.epilogue == 2u) { v = actBackward(aux[ci], v, gelu); }
      storeC(job, ci, v);
      if (u.epilogue == 1u) { C1[ci] = actForward(v, gelu); }
    }
  }`,
  },

  /**
   * A linear layer on at most GEMV_ROWS rows (decoding a token): y[m, n] = x[m] . W[n] (+ bias[n]), with epilogue 1
   * also act(y) into y2. A GEMM's 64-row tile would do 64 times the work for one row; here 8 columns per workgroup,
   * each a dot product over K split across 32 invocations that read W's row contiguously, then added up in a fixed
   * tree order.
   */
  gemv: {
    fields: ['M', 'N', 'K', 'lda', 'offA', 'offW', 'offBias', 'epilogue', 'gelu'],
    bindings: [{ name: 'x', kind: 'read' }, { name: 'W', kind: 'read' }, { name: 'y', kind: 'write' }, { name: 'y2', kind: 'write' }],
    workgroup: 256,
    prelude: GRID + ACT + /* wgsl */ `
var<workgroup> lanes: array<f32, 256>;
`,
    body: /* wgsl */ `
  let t = lid.x; let lane = t % 32u;
  let n = groupIndex(wid) * 8u + t / 32u;
  var acc: array<f32, ${GEMV_ROWS}>;
  if (n < u.N) {
    let wrow = u.offW + n * u.K;
    for (var k = lane; k < u.K; k = k + 32u) {
      let wv = W[wrow + k];
      for (var m = 0u; m < u.M; m = m + 1u) { acc[m] = acc[m] + x[u.offA + m * u.lda + k] * wv; }
    }
  }
  for (var m = 0u; m < u.M; m = m + 1u) {
    lanes[t] = acc[m];
    workgroupBarrier();
    for (var s = 16u; s > 0u; s = s >> 1u) {
      if (lane < s) { lanes[t] = lanes[t] + lanes[t + s]; }
      workgroupBarrier();
    }
    if (lane == 0u && n < u.N) {
      var v = lanes[t];
      if (u.offBias != ${NONE}u) { v = v + W[u.offBias + n]; }
      y[m * u.N + n] = v;
      if (u.epilogue == 1u) { y2[m * u.N + n] = actForward(v, u.gelu != 0u); }
    }
    workgroupBarrier();
  }`,
  },

  /**
   * One row per workgroup: s = a (mode 0), a + dropout(b) (mode 1: a residual connection), or the embeddings
   * wte[idx[r]] (+ pos[p0 + r % T]) through dropout (mode 2), written to sum in modes 1 and 2; then y = norm(s) with
   * its mean and 1/std in stats [rows, 2]. LayerNorm or RMSNorm, eps 1e-5, two passes for the variance as
   * ops_impl.h. Learned positions are wpe, sinusoidal ones the table after the parameters (offPos); none: NONE.
   */
  norm: {
    fields: ['rows', 'D', 'offW', 'offB', 'mode', 'rms', 'T', 'offWte', 'offPos', ...DROP_FIELDS],
    floatFields: ['keepScale'],
    bindings: [
      { name: 'a', kind: 'read' }, { name: 'b', kind: 'read' }, { name: 'sum', kind: 'write' }, { name: 'y', kind: 'write' },
      { name: 'stats', kind: 'write' }, { name: 'P', kind: 'read' }, { name: 'idx', kind: 'read', type: 'u32' },
      { name: 'state', kind: 'read', type: 'u32' },
    ],
    workgroup: 256,
    prelude: GRID + HASH + REDUCE,
    body: /* wgsl */ `
  let r = groupIndex(wid);
  if (r >= u.rows) { return; }
  let t = lid.x; let base = r * u.D;
  let seed = siteSeed(u.site);
  var s1 = 0.0;
  for (var c = t; c < u.D; c = c + 256u) {
    var v: f32;
    if (u.mode == 2u) {
      v = P[u.offWte + idx[r] * u.D + c];
      if (u.offPos != ${NONE}u) { v = v + P[u.offPos + (state[0] + r % u.T) * u.D + c]; }
      v = dropped(v, base + c, seed);
      sum[base + c] = v;
    } else {
      v = a[base + c];
      if (u.mode == 1u) {
        v = v + dropped(b[base + c], base + c, seed);
        sum[base + c] = v;
      }
    }
    s1 = s1 + v;
  }
  var mu = 0.0;
  if (u.rms == 0u) { mu = reduceSum(s1, t) / f32(u.D); }
  var s2 = 0.0;
  for (var c = t; c < u.D; c = c + 256u) {
    var v: f32;
    if (u.mode != 0u) { v = sum[base + c]; } else { v = a[base + c]; }
    s2 = s2 + (v - mu) * (v - mu);
  }
  let rs = 1.0 / sqrt(reduceSum(s2, t) / f32(u.D) + 1e-5);
  for (var c = t; c < u.D; c = c + 256u) {
    var v: f32;
    if (u.mode != 0u) { v = sum[base + c]; } else { v = a[base + c]; }
    var o = (v - mu) * rs * P[u.offW + c];
    if (u.offB != ${NONE}u) { o = o + P[u.offB + c]; }
    y[base + c] = o;
  }
  if (t == 0u) { stats[2u * r] = mu; stats[2u * r + 1u] = rs; }`,
  },

  /**
   * A norm's backward pass over a chunk of NORM_ROWS rows per workgroup: dx (+)= rstd * (dxhat - mean(dxhat) -
   * xhat * mean(dxhat * xhat)), dxhat = dy * w (RMSNorm has no mean term); and the chunk's column sums of dy * xhat
   * and dy into part [chunks, 2, D]. The workgroups after the chunks add up the previous norm's partial sums
   * (prevPart, written by the dispatch before) in chunk order into its weight and bias gradients: the weight
   * gradients without float atomics and without a dispatch of their own.
   */
  normBackward: {
    fields: ['rows', 'D', 'offW', 'accumulate', 'rms', 'chunks', 'prevChunks', 'prevOffW', 'prevOffB'],
    bindings: [
      { name: 'dy', kind: 'read' }, { name: 'x', kind: 'read' }, { name: 'stats', kind: 'read' }, { name: 'P', kind: 'read' },
      { name: 'dx', kind: 'write' }, { name: 'part', kind: 'write' }, { name: 'prevPart', kind: 'read' }, { name: 'G', kind: 'write' },
    ],
    workgroup: 256,
    prelude: GRID + REDUCE + /* wgsl */ `
const NORM_ROWS = ${NORM_ROWS}u;
var<workgroup> means: array<vec2<f32>, ${NORM_ROWS}>;
`,
    body: /* wgsl */ `
  let chunk = groupIndex(wid);
  let t = lid.x;
  if (chunk >= u.chunks) {
    let c = (chunk - u.chunks) * 256u + t;
    if (u.prevOffW != ${NONE}u && c < u.D) {
      var sw = 0.0; var sb = 0.0;
      for (var k = 0u; k < u.prevChunks; k = k + 1u) {
        sw = sw + prevPart[(2u * k) * u.D + c];
        sb = sb + prevPart[(2u * k + 1u) * u.D + c];
      }
      G[u.prevOffW + c] = sw;
      if (u.prevOffB != ${NONE}u) { G[u.prevOffB + c] = sb; }
    }
    return;
  }
  let r0 = chunk * NORM_ROWS;
  let n = min(NORM_ROWS, u.rows - r0);
  // mean(dxhat) and mean(dxhat * xhat) of each row
  for (var i = 0u; i < n; i = i + 1u) {
    let r = r0 + i; let base = r * u.D;
    let mu = stats[2u * r]; let rs = stats[2u * r + 1u];
    var s = vec2<f32>(0.0, 0.0);
    for (var c = t; c < u.D; c = c + 256u) {
      let xhat = (x[base + c] - mu) * rs;
      let dxhat = dy[base + c] * P[u.offW + c];
      s = s + vec2<f32>(dxhat, dxhat * xhat);
    }
    let tot = reduceSum2(s, t) / f32(u.D);
    if (t == 0u) { means[i] = vec2<f32>(select(tot.x, 0.0, u.rms != 0u), tot.y); }
  }
  workgroupBarrier();
  // each invocation its columns: dx of every row of the chunk, and the chunk's column sums
  for (var c = t; c < u.D; c = c + 256u) {
    var sw = 0.0; var sb = 0.0;
    for (var i = 0u; i < n; i = i + 1u) {
      let r = r0 + i; let at = r * u.D + c;
      let xhat = (x[at] - stats[2u * r]) * stats[2u * r + 1u];
      let g = dy[at];
      var v = stats[2u * r + 1u] * (g * P[u.offW + c] - means[i].x - xhat * means[i].y);
      if (u.accumulate != 0u) { v = v + dx[at]; }
      dx[at] = v;
      sw = sw + g * xhat;
      sb = sb + g;
    }
    part[(chunk * 2u) * u.D + c] = sw;
    part[(chunk * 2u + 1u) * u.D + c] = sb;
  }`,
  },

  /**
   * RoPE, then QK-norm, in place on the q and k heads (the first H + KV heads of each row of qkv [rows, C]), one
   * invocation per (row, head), row r at position p0 + r % T; rstd [rows, H + KV] keeps QK-norm's factors. With
   * backward, the gradient through them in place on dqkv instead: QK-norm's backward from the normed heads in qkv,
   * then RoPE's (the opposite turn). gpt.cc: rotate_heads, rms_heads, rms_heads_backward, summing in the same order.
   * The cos and sin tables [ctx, hs/2] lie after the parameters (offCos, offSin).
   */
  queryKey: {
    fields: ['rows', 'T', 'heads', 'hs', 'C', 'rope', 'qkNorm', 'backward', 'offCos', 'offSin'],
    bindings: [
      { name: 'x', kind: 'write' }, { name: 'y', kind: 'read' }, { name: 'rstd', kind: 'write' }, { name: 'P', kind: 'read' },
      { name: 'state', kind: 'read', type: 'u32' },
    ],
    workgroup: 64,
    prelude: GRID,
    body: /* wgsl */ `
  let i = groupIndex(wid) * 64u + lid.x;
  if (i >= u.rows * u.heads) { return; }
  let r = i / u.heads; let head = i % u.heads;
  let base = r * u.C + head * u.hs;
  let half = u.hs / 2u;
  let tab = (state[0] + r % u.T) * half;
  if (u.backward == 0u) {
    if (u.rope != 0u) {
      for (var k = 0u; k < half; k = k + 1u) {
        let a = x[base + k]; let b = x[base + half + k];
        let c = P[u.offCos + tab + k]; let s = P[u.offSin + tab + k];
        x[base + k] = a * c - b * s;
        x[base + half + k] = b * c + a * s;
      }
    }
    if (u.qkNorm != 0u) {
      var ss = 0.0;
      for (var k = 0u; k < u.hs; k = k + 1u) { ss = ss + x[base + k] * x[base + k]; }
      let f = 1.0 / sqrt(ss / f32(u.hs) + 1e-5);
      for (var k = 0u; k < u.hs; k = k + 1u) { x[base + k] = x[base + k] * f; }
      rstd[i] = f;
    }
    return;
  }
  if (u.qkNorm != 0u) {
    var dot = 0.0;
    for (var k = 0u; k < u.hs; k = k + 1u) { dot = dot + x[base + k] * y[base + k]; }
    let m = dot / f32(u.hs); let f = rstd[i];
    for (var k = 0u; k < u.hs; k = k + 1u) { x[base + k] = f * (x[base + k] - y[base + k] * m); }
  }
  if (u.rope != 0u) {
    for (var k = 0u; k < half; k = k + 1u) {
      let a = x[base + k]; let b = x[base + half + k];
      let c = P[u.offCos + tab + k]; let s = -P[u.offSin + tab + k];
      x[base + k] = a * c - b * s;
      x[base + half + k] = b * c + a * s;
    }
  }`,
  },

  /**
   * Causal attention for 16 query rows of one (sequence b, head h) per workgroup, in one pass: the scores
   * S = q k^T * scale of the rows against every key they see (row i at position p0 + i sees keys 0 .. p0 + i), the
   * softmax of each row in place, written to P [B, H, Tq, ldP] with zeros beyond the diagonal (and its dropped copy
   * to Pd, the mask index being the element's index in P, as gpt.cc's), then y = P v [Tq rows, A], heads side by
   * side. Query head h reads key/value head h / G. Keys at positions below p0 come from the cache Kc, Vc [ctx, W]
   * (decoding), the rest from qkv; with `cache` the first query head of each group also stores the block's new keys
   * and values in the cache (readers of the new rows take them from qkv, so nothing races).
   */
  attention: {
    fields: [...ATTN_FIELDS, 'cache', ...DROP_FIELDS],
    floatFields: ['scale', 'keepScale'],
    bindings: [
      { name: 'qkv', kind: 'read' }, { name: 'P', kind: 'write' }, { name: 'Pd', kind: 'write' }, { name: 'y', kind: 'write' },
      { name: 'Kc', kind: 'write' }, { name: 'Vc', kind: 'write' }, { name: 'state', kind: 'read', type: 'u32' },
    ],
    workgroup: 256,
    prelude: GRID + HASH + ROW_REDUCE + TILES + /* wgsl */ `
// element d of key (kind 0) or value (kind 1) j of head group g in sequence b
fn keyValue(kind: u32, b: u32, g: u32, j: u32, d: u32, p0: u32) -> f32 {
  let col = g * u.hs + d;
  if (j < p0) {
    if (kind == 0u) { return Kc[j * u.W + col]; }
    return Vc[j * u.W + col];
  }
  return qkv[(b * u.Tq + j - p0) * u.C + u.A + kind * u.W + col];
}
`,
    body: /* wgsl */ `${QUERY_BLOCK}
  let p0 = state[0];
  let L = p0 + u.Tq; // keys of the sequence
  let kEnd = p0 + i0 + rows; // keys any row of the block sees
  let n = p0 + i0 + r + 1u; // keys row r sees
  let qrow = (b * u.Tq + i0) * u.C + h * u.hs;
  // S = q k^T * scale
  ${tileProduct({
    cols: 'kEnd', depth: 'u.hs', depthIsDims: true,
    a: 'if (live && k0 + lane < u.hs) { av = qkv[qrow + r * u.C + k0 + lane]; }',
    b: 'keyValue(0u, b, g, c0 + cc, k0 + kk, p0)',
    store: 'if (live && c < n) { P[prow + c] = acc[e] * u.scale; }',
  })}
  storageBarrier();
  // P = softmax of each row over its keys, zero beyond them
  var m = -3.0e38;
  if (live) { for (var j = lane; j < n; j = j + 16u) { m = max(m, P[prow + j]); } }
  m = rowMax(m, t);
  var s = 0.0;
  if (live) {
    for (var j = lane; j < n; j = j + 16u) {
      let ex = exp(P[prow + j] - m);
      P[prow + j] = ex;
      s = s + ex;
    }
  }
  let inv = 1.0 / rowSum(s, t);
  let seed = siteSeed(u.site);
  if (live) {
    for (var j = lane; j < L; j = j + 16u) {
      var p = 0.0;
      if (j < n) { p = P[prow + j] * inv; }
      P[prow + j] = p;
      if (u.drop != 0u) { Pd[prow + j] = dropped(p, prow + j, seed); }
    }
  }
  storageBarrier();
  // y = P v (through the dropout mask)
  ${tileProduct({
    cols: 'u.hs', depth: 'kEnd', depthIsDims: false,
    a: 'if (live && k0 + lane < L) { if (u.drop != 0u) { av = Pd[prow + k0 + lane]; } else { av = P[prow + k0 + lane]; } }',
    b: 'keyValue(1u, b, g, k0 + kk, c0 + cc, p0)',
    store: 'if (live && c < u.hs) { y[(b * u.Tq + i0 + r) * u.A + h * u.hs + c] = acc[e]; }',
  })}
  // decoding: the block's new keys and values join the cache
  if (u.cache != 0u && h % u.G == 0u) {
    for (var at = t; at < rows * u.hs; at = at + 256u) {
      let i = at / u.hs; let d = at % u.hs;
      let src = (b * u.Tq + i0 + i) * u.C + u.A + g * u.hs + d;
      Kc[(p0 + i0 + i) * u.W + g * u.hs + d] = qkv[src];
      Vc[(p0 + i0 + i) * u.W + g * u.hs + d] = qkv[src + u.W];
    }
  }`,
  },

  /**
   * The attention's backward pass for 16 query rows of one (b, h) per workgroup: dP = dy v^T through the dropout
   * mask, dS = P * (dP - P . dP) * scale into dS [B, H, T, T] (zero beyond the diagonal), then dq = dS k into dqkv.
   * attentionBackwardKV then reads dS for dk and dv.
   */
  attentionBackwardQ: {
    fields: [...ATTN_FIELDS, ...DROP_FIELDS],
    floatFields: ['scale', 'keepScale'],
    bindings: [
      { name: 'qkv', kind: 'read' }, { name: 'P', kind: 'read' }, { name: 'dy', kind: 'read' }, { name: 'dS', kind: 'write' },
      { name: 'dqkv', kind: 'write' }, { name: 'state', kind: 'read', type: 'u32' },
    ],
    workgroup: 256,
    prelude: GRID + HASH + ROW_REDUCE + TILES,
    body: /* wgsl */ `${QUERY_BLOCK}
  let kEnd = i0 + rows;
  let n = i0 + r + 1u;
  let dyrow = (b * u.Tq + i0) * u.A + h * u.hs;
  let kvBase = b * u.Tq * u.C + u.A + g * u.hs;
  // dP = dy v^T
  ${tileProduct({
    cols: 'kEnd', depth: 'u.hs', depthIsDims: true,
    a: 'if (live && k0 + lane < u.hs) { av = dy[dyrow + r * u.A + k0 + lane]; }',
    b: 'qkv[kvBase + (c0 + cc) * u.C + u.W + k0 + kk]',
    store: 'if (live && c < n) { dS[prow + c] = acc[e]; }',
  })}
  storageBarrier();
  // dS = P * (dP - P . dP) * scale, dP through the mask
  let seed = siteSeed(u.site);
  var dot = 0.0;
  if (live) {
    for (var j = lane; j < n; j = j + 16u) {
      let d = dropped(dS[prow + j], prow + j, seed);
      dS[prow + j] = d;
      dot = dot + P[prow + j] * d;
    }
  }
  dot = rowSum(dot, t);
  if (live) {
    for (var j = lane; j < u.Tq; j = j + 16u) {
      var v = 0.0;
      if (j < n) { v = P[prow + j] * (dS[prow + j] - dot) * u.scale; }
      dS[prow + j] = v;
    }
  }
  storageBarrier();
  // dq = dS k
  ${tileProduct({
    cols: 'u.hs', depth: 'kEnd', depthIsDims: false,
    a: 'if (live && k0 + lane < u.Tq) { av = dS[prow + k0 + lane]; }',
    b: 'qkv[kvBase + (k0 + kk) * u.C + c0 + cc]',
    store: 'if (live && c < u.hs) { dqkv[(b * u.Tq + i0 + r) * u.C + h * u.hs + c] = acc[e]; }',
  })}`,
  },

  /**
   * dk = sum over the group's query heads of dS^T q, and dv = the same of Pd^T dy, for 16 keys of one (b, key/value
   * head g) per workgroup: the G heads and the query rows (from the block's own, the causal ones) in a fixed order,
   * so no float atomics are needed.
   */
  attentionBackwardKV: {
    fields: [...ATTN_FIELDS, 'KV'],
    floatFields: ['scale'],
    bindings: [
      { name: 'qkv', kind: 'read' }, { name: 'Pd', kind: 'read' }, { name: 'dy', kind: 'read' }, { name: 'dS', kind: 'read' },
      { name: 'dqkv', kind: 'write' },
    ],
    workgroup: 256,
    prelude: GRID + TILES + /* wgsl */ `
var<workgroup> tileS: array<f32, 256>; // [16 query rows][16 keys]
var<workgroup> tileP: array<f32, 256>;
`,
    body: /* wgsl */ `
  let blocks = (u.Tq + 15u) / 16u;
  let w = groupIndex(wid);
  let bg = w / blocks;
  if (bg >= u.B * u.KV) { return; }
  let b = bg / u.KV; let g = bg % u.KV;
  let j0 = (w % blocks) * 16u;
  let t = lid.x; let r = t / 16u; let lane = t % 16u;
  let live = j0 + r < u.Tq;
  for (var d0 = 0u; d0 < u.hs; d0 = d0 + 64u) {
    var dk: array<f32, 4>; var dv: array<f32, 4>;
    for (var h = g * u.G; h < (g + 1u) * u.G; h = h + 1u) {
      let plane = (b * u.H + h) * u.Tq;
      for (var i0 = j0; i0 < u.Tq; i0 = i0 + 16u) {
        // tileS/tileP [16 rows][16 keys]: dS and Pd of rows i0.., keys j0..; tileA/tileB [16 rows][64 dims]: q and dy
        let ii = t / 16u; let jj = t % 16u;
        var sv = 0.0; var pv = 0.0;
        if (i0 + ii < u.Tq && j0 + jj < u.Tq) {
          let at = (plane + i0 + ii) * u.ldP + j0 + jj;
          sv = dS[at]; pv = Pd[at];
        }
        tileS[ii * 16u + jj] = sv;
        tileP[ii * 16u + jj] = pv;
        for (var e = 0u; e < 4u; e = e + 1u) {
          let at = t + 256u * e; let i = at / 64u; let dd = at % 64u;
          var qv = 0.0; var gv = 0.0;
          if (i0 + i < u.Tq && d0 + dd < u.hs) {
            let row = b * u.Tq + i0 + i;
            qv = qkv[row * u.C + h * u.hs + d0 + dd];
            gv = dy[row * u.A + h * u.hs + d0 + dd];
          }
          tileA[i * 64u + dd] = qv;
          tileB[i * 64u + dd] = gv;
        }
        workgroupBarrier();
        for (var i = 0u; i < 16u; i = i + 1u) {
          let s = tileS[i * 16u + r]; let p = tileP[i * 16u + r];
          for (var e = 0u; e < 4u; e = e + 1u) {
            dk[e] = dk[e] + s * tileA[i * 64u + lane + 16u * e];
            dv[e] = dv[e] + p * tileB[i * 64u + lane + 16u * e];
          }
        }
        workgroupBarrier();
      }
    }
    for (var e = 0u; e < 4u; e = e + 1u) {
      let d = d0 + lane + 16u * e;
      if (live && d < u.hs) {
        let at = (b * u.Tq + j0 + r) * u.C + u.A + g * u.hs + d;
        dqkv[at] = dk[e];
        dqkv[at + u.W] = dv[e];
      }
    }
  }`,
  },

  /**
   * Softmax cross-entropy, one row per workgroup: loss[r] = max + log(sum exp(z - max)) - z[y]; with GRAD the logits
   * become dL/dlogits = (softmax - onehot) * scale.
   */
  crossEntropy: {
    fields: ['rows', 'V', 'grad', 'scale'],
    floatFields: ['scale'],
    bindings: [{ name: 'z', kind: 'write' }, { name: 'targets', kind: 'read', type: 'u32' }, { name: 'losses', kind: 'write' }],
    workgroup: 256,
    prelude: GRID + REDUCE,
    body: /* wgsl */ `
  let r = groupIndex(wid);
  if (r >= u.rows) { return; }
  let t = lid.x; let base = r * u.V;
  let y = targets[r];
  let zy = z[base + y];
  var m = -3.0e38;
  for (var j = t; j < u.V; j = j + 256u) { m = max(m, z[base + j]); }
  m = reduceMax(m, t);
  var s = 0.0;
  for (var j = t; j < u.V; j = j + 256u) {
    let e = exp(z[base + j] - m);
    if (u.grad != 0u) { z[base + j] = e; }
    s = s + e;
  }
  s = reduceSum(s, t);
  if (t == 0u) { losses[r] = m + log(s) - zy; }
  if (u.grad != 0u) {
    let k = u.scale / s;
    for (var j = t; j < u.V; j = j + 256u) {
      var g = z[base + j] * k;
      if (j == y) { g = g - u.scale; }
      z[base + j] = g;
    }
  }`,
  },

  /** dst = dropout(src): a residual branch's gradient through the mask its forward pass drew. */
  dropout: {
    fields: ['n', ...DROP_FIELDS],
    floatFields: ['keepScale'],
    bindings: [{ name: 'src', kind: 'read' }, { name: 'dst', kind: 'write' }, { name: 'state', kind: 'read', type: 'u32' }],
    workgroup: 256,
    prelude: GRID + HASH,
    body: /* wgsl */ `
  let i = groupIndex(wid) * 256u + lid.x;
  if (i >= u.n) { return; }
  dst[i] = dropped(src[i], i, siteSeed(u.site));`,
  },

  /**
   * The backward pass's last dispatch, three jobs side by side by workgroup: (1) dwte[tok] += the sum of dx over the
   * rows holding tok, for every token of the batch: rows grouped by token on the host (csr: U, the U tokens, U + 1
   * starts, then the rows in order), so each gradient row has one writer and no float atomics are needed; (2) dwpe[p]
   * = the sum over the batch of dx at position p (0 for positions the batch does not reach); (3) block 0's ln_1
   * weight gradients from its partial sums (normBackward's previous-norm job). dx goes through the embeddings'
   * dropout mask first.
   */
  embedBackward: {
    fields: ['D', 'T', 'B', 'ctx', 'offWte', 'offWpe', 'wteGroups', 'posGroups', 'prevChunks', 'prevOffW', 'prevOffB', ...DROP_FIELDS],
    floatFields: ['keepScale'],
    bindings: [
      { name: 'dx', kind: 'read' }, { name: 'csr', kind: 'read', type: 'u32' }, { name: 'G', kind: 'write' },
      { name: 'prevPart', kind: 'read' }, { name: 'state', kind: 'read', type: 'u32' },
    ],
    workgroup: 256,
    prelude: GRID + HASH,
    body: /* wgsl */ `
  let w = groupIndex(wid);
  let seed = siteSeed(u.site);
  if (w < u.wteGroups) {
    let U = csr[0];
    let i = w * 256u + lid.x;
    if (i >= U * u.D) { return; }
    let k = i / u.D; let c = i % u.D;
    var s = 0.0;
    for (var e = csr[1u + U + k]; e < csr[2u + U + k]; e = e + 1u) {
      let at = csr[2u + 2u * U + e] * u.D + c;
      s = s + dropped(dx[at], at, seed);
    }
    let wi = u.offWte + csr[1u + k] * u.D + c;
    G[wi] = G[wi] + s;
    return;
  }
  if (w < u.wteGroups + u.posGroups) {
    let i = (w - u.wteGroups) * 256u + lid.x;
    if (i >= u.ctx * u.D) { return; }
    let p = i / u.D; let c = i % u.D;
    var s = 0.0;
    if (p < u.T) {
      for (var b = 0u; b < u.B; b = b + 1u) {
        let at = (b * u.T + p) * u.D + c;
        s = s + dropped(dx[at], at, seed);
      }
    }
    G[u.offWpe + i] = s;
    return;
  }
  let c = (w - u.wteGroups - u.posGroups) * 256u + lid.x;
  if (c >= u.D) { return; }
  var sw = 0.0; var sb = 0.0;
  for (var k = 0u; k < u.prevChunks; k = k + 1u) {
    sw = sw + prevPart[(2u * k) * u.D + c];
    sb = sb + prevPart[(2u * k + 1u) * u.D + c];
  }
  G[u.prevOffW + c] = sw;
  if (u.prevOffB != ${NONE}u) { G[u.prevOffB + c] = sb; }`,
  },

  /** Partial sums of squares of the gradients, one per workgroup (grid-stride loop over a fixed grid). */
  sumSquares: {
    fields: ['n', 'stride'],
    bindings: [{ name: 'G', kind: 'read' }, { name: 'part', kind: 'write' }],
    workgroup: 256,
    prelude: REDUCE,
    body: /* wgsl */ `
  let t = lid.x;
  var s = 0.0;
  for (var i = wid.x * 256u + t; i < u.n; i = i + u.stride) { let g = G[i]; s = s + g * g; }
  s = reduceSum(s, t);
  if (t == 0u) { part[wid.x] = s; }`,
  },

  /**
   * Clipped AdamW, in torch's order: every workgroup first adds up the gradient norm's partial sums and the row
   * losses (in the same fixed order, so all agree) into the clip factor of clip_grad_norm_ and whether the step
   * applies (both finite), which workgroup 0 reports in stats = [loss, gradNorm, clip, applied]; then, unless it
   * does not apply, over its share of the parameters: p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
   * p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), g clipped.
   */
  adamw: {
    fields: ['n', 'stride', 'parts', 'rows', 'gradClip', 'b1', 'b2', 'omb1', 'omb2', 'eps', 'decay', 'step', 'bc2s'],
    floatFields: ['gradClip', 'b1', 'b2', 'omb1', 'omb2', 'eps', 'decay', 'step', 'bc2s'],
    bindings: [
      { name: 'P', kind: 'write' }, { name: 'G', kind: 'read' }, { name: 'm', kind: 'write' }, { name: 'v', kind: 'write' },
      { name: 'part', kind: 'read' }, { name: 'losses', kind: 'read' }, { name: 'stats', kind: 'write' },
    ],
    workgroup: 256,
    prelude: REDUCE + FINITE,
    body: /* wgsl */ `
  let t = lid.x;
  var s = vec2<f32>(0.0, 0.0);
  for (var i = t; i < u.parts; i = i + 256u) { s.x = s.x + part[i]; }
  for (var i = t; i < u.rows; i = i + 256u) { s.y = s.y + losses[i]; }
  s = reduceSum2(s, t);
  let norm = sqrt(s.x);
  let loss = s.y / f32(u.rows);
  var clip = 1.0;
  if (u.gradClip > 0.0) { clip = min(1.0, u.gradClip / (norm + 1e-6)); }
  let applied = isFinite(loss) && isFinite(norm);
  if (wid.x == 0u && t == 0u) {
    stats[0] = loss; stats[1] = norm; stats[2] = clip;
    stats[3] = select(0.0, 1.0, applied);
  }
  if (!applied) { return; }
  for (var i = wid.x * 256u + t; i < u.n; i = i + u.stride) {
    let g = G[i] * clip;
    let mi = m[i] * u.b1 + g * u.omb1;
    let vi = v[i] * u.b2 + (g * g) * u.omb2;
    m[i] = mi;
    v[i] = vi;
    P[i] = P[i] * u.decay - (mi / (sqrt(vi) / u.bc2s + u.eps)) * u.step;
  }`,
  },
} satisfies Record<string, KernelSpec>;

export type KernelName = keyof typeof KERNELS;

/** Bytes of one job's uniform block, rounded to 16 as WGSL lays out a struct of scalars in a uniform array. */
export function jobBytes(name: KernelName): number {
  return Math.ceil((KERNELS[name].fields.length * 4) / 16) * 16;
}

/** Jobs per dispatch of a kernel. */
export function jobsOf(name: KernelName): number {
  return (KERNELS[name] as KernelSpec).jobs ?? 1;
}

/** Bytes of a kernel's whole uniform block (every job's). */
export function uniformBytes(name: KernelName): number {
  return jobBytes(name) * jobsOf(name);
}

/** The WGSL module of a kernel: its uniform struct, bindings, helpers and main. */
export function kernelSource(name: KernelName): string {
  const k: KernelSpec = KERNELS[name];
  const floats = new Set(k.floatFields ?? []);
  if (k.jobs && k.fields.length % 4 !== 0) throw new Error(`webgpu: ${name}'s uniform struct must fill whole 16-byte rows`);
  const struct = `struct Uniforms {\n${k.fields.map((f) => `  ${f}: ${floats.has(f) ? 'f32' : 'u32'},`).join('\n')}\n}`;
  const uniform = k.jobs ? `@group(0) @binding(0) var<uniform> U: array<Uniforms, ${k.jobs}>;` : '@group(0) @binding(0) var<uniform> u: Uniforms;';
  const bindings = k.bindings.map((b, i) => {
    const access = b.kind === 'write' ? 'read_write' : 'read';
    return `@group(0) @binding(${i + 1}) var<storage, ${access}> ${b.name}: array<${b.type ?? 'f32'}>;`;
  });
  return [
    struct,
    uniform,
    ...bindings,
    k.prelude ?? '',
    `@compute @workgroup_size(${k.workgroup})`,
    'fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {',
    k.body,
    '}',
  ].join('\n');
}
