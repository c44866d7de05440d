// Blocked, packed GEMM driver + register-tiled micro-kernel written with GCC
// vector extensions. Included (inside an anonymous namespace) by kernel_unit.h,
// once per ISA, with GEMM_VL (floats per vector), GEMM_MR (rows of the register
// tile) and GEMM_NV (vectors per row of the register tile) defined.
// Everything here has internal linkage, so code generated for one ISA can never
// be picked by the linker for another.

typedef float vf __attribute__((vector_size(GEMM_VL * 4)));
typedef float vfu __attribute__((vector_size(GEMM_VL * 4), aligned(4)));

constexpr int VL = GEMM_VL;
constexpr int MR = GEMM_MR;
constexpr int NV = GEMM_NV;
constexpr int NR = NV * GEMM_VL;
constexpr long MC = (gptlab::kMCMax / MR) * MR;
constexpr long KC = gptlab::kKC;
constexpr long NC = gptlab::kNC;

static_assert(NR <= gptlab::kNRMax, "NR too large");

// acc + a * b. Native builds fuse this into one FMA where the ISA has it (-ffp-contract=fast). WebAssembly's fused
// multiply-add is relaxed SIMD's madd, whose rounding is the host's (fused where the CPU has FMA), so clang never
// contracts into it: the relaxed-SIMD build (scripts/build-wasm.js, -mrelaxed-simd) asks for it by name.
__attribute__((always_inline)) inline vf vmadd(vf acc, vf a, vf b) {
#if defined(__wasm_relaxed_simd__)
  return __builtin_wasm_relaxed_madd_f32x4(a, b, acc);
#else
  return acc + a * b;
#endif
}

// acc + a * s, s on every lane.
__attribute__((always_inline)) inline vf vmadd(vf acc, vf a, float s) {
#if defined(__wasm_relaxed_simd__)
  static_assert(VL == 4, "wasm vectors hold 4 floats");
  return __builtin_wasm_relaxed_madd_f32x4(a, (vf){s, s, s, s}, acc);
#else
  return acc + a * s;
#endif
}

// A whole C tile = alpha * acc + beta * C + bias: BETA 0 never reads C, BETA 1 adds it without a multiply, any other
// BETA multiplies it by beta.
template <int BETA>
__attribute__((always_inline)) inline void store_tile(const vf (&acc)[MR][NV], const vf (&bv)[NV], float* __restrict c,
                                                      long ldc, float alpha, float beta) {
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) {
      vfu* p = (vfu*)(c + i * ldc + j * VL);
      if constexpr (BETA == 0) *p = acc[i][j] * alpha + bv[j];
      else if constexpr (BETA == 1) *p = acc[i][j] * alpha + *p + bv[j];
      else *p = acc[i][j] * alpha + *p * beta + bv[j];
    }
}

// C tile (mr x nr valid) = alpha * acc + beta * C (+ bias, nr floats, when set)
__attribute__((always_inline)) inline void micro_kernel(long kc, const float* __restrict a,
                                                        const float* __restrict b,
                                                        float* __restrict c, long ldc,
                                                        float alpha, float beta, int mr,
                                                        int nr, const float* __restrict bias) {
  // Bring the C tile towards L1 while the k loop runs: a store to a cold line otherwise stalls on the
  // read-for-ownership, which costs a large output (the [B*T, V] logits) half its speed.
  for (int i = 0; i < mr; i++) {
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + nr - 1, 1, 3);
  }
  vf acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) acc[i][j] = (vf){};

  for (long k = 0; k < kc; k++) {
    vf bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) bv[j] = *(const vf*)(b + j * VL);
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
      const float av = a[i];
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) acc[i][j] = vmadd(acc[i][j], bv[j], av);
    }
    a += MR;
    b += NR;
  }

  if (mr == MR && nr == NR) {
    vf bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; j++) bv[j] = bias ? *(const vfu*)(bias + j * VL) : (vf){};
    if (beta == 0.0f) store_tile<0>(acc, bv, c, ldc, alpha, beta);
    else if (beta == 1.0f) store_tile<1>(acc, bv, c, ldc, alpha, beta);
    else store_tile<2>(acc, bv, c, ldc, alpha, beta);
  } else {
    alignas(64) float tmp[MR * NR];
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
      for (int j = 0; j < NV; j++) *(vf*)(tmp + i * NR + j * VL) = acc[i][j];
    for (int i = 0; i < mr; i++) {
      float* crow = c + i * ldc;
      const float* trow = tmp + i * NR;
      if (beta == 0.0f) {
        for (int j = 0; j < nr; j++) crow[j] = alpha * trow[j] + (bias ? bias[j] : 0.0f);
      } else {
        for (int j = 0; j < nr; j++) crow[j] = alpha * trow[j] + beta * crow[j] + (bias ? bias[j] : 0.0f);
      }
    }
  }
}

