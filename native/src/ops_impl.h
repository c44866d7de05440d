// The native GPT's element-wise kernels (contracts in ops.h). Included by each ISA translation unit after
// gemm_impl.h, whose vector types (vf, vfu, vi: GEMM_VL floats) and vexp it uses. Builtins only, no library code.

__attribute__((always_inline)) inline vf vld(const float* p) { return *(const vfu*)p; }
__attribute__((always_inline)) inline void vst(float* p, vf v) { *(vfu*)p = v; }
__attribute__((always_inline)) inline vf vset(float x) { return (vf){} + x; }
// Horizontal sum and max as pairwise trees: log2(VL) dependent steps instead of a chain of VL (plain C++ for every
// compiler; GCC's __builtin_shuffle is not portable and measured no faster here).
template <bool MAX>
__attribute__((always_inline)) inline float vreduce(vf v) {
  float t[VL];
  __builtin_memcpy(t, &v, sizeof(t));
#pragma GCC unroll 8
  for (int w = VL / 2; w >= 1; w /= 2)
#pragma GCC unroll 8
    for (int i = 0; i < w; i++) {
      if constexpr (MAX) t[i] = t[i + w] > t[i] ? t[i + w] : t[i];
      else t[i] += t[i + w];
    }
  return t[0];
}
__attribute__((always_inline)) inline float vsum(vf v) { return vreduce<false>(v); }
__attribute__((always_inline)) inline float vmaxall(vf v) { return vreduce<true>(v); }

// The first n (< VL) lanes of p, the rest filled with `fill`.
__attribute__((always_inline)) inline vf vld_part(const float* p, long n, float fill) {
  vf v = vset(fill);
  for (long i = 0; i < n; i++) v[i] = p[i];
  return v;
}
__attribute__((always_inline)) inline void vst_part(float* p, vf v, long n) {
  for (long i = 0; i < n; i++) p[i] = v[i];
}
// n floats, a whole vector when n >= VL (the rest of a row, say), else the first n lanes (the others 0 when loading).
__attribute__((always_inline)) inline vf vld_n(const float* p, long n) {
  return n >= VL ? vld(p) : vld_part(p, n, 0.0f);
}
__attribute__((always_inline)) inline void vst_n(float* p, vf v, long n) {
  if (n >= VL) vst(p, v);
  else vst_part(p, v, n);
}

inline float row_sum(const float* x, long n) {
  vf a0 = {}, a1 = {};
  long i = 0;
  for (; i + 2 * VL <= n; i += 2 * VL) {
    a0 += vld(x + i);
    a1 += vld(x + i + VL);
  }
  for (; i + VL <= n; i += VL) a0 += vld(x + i);
  float s = vsum(a0 + a1);
  for (; i < n; i++) s += x[i];
  return s;
}

