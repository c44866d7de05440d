// Portable fallback: GCC/Clang generic vectors of 4 floats (SSE2 on x86-64,
// NEON on arm64, scalar elsewhere).
#include "gemm.h"
#include "ops.h"
namespace {
#define GEMM_VL 4
#define GEMM_MR 4
#define GEMM_NV 2
#include "gemm_impl.h"
#include "ops_impl.h"
}  // namespace
namespace gptlab {
GemmKernel gemm_kernel_generic() { return GemmKernel{"generic", MR, NR, &gemm_run, &exp_run}; }
OpsKernel ops_kernel_generic() { return ops_table(); }
}  // namespace gptlab
