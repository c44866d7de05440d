// Portable fallback: GCC/Clang generic vectors of 4 floats (SSE2 on x86-64,
// NEON on arm64, scalar elsewhere).
#define KERNEL_NAME generic
#define KERNEL_ISA "generic"
#define GEMM_VL 4
#define GEMM_RD_J 2  // rowdot: 4x2 accumulators + 6 operands fit 16 vector registers (SSE2, wasm)
#if defined(__wasm_simd128__) && !defined(GEMM_MR)
// WebAssembly SIMD128 (the wasm trainer): V8 gives it 16 vector registers, so a taller tile pays.
#define GEMM_MR GPTLAB_WASM_MR
#define GEMM_NV GPTLAB_WASM_NV
#else
#define GEMM_MR 4
#define GEMM_NV 2
#endif
#include "kernel_unit.h"