inline float row_max(const float* x, long n) {
  long i = 0;
  float m = -__builtin_inff();
  if (n >= VL) {
    vf a = vld(x);
    for (i = VL; i + VL <= n; i += VL) {
      const vf b = vld(x + i);
      a = b > a ? b : a;
    }
    m = vmaxall(a);
  }
  for (; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

// ------------------------------------------------------------------ norms

void norm_forward(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, long rows,
                  long D, int rms) {
  for (long r = 0; r < rows; r++) {
    const float* xr = x + r * D;
    float* yr = y + r * D;
    const float mu = rms ? 0.0f : row_sum(xr, D) / (float)D;
    const vf vmu = vset(mu);
    vf acc = {};
    long i = 0;
    for (; i + VL <= D; i += VL) {
      const vf d = vld(xr + i) - vmu;
      acc += d * d;
    }
    float ss = vsum(acc);
    for (; i < D; i++) ss += (xr[i] - mu) * (xr[i] - mu);
    const float rs = 1.0f / __builtin_sqrtf(ss / (float)D + gptlab::kNormEps);
    const vf vrs = vset(rs);
    i = 0;
    if (b) {
      for (; i + VL <= D; i += VL) vst(yr + i, (vld(xr + i) - vmu) * vrs * vld(w + i) + vld(b + i));
      for (; i < D; i++) yr[i] = (xr[i] - mu) * rs * w[i] + b[i];
    } else {
      for (; i + VL <= D; i += VL) vst(yr + i, (vld(xr + i) - vmu) * vrs * vld(w + i));
      for (; i < D; i++) yr[i] = (xr[i] - mu) * rs * w[i];
    }
    mean[r] = mu;
    rstd[r] = rs;
  }
}

void norm_backward(const float* dy, const float* x, const float* mean, const float* rstd, const float* w, float* dx,
                   float* dw, float* db, long rows, long D, int rms) {
  for (long r = 0; r < rows; r++) {
    const float* dyr = dy + r * D;
    const float* xr = x + r * D;
    float* dxr = dx + r * D;
    const float mu = mean[r], rs = rstd[r];
    const vf vmu = vset(mu), vrs = vset(rs);
    // dxhat = dy * w;  s1 = sum(dxhat), s2 = sum(dxhat * xhat); dw += dy * xhat; db += dy
    vf s1v = {}, s2v = {};
    long i = 0;
    for (; i + VL <= D; i += VL) {
      const vf g = vld(dyr + i);
      const vf xhat = (vld(xr + i) - vmu) * vrs;
      const vf dxhat = g * vld(w + i);
      s1v += dxhat;
      s2v += dxhat * xhat;
      vst(dw + i, vld(dw + i) + g * xhat);
      if (db) vst(db + i, vld(db + i) + g);
    }
    float s1 = vsum(s1v), s2 = vsum(s2v);
    for (; i < D; i++) {
      const float xhat = (xr[i] - mu) * rs;
      const float dxhat = dyr[i] * w[i];
      s1 += dxhat;
      s2 += dxhat * xhat;
      dw[i] += dyr[i] * xhat;
      if (db) db[i] += dyr[i];
    }
    // dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)); RMSNorm has no mean term.
    const float m1 = rms ? 0.0f : s1 / (float)D, m2 = s2 / (float)D;
    const vf vm1 = vset(m1), vm2 = vset(m2);
    i = 0;
    for (; i + VL <= D; i += VL) {
      const vf xhat = (vld(xr + i) - vmu) * vrs;
      const vf dxhat = vld(dyr + i) * vld(w + i);
      vst(dxr + i, vld(dxr + i) + vrs * (dxhat - vm1 - xhat * vm2));
    }
    for (; i < D; i++) {
      const float xhat = (xr[i] - mu) * rs;
      dxr[i] += rs * (dyr[i] * w[i] - m1 - xhat * m2);
    }
  }
}

// ------------------------------------------------------------------ activations

// Phi(x) = 0.5 * erfc(-x / sqrt 2), the standard normal CDF, so gelu(x) = x * Phi(x). erfc is Numerical Recipes'
// Chebyshev fit (relative error < 1.2e-7), with -z^2 split into two floats so that exp's argument keeps full
// precision; gelu's relative error is then a few 1e-7 wherever |gelu| > 1e-8.
__attribute__((always_inline)) inline vf vphi(vf x) {
  const vf u = x * -0.70710678118654752f;
  const vf z = u < 0.0f ? -u : u;
  const vf t = 1.0f / (z * 0.5f + 1.0f);
  const vf hi = z * z;
  const vf lo = z * z - hi;  // the rounding error of hi where FMA contraction is available, else 0
  vf p = t * (t * 0.17087277f - 0.82215223f);
  p = t * (p + 1.48851587f);
  p = t * (p - 1.13520398f);
  p = t * (p + 0.27886807f);
  p = t * (p - 0.18628806f);
  p = t * (p + 0.09678418f);
  p = t * (p + 0.37409196f);
  p = t * (p + 1.00002368f);
  const vf e = t * vexp(p - hi - lo - 1.26551223f);
  const vf erfc = u >= 0.0f ? e : 2.0f - e;
  return erfc * 0.5f;
}

void act_forward(const float* h, float* a, long n, int gelu) {
  long i = 0;
  if (!gelu) {
    for (; i + VL <= n; i += VL) {
      const vf x = vld(h + i);
      vst(a + i, x > 0.0f ? x : (vf){});
    }
    for (; i < n; i++) a[i] = h[i] > 0.0f ? h[i] : 0.0f;
    return;
  }
  for (; i + VL <= n; i += VL) {
    const vf x = vld(h + i);
    vst(a + i, x * vphi(x));
  }
  if (i < n) {
    const vf x = vld_part(h + i, n - i, 0.0f);
    vst_part(a + i, x * vphi(x), n - i);
  }
}

void act_backward(const float* h, const float* da, float* dh, long n, int gelu) {
  long i = 0;
  if (!gelu) {
    for (; i + VL <= n; i += VL) {
      const vf x = vld(h + i), g = vld(da + i);
      vst(dh + i, x > 0.0f ? g : (vf){});
    }
    for (; i < n; i++) dh[i] = h[i] > 0.0f ? da[i] : 0.0f;
    return;
  }
  // d/dx [x Phi(x)] = Phi(x) + x phi(x), phi(x) = exp(-x^2/2) / sqrt(2 pi)
  for (; i + VL <= n; i += VL) {
    const vf x = vld(h + i);
    const vf pdf = vexp(x * x * -0.5f) * 0.3989422804014327f;
    vst(dh + i, vld(da + i) * (vphi(x) + x * pdf));
  }
  if (i < n) {
    const vf x = vld_part(h + i, n - i, 0.0f);
    const vf g = vld_part(da + i, n - i, 0.0f);
    const vf pdf = vexp(x * x * -0.5f) * 0.3989422804014327f;
    vst_part(dh + i, g * (vphi(x) + x * pdf), n - i);
  }
}

// ------------------------------------------------------------------ softmax and cross-entropy

// sum over [0, n) of exp(x - m); with store, x is overwritten by those exponentials.
inline float exp_shifted(float* x, long n, float m, int store) {
  const vf vm = vset(m);
  vf acc = {};
  long i = 0;
  for (; i + VL <= n; i += VL) {
    const vf e = vexp(vld(x + i) - vm);
    acc += e;
    if (store) vst(x + i, e);
  }
  if (i < n) {
    const vf e = vexp(vld_part(x + i, n - i, -__builtin_inff()) - vm);  // padding lanes give exp(-inf) = 0
    acc += e;
    if (store) vst_part(x + i, e, n - i);
  }
  return vsum(acc);
}

inline void scale_row(float* x, long n, float s) {
  const vf vs = vset(s);
  long i = 0;
  for (; i + VL <= n; i += VL) vst(x + i, vld(x + i) * vs);
  for (; i < n; i++) x[i] *= s;
}

double softmax_xent(float* z, const int* y, float* losses, long rows, long V, float scale, int grad) {
  double total = 0.0;
  for (long r = 0; r < rows; r++) {
    float* zr = z + r * V;
    const float m = row_max(zr, V);
    const float zy = zr[y[r]];
    const float sum = exp_shifted(zr, V, m, grad);
    const double loss = (double)m + __builtin_log((double)sum) - (double)zy;
    total += loss;
    if (losses) losses[r] = (float)loss;
    if (grad) {
      scale_row(zr, V, scale / sum);
      zr[y[r]] -= scale;
    }
  }
  return total;
}

// Lane i of a vector holds i: with it, lanes past a row's end are masked without scalar tail loops.
__attribute__((always_inline)) inline vf lane_index() {
  vf v;
#pragma GCC unroll 16
  for (int i = 0; i < VL; i++) v[i] = (float)i;
  return v;
}

void causal_softmax(float* S, long ld, long rows, long q0, long ncols) {
  const vf lanes = lane_index();
  const vf ninf = vset(-__builtin_inff());
  for (long r = 0; r < rows; r++) {
    float* s = S + r * ld;
    long n = q0 + r + 1;
    if (n > ncols) n = ncols;
    const long span = ((n + VL - 1) / VL) * VL;  // whole vectors covering [0, n); lanes >= n are masked
    vf mx = ninf;
    for (long j = 0; j < span; j += VL) {
      const vf v = vld_n(s + j, ncols - j);
      mx = (lanes + (float)j) < (float)n ? (v > mx ? v : mx) : mx;
    }
    const vf m = vset(vmaxall(mx));
    vf acc = {};
    for (long j = 0; j < span; j += VL) {
      const vf v = (lanes + (float)j) < (float)n ? vld_n(s + j, ncols - j) : ninf;
      const vf e = vexp(v - m);  // masked lanes: exp(-inf) = 0, exactly what lies beyond the diagonal
      acc += e;
      vst_n(s + j, e, ncols - j);
    }
    const vf inv = vset(1.0f / vsum(acc));
    for (long j = 0; j < span; j += VL) vst_n(s + j, vld_n(s + j, ncols - j) * inv, ncols - j);
    if (span < ncols) __builtin_memset(s + span, 0, sizeof(float) * (ncols - span));
  }
}

void softmax_backward(const float* P, long ldp, float* dP, long ldd, long rows, long q0, long ncols, float scale) {
  const vf lanes = lane_index();
  for (long r = 0; r < rows; r++) {
    const float* p = P + r * ldp;
    float* d = dP + r * ldd;
    long n = q0 + r + 1;
    if (n > ncols) n = ncols;
    const long span = ((n + VL - 1) / VL) * VL;
    // P is 0 beyond the diagonal, so whole vectors over [0, span) give the same dot product.
    vf acc = {};
    for (long j = 0; j < span; j += VL) {
      const vf pv = vld_n(p + j, ncols - j);
      const vf dv = (lanes + (float)j) < (float)n ? vld_n(d + j, ncols - j) : (vf){};
      acc += pv * dv;
    }
    const vf vdot = vset(vsum(acc)), vs = vset(scale);
    for (long j = 0; j < span; j += VL) {
      const vf out = vld_n(p + j, ncols - j) * (vld_n(d + j, ncols - j) - vdot) * vs;
      vst_n(d + j, (lanes + (float)j) < (float)n ? out : (vf){}, ncols - j);
    }
    if (span < ncols) __builtin_memset(d + span, 0, sizeof(float) * (ncols - span));
  }
}

// ------------------------------------------------------------------ attention, one head
// Register-tiled loops for one (batch, head), reading the operands in place: the matrices are [T, hs] with hs a few
// dozen, where a packed GEMM spends as long packing as multiplying. All are causal: row i involves columns j <= i.
// Tiles are compile-time sized so the accumulators stay in registers.

// Rows r < rows of out (stride ldo), columns [d0, d0 + ND*VL) clipped to dn:
//   out[r] = (or +=) scale * sum over k in [k0, k1) of w[r*wr + k*wk] * x[k]   (x: rows of stride ldx)
// One tile serves every attention product: q k^T (x = k transposed), P v (weights along a row) and P^T x (weights
// down a column).
template <int R, int ND>
__attribute__((always_inline)) inline void weighted_rows_tile(const float* w, long wr, long wk, const float* x,
                                                              long ldx, long k0, long k1, long d0, long dn, float* out,
                                                              long ldo, long rows, bool accumulate, float scale) {
  vf acc[R][ND];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < ND; c++) acc[r][c] = (vf){};
  const float* wrow[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) wrow[r] = w + (r < rows ? r : rows - 1) * wr;  // padding rows repeat the last one
  const bool full = dn - d0 >= ND * VL;
  for (long k = k0; k < k1; k++) {
    vf xv[ND];
    const float* xk = x + k * ldx + d0;
#pragma GCC unroll 4
    for (int c = 0; c < ND; c++) xv[c] = full ? vld(xk + c * VL) : vld_n(xk + c * VL, dn - d0 - c * VL);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      const float a = wrow[r][k * wk];
#pragma GCC unroll 4
      for (int c = 0; c < ND; c++) acc[r][c] = vmadd(acc[r][c], xv[c], a);
    }
  }
  for (int r = 0; r < R && r < rows; r++)
#pragma GCC unroll 4
    for (int c = 0; c < ND; c++) {
      const long off = d0 + c * VL;
      if (off >= dn) break;
      float* dst = out + r * ldo + off;
      const vf v = acc[r][c] * scale;
      vst_n(dst, accumulate ? vld_n(dst, dn - off) + v : v, dn - off);
    }
}

