// Kernel dispatch, the thread pool, the adaptive thread-count tuner and multi-threaded SGEMM.
#include "runtime.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#ifdef _WIN32
#include <malloc.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define GPTLAB_PAUSE() _mm_pause()
#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#else
#define GPTLAB_PAUSE() std::this_thread::yield()
#endif

namespace gptlab {

// ---------------------------------------------------------------- dispatch

namespace {

GemmKernel g_kernel;
OpsKernel g_ops;

#if defined(__x86_64__) || defined(__i386__)
// What the CPU and the OS support, read with cpuid and xgetbv. Not __builtin_cpu_supports: it needs the compiler
// runtime's __cpu_model, which zig's runtime (the macOS and glibc-2.17 cross builds) lacks, and a Mach-O addon linked
// with -undefined dynamic_lookup would only fail when it runs.
struct X86Isa {
  bool avx2 = false;    // AVX2 and FMA, the YMM state saved by the OS
  bool avx512 = false;  // AVX-512 F, DQ and VL (what gemm_avx512.cc is compiled for), the ZMM state saved too
};

uint64_t xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

#if defined(__APPLE__)
bool apple_has(const char* name) {
  int v = 0;
  size_t n = sizeof(v);
  return sysctlbyname(name, &v, &n, nullptr, 0) == 0 && v != 0;
}
#endif

X86Isa x86_isa() {
  X86Isa isa;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return isa;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!osxsave || !avx || __get_cpuid_max(0, nullptr) < 7) return isa;
  const uint64_t xcr = xcr0();
  if ((xcr & 0x6) != 0x6) return isa;  // XMM and YMM state
  __cpuid_count(7, 0, a, b, c, d);
  isa.avx2 = fma && (b & (1u << 5));
  const bool cpu512 = (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 31));  // F, DQ, VL
#if defined(__APPLE__)
  // macOS turns the AVX-512 state on at a thread's first use, so XCR0 does not show it yet; it says so in sysctl.
  isa.avx512 = isa.avx2 && cpu512 && apple_has("hw.optional.avx512f") && apple_has("hw.optional.avx512dq") &&
               apple_has("hw.optional.avx512vl");
#else
  isa.avx512 = isa.avx2 && cpu512 && (xcr & 0xe0) == 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM state
#endif
  return isa;
}
#endif

// The widest ISA this CPU runs, unless GPTLAB_ISA asks for a lower one; GEMM and element-wise kernels match.
void pick_kernels() {
  const char* force = std::getenv("GPTLAB_ISA");
  std::string f = force ? force : "";
#if defined(__x86_64__) || defined(__i386__)
  const X86Isa isa = x86_isa();
  const bool has512 = isa.avx512;
  const bool has2 = isa.avx2;
  if (f != "generic") {
    if (has512 && f != "avx2") {
      g_kernel = gemm_kernel_avx512();
      g_ops = ops_kernel_avx512();
      return;
    }
    if (has2) {
      g_kernel = gemm_kernel_avx2();
      g_ops = ops_kernel_avx2();
      return;
    }
  }
#endif
  (void)f;
  g_kernel = gemm_kernel_generic();
  g_ops = ops_kernel_generic();
}

float* aligned_floats(long n) {
  const size_t bytes = ((static_cast<size_t>(n) * sizeof(float) + 63) / 64) * 64;
  return static_cast<float*>(aligned_malloc(bytes));
}

}  // namespace

void* aligned_malloc(size_t bytes) {
  bytes = ((bytes + 63) / 64) * 64;
#ifdef _WIN32
  return _aligned_malloc(bytes, 64);
#else
  return std::aligned_alloc(64, bytes);
#endif
}

void aligned_free(void* p) {
#ifdef _WIN32
  _aligned_free(p);
#else
  std::free(p);
#endif
}

const GemmKernel& kernels() { return g_kernel; }
const OpsKernel& ops() { return g_ops; }

// ---------------------------------------------------------------- workspace

Workspace::Workspace() {
  packA = aligned_floats(kPackAFloats);
  packB = aligned_floats(kPackBFloats);
}

Workspace::~Workspace() {
  aligned_free(packA);
  aligned_free(packB);
  aligned_free(scratch);
}

float* Workspace::scratchFor(long n) {
  if (n > scratchFloats) {
    aligned_free(scratch);
    scratch = aligned_floats(n);
    scratchFloats = n;
  }
  return scratch;
}

