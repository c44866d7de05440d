// The addon's shared runtime: the ISA-dispatched kernels, a persistent thread pool, multi-threaded SGEMM and a
// parallel_for for element-wise work. Used by the tfjs kernel glue (addon.cc) and the native GPT (gpt.cc).
#ifndef GPTLAB_RUNTIME_H
#define GPTLAB_RUNTIME_H

#include "gemm.h"
#include "ops.h"

namespace gptlab {

// 64-byte aligned memory that aligned_free releases: std::aligned_alloc/std::free, or _aligned_malloc/_aligned_free
// on Windows, which has no aligned_alloc. Null when out of memory.
void* aligned_malloc(size_t bytes);
void aligned_free(void* p);

// Per-thread scratch: GEMM packing buffers plus a growable float area for kernels that need one.
struct Workspace {
  float* packA = nullptr;
  float* packB = nullptr;
  float* scratch = nullptr;
  long scratchFloats = 0;
  Workspace();
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  // At least n floats of 64-byte aligned scratch (contents not preserved across growth).
  float* scratchFor(long n);
};

Workspace& local_workspace();

// One parallel job: fn(ctx, unit, ws) for every unit in [0, units), units claimed dynamically.
struct Task {
  void (*fn)(const void* ctx, long unit, Workspace& ws);
  const void* ctx;
  long units;
};

// Picks the kernels and starts the pool; idempotent.
void init_runtime();
// Threads (the caller included) the pool starts with, instead of the core count; before init_runtime (the wasm
// build, where the host passes the count). 0: the default.
void set_pool_size_hint(int n);
const GemmKernel& kernels();
const OpsKernel& ops();

// Threads a parallel region uses right now (the override, else the adaptive tuner's choice, else the maximum).
int current_threads();
int max_threads();
bool adaptive();
int last_threads();
double min_parallel_flops();
void set_threads(int n, bool adaptive);
void set_min_parallel_flops(double f);
// While > 0, every parallel region and GEMM uses exactly this many threads (clamped to the pool) and the
// per-call tuner is bypassed; the native trainer tunes at the granularity of whole steps instead.
void set_thread_override(int n);

void run_task(const Task& task, int threads);

template <class F>
void parallel_for(long units, const F& f) {
  if (units <= 0) return;
  const Task task{[](const void* ctx, long unit, Workspace& ws) { (*static_cast<const F*>(ctx))(unit, ws); }, &f,
                  units};
  run_task(task, current_threads());
}

// C = alpha op(A) op(B) + beta C, `batch` times with the given strides (in floats; 0 broadcasts), on the pool.
void gemm(const GemmTask& t, long batch = 1, long strideA = 0, long strideB = 0, long strideC = 0);

// Two independent GEMMs at once (a layer's weight and input gradients): each thread takes whole chunks of either, so
// small problems are not cut finer than they need to be.
void gemm_pair(const GemmTask& a, const GemmTask& b);

}  // namespace gptlab

#endif