// S[i, j] = scale * q[i] . k[j] for j <= i (entries a little past the diagonal may be written too; causal_softmax
// masks them). kT: scratch of hs * roundup(T, 2 VL) floats.
void attn_scores(const float* q, long ldq, const float* k, long ldk, long T, long hs, float scale, float* S, long lds,
                 float* kT) {
  constexpr int R = 6, NJ = 2;
  const long Tp = ((T + NJ * VL - 1) / (NJ * VL)) * (NJ * VL);
  for (long d = 0; d < hs; d++) {
    float* row = kT + d * Tp;
    for (long j = 0; j < T; j++) row[j] = k[j * ldk + d];
    for (long j = T; j < Tp; j++) row[j] = 0.0f;
  }
  for (long i0 = 0; i0 < T; i0 += R) {
    const long rows = T - i0 < R ? T - i0 : R;
    for (long j0 = 0; j0 < i0 + rows; j0 += NJ * VL)
      weighted_rows_tile<R, NJ>(q + i0 * ldq, ldq, 1, kT, Tp, 0, hs, j0, T, S + i0 * lds, lds, rows, false, scale);
  }
}

// y[i] = sum over j <= i of P[i, j] v[j] (P zero beyond the diagonal), tiles of rows x the head dimension.
void attn_apply(const float* P, long ldp, const float* v, long ldv, long T, long hs, float* y, long ldy) {
  constexpr int R = 6, ND = 2;
  for (long d0 = 0; d0 < hs; d0 += ND * VL)
    for (long i0 = 0; i0 < T; i0 += R) {
      const long rows = T - i0 < R ? T - i0 : R;
      weighted_rows_tile<R, ND>(P + i0 * ldp, ldp, 1, v, ldv, 0, i0 + rows, d0, hs, y + i0 * ldy, ldy, rows, false,
                                1.0f);
    }
}