// Pack rows [0, mc) x depth [0, kc) of op(A) into MR-row panels: panel-major,
// then k, then r. Rows past mc are zero-filled.
inline void pack_a(long mc, long kc, const float* __restrict A, long lda, int transA,
                   float* __restrict dst) {
  if (transA) {
    // op(A)(i, k) = A[k * lda + i]: contiguous along i. Row k of A is read once, front to back, and scattered to
    // every panel (walking one panel's column down the rows instead defeats the prefetcher when lda is large).
    const long panels = (mc + MR - 1) / MR;
    for (long k = 0; k < kc; k++) {
      const float* src = A + k * lda;
      for (long p = 0; p < panels; p++) {
        float* d = dst + p * MR * kc + k * MR;
        const long ir = p * MR;
        if (ir + MR <= mc) {
#pragma GCC unroll 32
          for (int r = 0; r < MR; r++) d[r] = src[ir + r];
        } else {
          int r = 0;
          for (; ir + r < mc; r++) d[r] = src[ir + r];
          for (; r < MR; r++) d[r] = 0.0f;
        }
      }
    }
    return;
  }
  // op(A)(i, k) = A[i * lda + k]
  for (long ir = 0; ir < mc; ir += MR) {
    const int mr = (int)((mc - ir) < MR ? (mc - ir) : MR);
    if (mr == MR) {
      const float* rows[MR];
#pragma GCC unroll 32
      for (int r = 0; r < MR; r++) rows[r] = A + (ir + r) * lda;
      for (long k = 0; k < kc; k++) {
        float* d = dst + k * MR;
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++) d[r] = rows[r][k];
      }
    } else {
      for (long k = 0; k < kc; k++) {
        float* d = dst + k * MR;
        int r = 0;
        for (; r < mr; r++) d[r] = A[(ir + r) * lda + k];
        for (; r < MR; r++) d[r] = 0.0f;
      }
    }
    dst += MR * kc;
  }
}

// Pack depth [0, kc) x columns [0, nc) of op(B) into NR-column panels:
// panel-major, then k, then c. Columns past nc are zero-filled.
inline void pack_b(long kc, long nc, const float* __restrict B, long ldb, int transB,
                   float* __restrict dst) {
  for (long jr = 0; jr < nc; jr += NR) {
    const int nr = (int)((nc - jr) < NR ? (nc - jr) : NR);
    if (!transB) {
      // op(B)(k, j) = B[k * ldb + j]: contiguous along j.
      for (long k = 0; k < kc; k++) {
        const float* src = B + k * ldb + jr;
        float* d = dst + k * NR;
        if (nr == NR) {
#pragma GCC unroll 4
          for (int j = 0; j < NV; j++) *(vf*)(d + j * VL) = *(const vfu*)(src + j * VL);
        } else {
          int c = 0;
          for (; c < nr; c++) d[c] = src[c];
          for (; c < NR; c++) d[c] = 0.0f;
        }
      }
    } else {
      // op(B)(k, j) = B[j * ldb + k]: contiguous along k. Process VL-deep
      // slabs: gather an NR x VL block with vector loads, transpose via tmp.
      if (nr < NR) {
        for (long k = 0; k < kc; k++)
          for (int c = 0; c < NR; c++) dst[k * NR + c] = 0.0f;
      }
      long k = 0;
      for (; k + VL <= kc; k += VL) {
        for (int c = 0; c < nr; c++) {
          vf v = *(const vfu*)(B + (jr + c) * ldb + k);
#pragma GCC unroll 16
          for (int q = 0; q < VL; q++) dst[(k + q) * NR + c] = v[q];
        }
      }
      for (; k < kc; k++)
        for (int c = 0; c < nr; c++) dst[k * NR + c] = B[(jr + c) * ldb + k];
    }
    dst += NR * kc;
  }
}

