// AVX2 + FMA kernels (x86-64): 8 floats a vector.
#if defined(__x86_64__) || defined(__i386__)
#define KERNEL_NAME avx2
#define KERNEL_ISA "avx2+fma"
#define KERNEL_TARGET "avx2,fma"
#define GEMM_VL 8
#define GEMM_MR 6
#define GEMM_NV 2
#define GEMM_RD_J 2  // rowdot: 4x2 accumulators + 6 operands fit 16 vector registers
#include "kernel_unit.h"
#endif