Workspace& local_workspace() {
  thread_local Workspace ws;
  return ws;
}

// ---------------------------------------------------------------- thread pool

namespace {

class Pool {
 public:
  explicit Pool(int workers) {
    if (const char* e = std::getenv("GPTLAB_SPIN_US")) spin_us_ = std::atoi(e);
    for (int i = 0; i < workers; i++) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int workers() const { return static_cast<int>(threads_.size()); }

  // Runs all units of task on the calling thread plus up to `helpers` workers.
  void run(const Task& task, int helpers) {
    if (helpers > workers()) helpers = workers();
    task_.store(&task, std::memory_order_release);
    next_.store(0, std::memory_order_release);
    remaining_.store(helpers, std::memory_order_release);
    // Publishing the slots last: a helper that claims one sees task_ and next_.
    active_.store(helpers, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen_.fetch_add(1, std::memory_order_release);
    }
    if (sleeping_.load(std::memory_order_acquire) > 0) cv_.notify_all();
    work(task, local_workspace());
    // Helpers that have not woken up yet are not waited for: withdraw their
    // slots (a late helper then finds none and goes back to waiting).
    const int unclaimed = active_.exchange(0, std::memory_order_acq_rel);
    if (unclaimed > 0) remaining_.fetch_sub(unclaimed, std::memory_order_acq_rel);
    // Wait for helpers still finishing a unit: spin ~20us, then yield the
    // core (a preempted helper may need it).
    const auto t0 = std::chrono::steady_clock::now();
    int spins = 0;
    bool yielding = false;
    while (remaining_.load(std::memory_order_acquire) > 0) {
      if (yielding) {
        std::this_thread::yield();
        continue;
      }
      GPTLAB_PAUSE();
      if ((++spins & 31) == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(20))
        yielding = true;
    }
    task_.store(nullptr, std::memory_order_release);
  }

 private:
  void work(const Task& task, Workspace& ws) {
    for (;;) {
      const long u = next_.fetch_add(1, std::memory_order_relaxed);
      if (u >= task.units) break;
      task.fn(task.ctx, u, ws);
    }
  }

  void loop() {
    uint64_t seen = gen_.load(std::memory_order_acquire);
    for (;;) {
      // Spin briefly (training issues parallel regions back to back), then sleep.
      const auto t0 = std::chrono::steady_clock::now();
      const auto spin_for = std::chrono::microseconds(spin_us_);
      int spins = 0;
      uint64_t g;
      while ((g = gen_.load(std::memory_order_acquire)) == seen) {
        GPTLAB_PAUSE();
        if ((++spins & 31) == 0 && std::chrono::steady_clock::now() - t0 > spin_for) break;
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lk(mu_);
        sleeping_.fetch_add(1);
        cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
        sleeping_.fetch_sub(1);
        g = gen_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_) return;
      // Claim a helper slot; surplus workers skip this task.
      int slot = active_.fetch_sub(1, std::memory_order_acq_rel);
      if (slot <= 0) continue;
      work(*task_.load(std::memory_order_acquire), local_workspace());
      remaining_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<int> active_{0};
  std::atomic<int> remaining_{0};
  std::atomic<long> next_{0};
  std::atomic<const Task*> task_{nullptr};
  bool stop_ = false;
  int spin_us_ = 100;
};

Pool* g_pool = nullptr;
int g_max_threads = 1;       // threads we may use (env override or cores)
bool g_adaptive = true;
double g_min_parallel_flops = 2.0e6;
int g_override = 0;
int g_last_threads = 1;

// ------------------------------------------------------ adaptive thread count
// Alternates measurement windows of parallel-eligible GEMM calls between "all
// threads" and "one thread", compares achieved FLOP/s, and exploits the
// winner for a while before probing again. A busy neighbour process makes the
// multi-threaded window lose, and we fall back to one thread.

struct Tuner {
  static constexpr int kWindow = 48;       // calls per measurement window
  static constexpr int kExploit = 24;      // windows to exploit before re-probing
  int phase = 0;       // 0: measure multi, 1: measure single, 2: exploit
  int calls = 0;
  double flops = 0, secs = 0;
  double rate_multi = 0, rate_single = 0;
  int exploit_windows = 0;
  int chosen = 0;      // threads while exploiting (0 = not yet decided)

  int threads_for_next() const {
    if (phase == 0) return g_max_threads;
    if (phase == 1) return 1;
    return chosen;
  }
  void record(double f, double s) {
    flops += f;
    secs += s;
    if (++calls < kWindow) return;
    const double rate = secs > 0 ? flops / secs : 0;
    calls = 0;
    flops = secs = 0;
    if (phase == 0) {
      rate_multi = rate;
      phase = 1;
    } else if (phase == 1) {
      rate_single = rate;
      // Multi-threading must win clearly to be worth its cost.
      chosen = rate_multi > rate_single * 1.15 ? g_max_threads : 1;
      phase = 2;
      exploit_windows = 0;
    } else if (++exploit_windows >= kExploit) {
      phase = 0;
    }
  }
};
Tuner g_tuner;

int clamp_threads(int n) {
  const int cap = g_pool ? g_pool->workers() + 1 : 1;
  return n < 1 ? 1 : (n > cap ? cap : n);
}

}  // namespace

namespace {
int g_pool_size_hint = 0;
}  // namespace

void set_pool_size_hint(int n) { g_pool_size_hint = n; }

void init_runtime() {
  static bool done = false;
  if (done) return;
  done = true;
  pick_kernels();
  unsigned hw = g_pool_size_hint > 0 ? static_cast<unsigned>(g_pool_size_hint) : std::thread::hardware_concurrency();
  if (hw == 0) hw = 1;
  int n = static_cast<int>(hw);
  bool env_threads = false;
  if (const char* e = std::getenv("GPTLAB_THREADS")) {
    const int v = std::atoi(e);
    if (v > 0) {
      n = v;
      env_threads = true;
    }
  }
  if (n > 64) n = 64;
  g_max_threads = n;
  g_adaptive = !env_threads && n > 1;
  if (const char* e = std::getenv("GPTLAB_ADAPTIVE")) g_adaptive = g_adaptive && std::atoi(e) != 0;
  if (n > 1) g_pool = new Pool(n - 1);
  g_last_threads = n;
}

int current_threads() {
  if (g_override > 0) return clamp_threads(g_override);
  if (g_adaptive && g_tuner.phase == 2) return g_tuner.chosen;
  return g_max_threads;
}
int max_threads() { return g_max_threads; }
bool adaptive() { return g_adaptive; }
int last_threads() { return g_last_threads; }
double min_parallel_flops() { return g_min_parallel_flops; }

void set_threads(int n, bool adaptive_) {
  g_max_threads = clamp_threads(n);
  g_adaptive = adaptive_ && g_max_threads > 1;
  g_tuner = Tuner();
}

void set_min_parallel_flops(double f) { g_min_parallel_flops = f; }
void set_thread_override(int n) { g_override = n > 0 ? clamp_threads(n) : 0; }

void run_task(const Task& task, int threads) {
  if (threads > 1 && task.units > 1 && g_pool) {
    g_pool->run(task, threads - 1);
  } else {
    Workspace& ws = local_workspace();
    for (long u = 0; u < task.units; u++) task.fn(task.ctx, u, ws);
  }
}

// ---------------------------------------------------------------- GEMM

namespace {

struct GemmJob {
  GemmTask base;
  long batch = 1;
  long strideA = 0, strideB = 0, strideC = 0;
  int split = 0;  // 0 none, 1 along M, 2 along N
  long chunk = 0;
  long nchunks = 1;
  long units() const { return batch * nchunks; }
};

void run_gemm_unit(const void* ctx, long u, Workspace& ws) {
  const GemmJob& job = *static_cast<const GemmJob*>(ctx);
  const long b = u / job.nchunks;
  const long c = u % job.nchunks;
  GemmTask t = job.base;
  t.A += b * job.strideA;
  t.B += b * job.strideB;
  t.C += b * job.strideC;
  if (job.split == 1) {
    const long r0 = c * job.chunk;
    const long r1 = r0 + job.chunk < t.M ? r0 + job.chunk : t.M;
    t.A += t.transA ? r0 : r0 * t.lda;
    t.C += r0 * t.ldc;
    t.M = r1 - r0;
  } else if (job.split == 2) {
    const long c0 = c * job.chunk;
    const long c1 = c0 + job.chunk < t.N ? c0 + job.chunk : t.N;
    t.B += t.transB ? c0 * t.ldb : c0;
    if (t.packedB) t.packedB += c0 * t.K;  // c0 is whole panels: panel c0 / nr starts at (c0 / nr) * nr * K
    t.C += c0;
    if (t.bias) t.bias += c0;
    t.N = c1 - c0;
  }
  if (t.M > 0 && t.N > 0) g_kernel.run(t, ws.packA, ws.packB);
}

// Two GEMMs, each cut into `chunks` pieces along its larger output dimension; units [0, n0) are the first's.
struct PairJob {
  GemmJob a, b;
};

void run_pair_unit(const void* ctx, long u, Workspace& ws) {
  const PairJob& p = *static_cast<const PairJob*>(ctx);
  if (u < p.a.units()) run_gemm_unit(&p.a, u, ws);
  else run_gemm_unit(&p.b, u - p.a.units(), ws);
}

// Cuts job into n pieces along the larger of M and N (whole register tiles).
void split_job(GemmJob& job, long n) {
  const GemmTask& t = job.base;
  if (n <= 1) return;
  const bool rows = t.M >= t.N;
  const long tile = rows ? g_kernel.mr : g_kernel.nr;
  const long extent = rows ? t.M : t.N;
  long chunk = (extent + n - 1) / n;
  chunk = ((chunk + tile - 1) / tile) * tile;
  job.split = rows ? 1 : 2;
  job.chunk = chunk;
  job.nchunks = (extent + chunk - 1) / chunk;
}

}  // namespace

void gemm_pair(const GemmTask& a, const GemmTask& b) {
  const int threads = g_pool ? current_threads() : 1;
  if (threads < 2) {
    gemm(a);
    gemm(b);
    return;
  }
  g_last_threads = threads;
  PairJob p;
  p.a.base = a;
  p.b.base = b;
  // With two threads each GEMM stays whole; with more, each is cut so that every thread gets a piece.
  split_job(p.a, threads / 2);
  split_job(p.b, threads - threads / 2);
  run_task(Task{&run_pair_unit, &p, p.a.units() + p.b.units()}, threads);
}

void gemm(const GemmTask& t, long batch, long strideA, long strideB, long strideC) {
  GemmJob job;
  job.base = t;
  job.batch = batch;
  job.strideA = strideA;
  job.strideB = strideB;
  job.strideC = strideC;
  const double flops = 2.0 * static_cast<double>(t.M) * t.N * t.K * batch;
  int threads = 1;
  bool measured = false;
  // A few rows times a big weight (decoding) is bound by reading the weight, not by its flops: each thread streams
  // its own band of weight rows, and two cores read twice as fast as one.
  const bool parallel = flops >= g_min_parallel_flops ||
                        (streams_weight(t) && static_cast<double>(t.N) * t.K * batch >= kParallelWeightFloats);
  if (g_pool && parallel) {
    if (g_override > 0) {
      threads = clamp_threads(g_override);
    } else {
      threads = g_adaptive ? g_tuner.threads_for_next() : g_max_threads;
      measured = g_adaptive;
    }
  }
  g_last_threads = threads;
  const auto t0 = std::chrono::steady_clock::now();
  if (threads > 1 && batch < 2L * threads) {
    // Split the larger output dimension into one chunk per thread, aligned to the register tile. Finer chunks
    // balance better when a thread is descheduled, but each chunk packs its own copy of the other operand, which
    // cost the training step's small GEMMs 10%; contention is the step tuner's job.
    const long want = threads;
    const int mr = g_kernel.mr, nr = g_kernel.nr;
    const long perBatch = (want + batch - 1) / batch;
    if (t.M >= t.N) {
      long chunk = (t.M + perBatch - 1) / perBatch;
      chunk = ((chunk + mr - 1) / mr) * mr;
      if (chunk < 2L * mr) chunk = 2L * mr;
      job.split = 1;
      job.chunk = chunk;
      job.nchunks = (t.M + chunk - 1) / chunk;
    } else {
      long chunk = (t.N + perBatch - 1) / perBatch;
      chunk = ((chunk + nr - 1) / nr) * nr;
      if (chunk < nr) chunk = nr;
      job.split = 2;
      job.chunk = chunk;
      job.nchunks = (t.N + chunk - 1) / chunk;
    }
  }
  run_task(Task{&run_gemm_unit, &job, job.units()}, threads);
  if (measured) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    g_tuner.record(flops, s);
  }
}

}  // namespace gptlab
