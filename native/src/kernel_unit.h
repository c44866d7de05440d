// One instruction set's kernels: gemm_impl.h and ops_impl.h compiled for one target and exported as
// gemm_kernel_<KERNEL_NAME>() and ops_kernel_<KERNEL_NAME>() (gemm.h, ops.h). Included once, last, by each ISA's
// translation unit (gemm_generic.cc, gemm_avx2.cc, gemm_avx512.cc) after it defines:
//   KERNEL_NAME    the entry points' suffix: generic, avx2, avx512
//   KERNEL_ISA     what GemmKernel::isa reports: "avx2+fma"
//   KERNEL_TARGET  optional, the functions' target attribute: "avx2,fma"; without it, the compiler's own flags
//   GEMM_VL, GEMM_MR, GEMM_NV (and GEMM_RD_J if not 4): gemm_impl.h's vector width and register tile
// The kernels sit in an anonymous namespace, so code generated for one ISA can never be linked in place of another's.
#include "gemm.h"
#include "ops.h"

#define GPTLAB_PRAGMA_TEXT(x) _Pragma(#x)
#define GPTLAB_PRAGMA(x) GPTLAB_PRAGMA_TEXT(x)  // expands KERNEL_TARGET before it becomes the pragma's text
#define GPTLAB_CAT_TOKENS(a, b) a##b
#define GPTLAB_CAT(a, b) GPTLAB_CAT_TOKENS(a, b)

#if defined(KERNEL_TARGET)
#if defined(__clang__)
GPTLAB_PRAGMA(clang attribute push(__attribute__((target(KERNEL_TARGET))), apply_to = function))
#else
GPTLAB_PRAGMA(GCC push_options)
GPTLAB_PRAGMA(GCC target(KERNEL_TARGET))
#endif
#endif
namespace {
#include "gemm_impl.h"
#include "ops_impl.h"
}  // namespace
#if defined(KERNEL_TARGET)
#if defined(__clang__)
GPTLAB_PRAGMA(clang attribute pop)
#else
GPTLAB_PRAGMA(GCC pop_options)
#endif
#endif

namespace gptlab {
GemmKernel GPTLAB_CAT(gemm_kernel_, KERNEL_NAME)() { return GemmKernel{KERNEL_ISA, MR, NR, &gemm_run, &exp_run, &pack_run}; }
OpsKernel GPTLAB_CAT(ops_kernel_, KERNEL_NAME)() { return ops_table(); }
}  // namespace gptlab
