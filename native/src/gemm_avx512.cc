#include "gemm.h"
#include "ops.h"
#if defined(__x86_64__) || defined(__i386__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx2,fma")
#endif
namespace {
#define GEMM_VL 16
#define GEMM_MR 12
#define GEMM_NV 2
#include "gemm_impl.h"
#include "ops_impl.h"
}  // namespace
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
namespace gptlab {
GemmKernel gemm_kernel_avx512() { return GemmKernel{"avx512f", MR, NR, &gemm_run, &exp_run, &pack_run}; }
OpsKernel ops_kernel_avx512() { return ops_table(); }
}  // namespace gptlab
#endif
