// AVX-512 kernels (x86-64): 16 floats a vector, 32 vector registers for a taller tile.
#if defined(__x86_64__) || defined(__i386__)
#define KERNEL_NAME avx512
#define KERNEL_ISA "avx512f"
#define KERNEL_TARGET "avx512f,avx512vl,avx512dq,avx2,fma"
#define GEMM_VL 16
#define GEMM_MR 12
#define GEMM_NV 2
#include "kernel_unit.h"
#endif