// ------------------------------------------------------------------ a few rows times a weight
// C = alpha A B^T (+ beta C, + bias) when A has a few rows and B is a weight in nn.Linear's [out, in] layout: both
// operands are contiguous along k, so every output is a dot product and nothing is packed. Packing B costs as much
// as the whole product when A has one row (decoding a token, a hover's window); here each block of RD_J weight rows
// is read once from memory and reused from L1 for every block of RD_I rows of A.
#ifndef GEMM_RD_J
#define GEMM_RD_J 4
#endif
constexpr int RD_I = 4;
constexpr int RD_J = GEMM_RD_J;
static_assert(RD_I * RD_J % VL == 0 && (VL & (VL - 1)) == 0, "rowdot reduces its accumulators VL at a time");

// The dot products' horizontal sums, VL accumulators at once, in log2(VL) rounds of two shuffles and an add (instead
// of VL-1 scalar adds each). Each round halves every accumulator's block of lanes and interleaves the blocks of two
// vectors; after the last round lane p holds the whole sum of accumulator kOwner[p].
template <int... P> struct Lanes {};
template <int N, int... P> struct MakeLanes : MakeLanes<N - 1, N - 1, P...> {};
template <int... P> struct MakeLanes<0, P...> { using type = Lanes<P...>; };

// Where output lane p's block starts in a (lanes 0..VL) or c (VL..2VL) when blocks shrink from 2*half to half lanes.
constexpr int fold_src(int p, int half) {
  return ((p / half) % 2 ? VL : 0) + (p / half / 2) * 2 * half + p % half;
}

template <int Half, int... P>
__attribute__((always_inline)) inline vf fold(vf a, vf c, Lanes<P...>) {
  return __builtin_shufflevector(a, c, fold_src(P, Half)...) +
         __builtin_shufflevector(a, c, (fold_src(P, Half) + Half)...);
}

// v[0..n) -> v[0] (n == VL on the first call).
template <int Half>
__attribute__((always_inline)) inline void fold_rounds(vf* v, int n) {
  for (int i = 0; i < n / 2; i++) v[i] = fold<Half>(v[2 * i], v[2 * i + 1], typename MakeLanes<VL>::type{});
  if constexpr (Half > 1) fold_rounds<Half / 2>(v, n / 2);
}

// The same rounds, run on labels at compile time.
struct OwnerTable {
  int lane[VL];
  constexpr OwnerTable() : lane() {
    int lab[VL][VL] = {}, next[VL][VL] = {};
    for (int i = 0; i < VL; i++)
      for (int q = 0; q < VL; q++) lab[i][q] = i;
    int n = VL;
    for (int half = VL / 2; half >= 1; half /= 2) {
      for (int i = 0; i < n / 2; i++)
        for (int q = 0; q < VL; q++) {
          const int src = fold_src(q, half);
          next[i][q] = src < VL ? lab[2 * i][src] : lab[2 * i + 1][src - VL];
        }
      n /= 2;
      for (int i = 0; i < n; i++)
        for (int q = 0; q < VL; q++) lab[i][q] = next[i][q];
    }
    for (int q = 0; q < VL; q++) lane[q] = lab[0][q];
  }
};
constexpr OwnerTable kOwner{};

