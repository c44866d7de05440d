#include "gemm.h"
#include "ops.h"
#if defined(__x86_64__) || defined(__i386__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace {
#define GEMM_VL 8
#define GEMM_MR 6
#define GEMM_NV 2
#define GEMM_RD_J 2  // rowdot: 4x2 accumulators + 6 operands fit 16 vector registers
#include "gemm_impl.h"
#include "ops_impl.h"
}  // namespace
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
namespace gptlab {
GemmKernel gemm_kernel_avx2() { return GemmKernel{"avx2+fma", MR, NR, &gemm_run, &exp_run, &pack_run}; }
OpsKernel ops_kernel_avx2() { return ops_table(); }
}  // namespace gptlab
#endif
