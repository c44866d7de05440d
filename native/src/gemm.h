// Shared declarations between the N-API glue (addon.cc) and the per-ISA
// GEMM translation units. Plain C types only: the ISA TUs are compiled with
// different target options and must not share inline C++ library code.
#ifndef GPTLAB_GEMM_H
#define GPTLAB_GEMM_H

#include <stddef.h>

namespace gptlab {

// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C (+ bias[j] on every row when bias is set).
// op(A) is M x K, op(B) is K x N, C is M x N.
struct GemmTask {
  int transA;
  int transB;
  long M, N, K;
  float alpha;
  const float* A;
  long lda;
  const float* B;
  long ldb;
  float beta;
  float* C;
  long ldc;
  const float* bias = nullptr;  // N floats added to every row of C, or null
  // op(B) already packed whole by GemmKernel::pack (a weight that does not change between calls), or null: B is then
  // packed block by block on every call.
  const float* packedB = nullptr;
};

// Blocking limits shared by all kernels; workspace sizes derive from them.
constexpr long kKC = 256;          // depth of a packed block
constexpr long kMCMax = 16 * 16;   // rows of a packed A block (upper bound)
constexpr long kNC = 2048;         // columns of a packed B block
constexpr long kNRMax = 32;
// A times a weight's transpose with at most kRowDotMaxM rows of A skips packing (gemm_impl.h rowdot_run) when the
// weight has at least kRowDotMinWeight entries: decoding and short probe windows, never a training batch.
constexpr long kRowDotMaxM = 32;
constexpr long kRowDotMinWeight = 16384;
// ...and runs on every thread from this many weight floats (256 KB): below it the pool's wake-up costs more.
constexpr double kParallelWeightFloats = 65536;
constexpr long kPackAFloats = kMCMax * kKC;
constexpr long kPackBFloats = (kNC + kNRMax) * kKC;

// A few rows of A times a weight's transpose (nn.Linear on a token or a window): the weight's reading is the cost.
// Static, so each ISA's translation unit keeps its own copy (see the note at the top).
static inline bool streams_weight(const GemmTask& t) {
  return t.transB && !t.transA && t.M <= kRowDotMaxM && t.N * t.K >= kRowDotMinWeight;
}

struct GemmKernel {
  const char* isa;
  int mr;
  int nr;
  // packA / packB: 64-byte aligned scratch of kPackAFloats / kPackBFloats.
  void (*run)(const GemmTask& t, float* packA, float* packB);
  // y[i] = exp(x[i]) (Cephes expf polynomial, ~1 ulp; 0 where the result would be below FLT_MIN; x and y may alias).
  void (*exp)(const float* x, float* y, long n);
  // Packs op(B) [K, N] whole for GemmTask::packedB into dst of packedFloats(K, N) floats: NR-column panels, each
  // K x NR, columns past N zero.
  void (*pack)(long K, long N, const float* B, long ldb, int transB, float* dst);
  long packedFloats(long K, long N) const { return (N + nr - 1) / nr * nr * K; }
};

GemmKernel gemm_kernel_generic();
#if defined(__x86_64__) || defined(__i386__)
GemmKernel gemm_kernel_avx2();
GemmKernel gemm_kernel_avx512();
#endif

}  // namespace gptlab

#endif