void rowdot_run(const gptlab::GemmTask& t) {
  const long M = t.M, N = t.N, K = t.K, kv = K / VL * VL;
  for (long j0 = 0; j0 < N; j0 += RD_J) {
    const int nj = (int)((N - j0) < RD_J ? (N - j0) : RD_J);
    const float* b[RD_J];
    for (int jj = 0; jj < RD_J; jj++) b[jj] = t.B + (j0 + (jj < nj ? jj : nj - 1)) * t.ldb;  // past N: repeat a row
    for (long i0 = 0; i0 < M; i0 += RD_I) {
      const int ni = (int)((M - i0) < RD_I ? (M - i0) : RD_I);
      const float* a[RD_I];
      for (int ii = 0; ii < RD_I; ii++) a[ii] = t.A + (i0 + (ii < ni ? ii : ni - 1)) * t.lda;
      vf acc[RD_I * RD_J];  // acc[ii * RD_J + jj]: row i0+ii of A against row j0+jj of B
#pragma GCC unroll 16
      for (int u = 0; u < RD_I * RD_J; u++) acc[u] = (vf){};
      for (long k = 0; k < kv; k += VL) {
        vf av[RD_I], bv[RD_J];
#pragma GCC unroll 4
        for (int ii = 0; ii < RD_I; ii++) av[ii] = *(const vfu*)(a[ii] + k);
#pragma GCC unroll 4
        for (int jj = 0; jj < RD_J; jj++) bv[jj] = *(const vfu*)(b[jj] + k);
#pragma GCC unroll 4
        for (int ii = 0; ii < RD_I; ii++)
#pragma GCC unroll 4
          for (int jj = 0; jj < RD_J; jj++) acc[ii * RD_J + jj] = vmadd(acc[ii * RD_J + jj], av[ii], bv[jj]);
      }
      float dot[RD_I * RD_J];
      for (int g = 0; g < RD_I * RD_J; g += VL) {
        fold_rounds<VL / 2>(acc + g, VL);
#pragma GCC unroll 16
        for (int p = 0; p < VL; p++) dot[g + kOwner.lane[p]] = acc[g][p];
      }
      for (int ii = 0; ii < ni; ii++) {
        float* c = t.C + (i0 + ii) * t.ldc + j0;
        for (int jj = 0; jj < nj; jj++) {
          float s = dot[ii * RD_J + jj];
          for (long k = kv; k < K; k++) s += a[ii][k] * b[jj][k];
          const float prev = t.beta == 0.0f ? 0.0f : t.beta * c[jj];
          c[jj] = t.alpha * s + prev + (t.bias ? t.bias[j0 + jj] : 0.0f);
        }
      }
    }
  }
}

void gemm_run(const gptlab::GemmTask& t, float* packA, float* packB) {
  const long M = t.M, N = t.N, K = t.K;
  if (M <= 0 || N <= 0) return;
  if (!t.packedB && gptlab::streams_weight(t)) return rowdot_run(t);  // a packed weight runs the micro-kernel
  if (K <= 0 || t.alpha == 0.0f) {
    for (long i = 0; i < M; i++) {
      float* c = t.C + i * t.ldc;
      for (long j = 0; j < N; j++) c[j] = (t.beta == 0.0f ? 0.0f : c[j] * t.beta) + (t.bias ? t.bias[j] : 0.0f);
    }
    return;
  }
  for (long jc = 0; jc < N; jc += NC) {
    const long nc = (N - jc) < NC ? (N - jc) : NC;
    for (long pc = 0; pc < K; pc += KC) {
      const long kc = (K - pc) < KC ? (K - pc) : KC;
      const float beta = pc == 0 ? t.beta : 1.0f;
      if (!t.packedB) {
        const float* Bblk = t.transB ? t.B + jc * t.ldb + pc : t.B + pc * t.ldb + jc;
        pack_b(kc, nc, Bblk, t.ldb, t.transB, packB);
      }
      for (long ic = 0; ic < M; ic += MC) {
        const long mc = (M - ic) < MC ? (M - ic) : MC;
        const float* Ablk = t.transA ? t.A + pc * t.lda + ic : t.A + ic * t.lda + pc;
        pack_a(mc, kc, Ablk, t.lda, t.transA, packA);
        for (long jr = 0; jr < nc; jr += NR) {
          const int nr = (int)((nc - jr) < NR ? (nc - jr) : NR);
          // A panel of the whole-K packing holds row k at k * NR, so this k block starts pc rows in.
          const float* bp = t.packedB ? t.packedB + ((jc + jr) / NR) * NR * K + pc * NR : packB + (jr / NR) * NR * kc;
          const float* bias = pc == 0 && t.bias ? t.bias + jc + jr : nullptr;  // added once, with the first k block
          for (long ir = 0; ir < mc; ir += MR) {
            const int mr = (int)((mc - ir) < MR ? (mc - ir) : MR);
            micro_kernel(kc, packA + (ir / MR) * MR * kc, bp,
                         t.C + (ic + ir) * t.ldc + jc + jr, t.ldc, t.alpha, beta, mr, nr, bias);
          }
        }
      }
    }
  }
}