// out[j] += sum over i >= j of W[i, j] x[i] (W zero beyond the diagonal): the transposed product, for dk and dv.
void attn_apply_t(const float* W, long ldw, const float* x, long ldx, long T, long hs, float* out, long ldo) {
  constexpr int R = 6, ND = 2;
  for (long d0 = 0; d0 < hs; d0 += ND * VL)
    for (long j0 = 0; j0 < T; j0 += R) {
      const long cols = T - j0 < R ? T - j0 : R;
      weighted_rows_tile<R, ND>(W + j0, 1, ldw, x, ldx, j0, T, d0, hs, out + j0 * ldo, ldo, cols, true, 1.0f);
    }
}

// ------------------------------------------------------------------ optimiser

// Plain loops: the compiler vectorises them for this translation unit's ISA (sqrt included, with -fno-math-errno).
void adamw(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v, long n,
           const float* h) {
  const float lr = h[0], b1 = h[1], b2 = h[2], eps = h[3], wd = h[4], bc1 = h[5], bc2s = h[6], clip = h[7];
  const float omb1 = 1.0f - b1, omb2 = 1.0f - b2, decay = 1.0f - lr * wd, step = lr / bc1;
  // torch's order: p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= step * m / (sqrt(v)/bc2s + eps)
  if (clip == 1.0f) {
    for (long i = 0; i < n; i++) {
      const float gi = g[i];
      const float mi = m[i] * b1 + gi * omb1;
      const float vi = v[i] * b2 + (gi * gi) * omb2;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay - (mi / (__builtin_sqrtf(vi) / bc2s + eps)) * step;
    }
  } else {
    for (long i = 0; i < n; i++) {
      const float gi = g[i] * clip;
      const float mi = m[i] * b1 + gi * omb1;
      const float vi = v[i] * b2 + (gi * gi) * omb2;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay - (mi / (__builtin_sqrtf(vi) / bc2s + eps)) * step;
    }
  }
}

