// The WGSL kernels of the WebGPU trainer: the native trainer's math (native/src/gpt.cc, ops_impl.h) as compute
// shaders. Each kernel reads its sizes from a uniform block `u`, declared field by field in KERNELS below so the
// host writes it from the same list. Reductions run inside one workgroup or in two fixed-shape passes, never with
// float atomics, so a result does not depend on scheduling.
// Legend: B batch, T time, D width, H heads, hs = D/H, F = ffnMult*D, V vocabulary, M = B*T rows, ctx the context.

/** How a kernel binds a buffer: its uniform block, a storage buffer it reads, or one it writes. */
export type BindingKind = 'uniform' | 'read' | 'write';

export interface KernelSpec {
  /** Uniform fields in order; `f` fields are f32, the rest u32. */
  fields: readonly string[];
  floatFields?: readonly string[];
  /** Bindings after the uniform block (binding 0), in order. */
  bindings: readonly { name: string; kind: Exclude<BindingKind, 'uniform'>; type?: 'f32' | 'u32' }[];
  /** Workgroup size (x only). */
  workgroup: number;
  /** The body of `fn main`, with `wid` (workgroup id), `lid` (local id) and `u` in scope. */
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

// ---------------------------------------------------------------- the kernels

/** Dropout fields shared by the kernels that draw masks: the site's seed is seeds[site] (written each step). */
const DROP_FIELDS = ['drop', 'site', 'threshold', 'keepScale'] as const;

export const KERNELS = {
  /**
   * C = alpha * op(A) op(B) (+ bias), batched over z = zo * inner + zi with two levels of strides (batch, head),
   * 64x64 tiles of 4x4 per invocation. op(A) is [M, K], op(B) [K, N]; transA reads A as [K, M], transB reads B as
   * [N, K] (a PyTorch [out, in] weight). Epilogue 1 also writes act(C) to C2; epilogue 2 multiplies by act'(aux).
   * Causal 1 skips output tiles above the diagonal (column n > row m + q0), 2 stops K where op(A) is zero (k > m + q0),
   * 3 starts it there (k < m - q0): the causal attention products, whose other half is exactly zero. With offRowSum,
   * the first column of workgroups also writes the row sums of op(A) to C[offRowSum + m]: a bias gradient (the column
   * sums of dy) from the weight gradient's own dispatch, added up in a fixed order. These switches
   * are uniforms, not pipeline constants: they act outside the inner loop, and one pipeline compiles once (a software
   * adapter takes seconds per pipeline).
   */
  gemm: {
    fields: ['M', 'N', 'K', 'inner', 'lda', 'ldb', 'ldc', 'offBias', 'offA', 'offB', 'offC', 'q0',
      'sAo', 'sAi', 'sBo', 'sBi', 'sCo', 'sCi', 'alpha', 'transA', 'transB', 'epilogue', 'gelu', 'causal', 'offRowSum'],
    floatFields: ['alpha'],
    bindings: [
      { name: 'A', kind: 'read' }, { name: 'Bm', kind: 'read' }, { name: 'C', kind: 'write' }, { name: 'bias', kind: 'read' },
      { name: 'aux', kind: 'read' }, { name: 'C2', kind: 'write' },
    ],
    workgroup: 256,
    prelude: ACT + /* wgsl */ `
const BM = 64u; const BN = 64u; const BK = 16u;
var<workgroup> As: array<f32, 1024>; // [BK, BM]
var<workgroup> Bs: array<f32, 1024>; // [BK, BN]
`,
    body: /* wgsl */ `
  let zo = wid.z / u.inner; let zi = wid.z % u.inner;
  let baseA = u.offA + zo * u.sAo + zi * u.sAi;
  let baseB = u.offB + zo * u.sBo + zi * u.sBi;
  let baseC = u.offC + zo * u.sCo + zi * u.sCi;
  let m0 = wid.y * BM; let n0 = wid.x * BN;
  if (u.causal == 1u && n0 > m0 + BM - 1u + u.q0) { return; }
  var kBegin = 0u; var kEnd = u.K;
  if (u.causal == 2u) { kEnd = min(u.K, m0 + BM + u.q0); }
  if (u.causal == 3u && m0 > u.q0) { kBegin = ((m0 - u.q0) / BK) * BK; }
  let transA = u.transA != 0u; let transB = u.transB != 0u; let gelu = u.gelu != 0u;
  let rowSums = u.offRowSum != ${NONE}u && wid.x == 0u;
  let t = lid.x; let ty = t / 16u; let tx = t % 16u;
  var acc: array<array<f32, 4>, 4>;
  var rs: array<f32, 4>;
  for (var k0 = kBegin; k0 < kEnd; k0 = k0 + BK) {
    for (var e = 0u; e < 4u; e = e + 1u) {
      let idx = t + e * 256u;
      var mm: u32; var kk: u32;
      if (transA) { mm = idx % BM; kk = idx / BM; } else { kk = idx % BK; mm = idx / BK; }
      let gm = m0 + mm; let gk = k0 + kk;
      var v = 0.0;
      if (gm < u.M && gk < kEnd) {
        if (transA) { v = A[baseA + gk * u.lda + gm]; } else { v = A[baseA + gm * u.lda + gk]; }
      }
      As[kk * BM + mm] = v;
      var nn: u32; var kb: u32;
      if (transB) { kb = idx % BK; nn = idx / BK; } else { nn = idx % BN; kb = idx / BN; }
      let gn = n0 + nn; let gkb = k0 + kb;
      var w = 0.0;
      if (gn < u.N && gkb < kEnd) {
        if (transB) { w = Bm[baseB + gn * u.ldb + gkb]; } else { w = Bm[baseB + gkb * u.ldb + gn]; }
      }
      Bs[kb * BN + nn] = w;
    }
    workgroupBarrier();
    if (rowSums && tx == 0u) {
      for (var i = 0u; i < 4u; i = i + 1u) {
        for (var kk = 0u; kk < BK; kk = kk + 1u) { rs[i] = rs[i] + As[kk * BM + ty + 16u * i]; }
      }
    }
    for (var kk = 0u; kk < BK; kk = kk + 1u) {
      var a: array<f32, 4>; var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i = i + 1u) { a[i] = As[kk * BM + ty + 16u * i]; b[i] = Bs[kk * BN + tx + 16u * i]; }
      for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) { acc[i][j] = acc[i][j] + a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let m = m0 + ty + 16u * i;
    if (m >= u.M) { continue; }
    if (rowSums && tx == 0u) { C[u.offRowSum + m] = rs[i]; }
    for (var j = 0u; j < 4u; j = j + 1u) {
      let n = n0 + tx + 16u * j;
      if (n >= u.N) { continue; }
      var v = u.alpha * acc[i][j];
      if (u.offBias != ${NONE}u) { v = v + bias[u.offBias + n]; }
      let ci = baseC + m * u.ldc + n;
      if (u.epilogue == 2u) { v = actBackward(aux[ci], v, gelu); }
      C[ci] = v;
      if (u.epilogue == 1u) { C2[ci] = actForward(v, gelu); }
    }
  }`,
  },

  /**
   * x[r, c] = wte[idx[r], c] + pos[p0 + r % T, c], then dropout (site 0): the embeddings, for rows of one or many
   * sequences. pos is wpe in the parameters (offPos) or the sinusoid table.
   */
  embed: {
    fields: ['n', 'D', 'T', 'p0', 'offWte', 'offPos', 'sinusoid', ...DROP_FIELDS],
    floatFields: ['keepScale'],
    bindings: [
      { name: 'P', kind: 'read' }, { name: 'table', kind: 'read' }, { name: 'idx', kind: 'read', type: 'u32' },
      { name: 'x', kind: 'write' }, { name: 'seeds', kind: 'read', type: 'u32' },
    ],
    workgroup: 256,
    prelude: GRID + HASH,
    body: /* wgsl */ `
  let i = groupIndex(wid) * 256u + lid.x;
  if (i >= u.n) { return; }
  let r = i / u.D; let c = i % u.D;
  let p = u.p0 + r % u.T;
  var v = P[u.offWte + idx[r] * u.D + c];
  if (u.sinusoid != 0u) { v = v + table[p * u.D + c]; } else { v = v + P[u.offPos + p * u.D + c]; }
  if (u.drop != 0u) {
    let seed = vec2<u32>(seeds[2u * u.site], seeds[2u * u.site + 1u]);
    v = select(0.0, v * u.keepScale, keeps(seed, i, u.threshold));
  }
  x[i] = v;`,
  },

  /**
   * One row per workgroup: s = a (ADD 0) or a + dropout(b) (ADD 1, written to sum), then y = norm(s) with its mean
   * and 1/std in stats [rows, 2]. LayerNorm or RMSNorm, eps 1e-5, two passes for the variance as ops_impl.h.
   */
  norm: {
    fields: ['rows', 'D', 'offW', 'offB', 'add', 'rms', ...DROP_FIELDS],
    floatFields: ['keepScale'],
    bindings: [
      { name: 'a', kind: 'read' }, { name: 'b', kind: 'read' }, { name: 'sum', kind: 'write' }, { name: 'y', kind: 'write' },
      { name: 'stats', kind: 'write' }, { name: 'P', kind: 'read' }, { name: 'seeds', kind: 'read', type: 'u32' },
    ],
    workgroup: 256,
    prelude: GRID + HASH + REDUCE,
    body: /* wgsl */ `
  let r = groupIndex(wid);
  if (r >= u.rows) { return; }
  let t = lid.x; let base = r * u.D;
  let seed = vec2<u32>(seeds[2u * u.site], seeds[2u * u.site + 1u]);
  var s1 = 0.0;
  for (var c = t; c < u.D; c = c + 256u) {
    var v = a[base + c];
    if (u.add != 0u) {
      var w = b[base + c];
      if (u.drop != 0u) { w = select(0.0, w * u.keepScale, keeps(seed, base + c, u.threshold)); }
      v = v + w;
      sum[base + c] = v;
    }
    s1 = s1 + v;
  }
  var mu = 0.0;
  if (u.rms == 0u) { mu = reduceSum(s1, t) / f32(u.D); }
  var s2 = 0.0;
  for (var c = t; c < u.D; c = c + 256u) {
    var v: f32;
    if (u.add != 0u) { v = sum[base + c]; } else { v = a[base + c]; }
    s2 = s2 + (v - mu) * (v - mu);
  }
  let rs = 1.0 / sqrt(reduceSum(s2, t) / f32(u.D) + 1e-5);
  for (var c = t; c < u.D; c = c + 256u) {
    var v: f32;
    if (u.add != 0u) { v = sum[base + c]; } else { v = a[base + c]; }
    var o = (v - mu) * rs * P[u.offW + c];
    if (u.offB != ${NONE}u) { o = o + P[u.offB + c]; }
    y[base + c] = o;
  }
  if (t == 0u) { stats[2u * r] = mu; stats[2u * r + 1u] = rs; }`,
  },

  /**
   * A norm's backward pass over a chunk of NORM_ROWS rows per workgroup: dx (+)= rstd * (dxhat - mean(dxhat) -
   * xhat * mean(dxhat * xhat)), dxhat = dy * w (RMSNorm has no mean term); and the chunk's column sums of dy * xhat
   * and dy into part [chunks, 2, D], which normFinal adds up in chunk order: the weight and bias gradients without
   * float atomics.
   */
  normBackward: {
    fields: ['rows', 'D', 'offW', 'accumulate', 'rms'],
    bindings: [
      { name: 'dy', kind: 'read' }, { name: 'x', kind: 'read' }, { name: 'stats', kind: 'read' }, { name: 'P', kind: 'read' },
      { name: 'dx', kind: 'write' }, { name: 'part', kind: 'write' },
    ],
    workgroup: 256,
    prelude: GRID + REDUCE + /* wgsl */ `
const NORM_ROWS = ${NORM_ROWS}u;
var<workgroup> means: array<vec2<f32>, ${NORM_ROWS}>;
`,
    body: /* wgsl */ `
  let chunk = groupIndex(wid);
  let r0 = chunk * NORM_ROWS;
  if (r0 >= u.rows) { return; }
  let t = lid.x;
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

  /** The partial column sums added up in chunk order, into the gradients at offW (slot 0) and offB (slot 1). */
  normFinal: {
    fields: ['cols', 'chunks', 'offW', 'offB'],
    bindings: [{ name: 'part', kind: 'read' }, { name: 'G', kind: 'write' }],
    workgroup: 256,
    body: /* wgsl */ `
  let c = wid.x * 256u + lid.x;
  if (c >= u.cols) { return; }
  var sw = 0.0; var sb = 0.0;
  for (var k = 0u; k < u.chunks; k = k + 1u) {
    sw = sw + part[(2u * k) * u.cols + c];
    sb = sb + part[(2u * k + 1u) * u.cols + c];
  }
  G[u.offW + c] = sw;
  if (u.offB != ${NONE}u) { G[u.offB + c] = sb; }`,
  },

  /**
   * Causal softmax of the attention scores in place, one row (b, h, i) per workgroup: row r sees columns
   * j < min(q0 + i + 1, L) with i = r % Trow; the rest become 0. With dropout the dropped copy goes to Pd (the
   * mask index is the element's index in the layer's [B, H, T, T] tensor, as gpt.cc's).
   */
  attnSoftmax: {
    fields: ['rows', 'L', 'Trow', 'q0', ...DROP_FIELDS],
    floatFields: ['keepScale'],
    bindings: [{ name: 'S', kind: 'write' }, { name: 'Pd', kind: 'write' }, { name: 'seeds', kind: 'read', type: 'u32' }],
    workgroup: 256,
    prelude: GRID + HASH + REDUCE,
    body: /* wgsl */ `
  let r = groupIndex(wid);
  if (r >= u.rows) { return; }
  let t = lid.x; let base = r * u.L;
  let n = min(u.q0 + r % u.Trow + 1u, u.L);
  var m = -3.0e38;
  for (var j = t; j < n; j = j + 256u) { m = max(m, S[base + j]); }
  m = reduceMax(m, t);
  var s = 0.0;
  for (var j = t; j < n; j = j + 256u) {
    let e = exp(S[base + j] - m);
    S[base + j] = e;
    s = s + e;
  }
  let inv = 1.0 / reduceSum(s, t);
  let seed = vec2<u32>(seeds[2u * u.site], seeds[2u * u.site + 1u]);
  for (var j = t; j < u.L; j = j + 256u) {
    var p = 0.0;
    if (j < n) { p = S[base + j] * inv; }
    S[base + j] = p;
    if (u.drop != 0u) { Pd[base + j] = select(0.0, p * u.keepScale, keeps(seed, base + j, u.threshold)); }
  }`,
  },

  /**
   * The softmax's backward pass in place on dP = dy v^T, one row per workgroup: dP through the dropout mask, then
   * dS = P * (dP - P . dP) * scale, zero beyond the diagonal.
   */
  attnSoftmaxBackward: {
    fields: ['rows', 'L', 'Trow', 'q0', 'scale', ...DROP_FIELDS],
    floatFields: ['scale', 'keepScale'],
    bindings: [{ name: 'P', kind: 'read' }, { name: 'dP', kind: 'write' }, { name: 'seeds', kind: 'read', type: 'u32' }],
    workgroup: 256,
    prelude: GRID + HASH + REDUCE,
    body: /* wgsl */ `
  let r = groupIndex(wid);
  if (r >= u.rows) { return; }
  let t = lid.x; let base = r * u.L;
  let n = min(u.q0 + r % u.Trow + 1u, u.L);
  let seed = vec2<u32>(seeds[2u * u.site], seeds[2u * u.site + 1u]);
  var dot = 0.0;
  for (var j = t; j < n; j = j + 256u) {
    var d = dP[base + j];
    if (u.drop != 0u) { d = select(0.0, d * u.keepScale, keeps(seed, base + j, u.threshold)); dP[base + j] = d; }
    dot = dot + P[base + j] * d;
  }
  dot = reduceSum(dot, t);
  for (var j = t; j < u.L; j = j + 256u) {
    var v = 0.0;
    if (j < n) { v = P[base + j] * (dP[base + j] - dot) * u.scale; }
    dP[base + j] = v;
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
    bindings: [{ name: 'src', kind: 'read' }, { name: 'dst', kind: 'write' }, { name: 'seeds', kind: 'read', type: 'u32' }],
    workgroup: 256,
    prelude: GRID + HASH,
    body: /* wgsl */ `
  let i = groupIndex(wid) * 256u + lid.x;
  if (i >= u.n) { return; }
  let seed = vec2<u32>(seeds[2u * u.site], seeds[2u * u.site + 1u]);
  dst[i] = select(0.0, src[i] * u.keepScale, keeps(seed, i, u.threshold));`,
  },

  /**
   * dwte[tok] += the sum of dx over the rows holding tok, for every token of the batch: rows are grouped by token on
   * the host (csr: U, the U tokens, U + 1 starts, then the rows in order), so each gradient row has one writer and no
   * float atomics are needed; the grid covers min(V, M) tokens. dx goes through the embeddings' dropout mask first.
   */
  embedBackward: {
    fields: ['D', 'offWte', ...DROP_FIELDS],
    floatFields: ['keepScale'],
    bindings: [
      { name: 'dx', kind: 'read' }, { name: 'csr', kind: 'read', type: 'u32' }, { name: 'G', kind: 'write' },
      { name: 'seeds', kind: 'read', type: 'u32' },
    ],
    workgroup: 256,
    prelude: GRID + HASH,
    body: /* wgsl */ `
  let U = csr[0];
  let i = groupIndex(wid) * 256u + lid.x;
  if (i >= U * u.D) { return; }
  let k = i / u.D; let c = i % u.D;
  let seed = vec2<u32>(seeds[2u * u.site], seeds[2u * u.site + 1u]);
  var s = 0.0;
  for (var e = csr[1u + U + k]; e < csr[2u + U + k]; e = e + 1u) {
    let at = csr[2u + 2u * U + e] * u.D + c;
    var g = dx[at];
    if (u.drop != 0u) { g = select(0.0, g * u.keepScale, keeps(seed, at, u.threshold)); }
    s = s + g;
  }
  let w = u.offWte + csr[1u + k] * u.D + c;
  G[w] = G[w] + s;`,
  },

  /** dwpe[t] = the sum over the batch of dx at position t (0 for positions the batch does not reach). */
  positionBackward: {
    fields: ['ctx', 'T', 'B', 'D', 'offWpe', ...DROP_FIELDS],
    floatFields: ['keepScale'],
    bindings: [{ name: 'dx', kind: 'read' }, { name: 'G', kind: 'write' }, { name: 'seeds', kind: 'read', type: 'u32' }],
    workgroup: 256,
    prelude: GRID + HASH,
    body: /* wgsl */ `
  let i = groupIndex(wid) * 256u + lid.x;
  if (i >= u.ctx * u.D) { return; }
  let p = i / u.D; let c = i % u.D;
  let seed = vec2<u32>(seeds[2u * u.site], seeds[2u * u.site + 1u]);
  var s = 0.0;
  if (p < u.T) {
    for (var b = 0u; b < u.B; b = b + 1u) {
      let at = (b * u.T + p) * u.D + c;
      var g = dx[at];
      if (u.drop != 0u) { g = select(0.0, g * u.keepScale, keeps(seed, at, u.threshold)); }
      s = s + g;
    }
  }
  G[u.offWpe + i] = s;`,
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
   * One workgroup: the gradient norm from the partial sums, the mean loss from the row losses, the clip factor of
   * clip_grad_norm_ and whether the step applies (both finite): stats = [loss, gradNorm, clip, applied].
   */
  finish: {
    fields: ['parts', 'rows', 'gradClip'],
    floatFields: ['gradClip'],
    bindings: [{ name: 'part', kind: 'read' }, { name: 'losses', kind: 'read' }, { name: 'stats', kind: 'write' }],
    workgroup: 256,
    prelude: REDUCE + FINITE,
    body: /* wgsl */ `
  let t = lid.x;
  var s = vec2<f32>(0.0, 0.0);
  for (var i = t; i < u.parts; i = i + 256u) { s.x = s.x + part[i]; }
  for (var i = t; i < u.rows; i = i + 256u) { s.y = s.y + losses[i]; }
  s = reduceSum2(s, t);
  if (t == 0u) {
    let norm = sqrt(s.x);
    let loss = s.y / f32(u.rows);
    var clip = 1.0;
    if (u.gradClip > 0.0) { clip = min(1.0, u.gradClip / (norm + 1e-6)); }
    stats[0] = loss; stats[1] = norm; stats[2] = clip;
    stats[3] = select(0.0, 1.0, isFinite(loss) && isFinite(norm));
  }`,
  },

  /**
   * torch.optim.AdamW in torch's order, with the clipped gradient: p *= 1 - lr wd; m = b1 m + (1 - b1) g;
   * v = b2 v + (1 - b2) g^2; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps). Nothing changes unless stats says applied.
   */
  adamw: {
    fields: ['n', 'b1', 'b2', 'omb1', 'omb2', 'eps', 'decay', 'step', 'bc2s'],
    floatFields: ['b1', 'b2', 'omb1', 'omb2', 'eps', 'decay', 'step', 'bc2s'],
    bindings: [
      { name: 'P', kind: 'write' }, { name: 'G', kind: 'read' }, { name: 'm', kind: 'write' }, { name: 'v', kind: 'write' },
      { name: 'stats', kind: 'read' },
    ],
    workgroup: 256,
    prelude: GRID,
    body: /* wgsl */ `
  let i = groupIndex(wid) * 256u + lid.x;
  if (i >= u.n || stats[3] == 0.0) { return; }
  let g = G[i] * stats[2];
  let mi = m[i] * u.b1 + g * u.omb1;
  let vi = v[i] * u.b2 + (g * g) * u.omb2;
  m[i] = mi;
  v[i] = vi;
  P[i] = P[i] * u.decay - (mi / (sqrt(vi) / u.bc2s + u.eps)) * u.step;`,
  },

  /** Decoding: the keys and values of n new rows [n, 3D] join the layer's cache [ctx, D] at positions p0... */
  kvStore: {
    fields: ['n', 'D', 'p0'],
    bindings: [{ name: 'qkv', kind: 'read' }, { name: 'K', kind: 'write' }, { name: 'Vc', kind: 'write' }],
    workgroup: 256,
    prelude: GRID,
    body: /* wgsl */ `
  let i = groupIndex(wid) * 256u + lid.x;
  if (i >= u.n * u.D) { return; }
  let r = i / u.D; let c = i % u.D;
  K[(u.p0 + r) * u.D + c] = qkv[r * 3u * u.D + u.D + c];
  Vc[(u.p0 + r) * u.D + c] = qkv[r * 3u * u.D + 2u * u.D + c];`,
  },
} satisfies Record<string, KernelSpec>;

export type KernelName = keyof typeof KERNELS;

/** The WGSL module of a kernel: its uniform struct, bindings, helpers and main. */
export function kernelSource(name: KernelName): string {
  const k: KernelSpec = KERNELS[name];
  const floats = new Set(k.floatFields ?? []);
  const struct = `struct Uniforms {\n${k.fields.map((f) => `  ${f}: ${floats.has(f) ? 'f32' : 'u32'},`).join('\n')}\n}`;
  const bindings = k.bindings.map((b, i) => {
    const access = b.kind === 'write' ? 'read_write' : 'read';
    return `@group(0) @binding(${i + 1}) var<storage, ${access}> ${b.name}: array<${b.type ?? 'f32'}>;`;
  });
  return [
    struct,
    '@group(0) @binding(0) var<uniform> u: Uniforms;',
    ...bindings,
    k.prelude ?? '',
    `@compute @workgroup_size(${k.workgroup})`,
    'fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {',
    k.body,
    '}',
  ].join('\n');
}

/** Bytes of a kernel's uniform block, rounded to 16 as WGSL lays a struct of scalars out. */
export function uniformBytes(name: KernelName): number {
  return Math.ceil((KERNELS[name].fields.length * 4) / 16) * 16;
}