void pack_run(long K, long N, const float* B, long ldb, int transB, float* dst) { pack_b(K, N, B, ldb, transB, dst); }

// ------------------------------------------------------------------ exp
typedef int vi __attribute__((vector_size(GEMM_VL * 4)));

// exp(x) to ~1 ulp for results of at least FLT_MIN; results below it are 0, never denormal: producing a denormal
// costs a microcode assist of ~100 cycles per vector, which the -inf lanes of every causal softmax row would pay.
__attribute__((always_inline)) inline vf vexp(vf x) {
  const float lowest = -87.33654f;  // ln(FLT_MIN)
  const vf hi = (vf){} + 88.7228391f, lo = (vf){} + lowest;
  const vf xin = x;
  x = x < hi ? x : hi;
  x = x > lo ? x : lo;
  vf fx = x * 1.44269504088896341f + 0.5f;
  vf tf = __builtin_convertvector(__builtin_convertvector(fx, vi), vf);  // trunc
  fx = tf > fx ? tf - 1.0f : tf;                                        // floor
  x = x - fx * 0.693359375f - fx * -2.12194440e-4f;
  const vf z = x * x;
  // Horner, one multiply-add a term (the same sums as y * x + c, in the same order)
  vf y = vmadd((vf){} + 1.3981999507E-3f, x, 1.9875691500E-4f);
  y = vmadd((vf){} + 8.3334519073E-3f, y, x);
  y = vmadd((vf){} + 4.1665795894E-2f, y, x);
  y = vmadd((vf){} + 1.6666665459E-1f, y, x);
  y = vmadd((vf){} + 5.0000001201E-1f, y, x);
  y = vmadd(x, y, z) + 1.0f;
  // 2^n as two factors, each a normal float for n in [-126, 128].
  const vi n = __builtin_convertvector(fx, vi);
  const vi h = n >> 1;
  const vi e1 = (h + 127) << 23, e2 = (n - h + 127) << 23;
  vf s1, s2;
  __builtin_memcpy(&s1, &e1, sizeof(s1));
  __builtin_memcpy(&s2, &e2, sizeof(s2));
  y = y * s1 * s2;
  const vf inf = (vf){} + __builtin_inff();
  y = xin > 88.7228391f ? inf : y;
  y = xin < lowest ? (vf){} : y;
  return xin != xin ? xin : y;  // NaN stays NaN
}

void exp_run(const float* x, float* y, long n) {
  long i = 0;
  for (; i + VL <= n; i += VL) {
    vf v;
    __builtin_memcpy(&v, x + i, sizeof(v));
    v = vexp(v);
    __builtin_memcpy(y + i, &v, sizeof(v));
  }
  if (i < n) {
    float tmp[VL] = {0};
    for (long j = i; j < n; j++) tmp[j - i] = x[j];
    vf v;
    __builtin_memcpy(&v, tmp, sizeof(v));
    v = vexp(v);
    __builtin_memcpy(tmp, &v, sizeof(v));
    for (long j = i; j < n; j++) y[j] = tmp[j - i];
  }
}