double sum_squares(const float* x, long n) {
  // float partial sums per block of 4096, accumulated in double
  double total = 0.0;
  for (long i0 = 0; i0 < n; i0 += 4096) {
    const long i1 = i0 + 4096 < n ? i0 + 4096 : n;
    vf a0 = {}, a1 = {};
    long i = i0;
    for (; i + 2 * VL <= i1; i += 2 * VL) {
      const vf u = vld(x + i), w = vld(x + i + VL);
      a0 += u * u;
      a1 += w * w;
    }
    for (; i + VL <= i1; i += VL) {
      const vf u = vld(x + i);
      a0 += u * u;
    }
    double part = (double)vsum(a0 + a1);
    for (; i < i1; i++) part += (double)x[i] * x[i];
    total += part;
  }
  return total;
}

void col_sum(const float* X, long rows, long cols, long ld, float* out) {
  for (long c = 0; c < cols; c++) out[c] = 0.0f;
  for (long r = 0; r < rows; r++) {
    const float* x = X + r * ld;
    long c = 0;
    for (; c + VL <= cols; c += VL) vst(out + c, vld(out + c) + vld(x + c));
    for (; c < cols; c++) out[c] += x[c];
  }
}

void add(const float* a, const float* b, float* out, long n) {
  long i = 0;
  for (; i + VL <= n; i += VL) vst(out + i, vld(a + i) + vld(b + i));
  for (; i < n; i++) out[i] = a[i] + b[i];
}

gptlab::OpsKernel ops_table() {
  return gptlab::OpsKernel{&norm_forward,     &norm_backward, &act_forward, &act_backward, &softmax_xent,
                           &causal_softmax,   &softmax_backward, &attn_scores, &attn_apply, &attn_apply_t,
                           &adamw,            &sum_squares,   &col_sum,     &add};
}
