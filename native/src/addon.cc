// gptlab_native: N-API addon exposing a multi-threaded, runtime-dispatched
// SGEMM (AVX-512F / AVX2+FMA / portable) for the GPT Lab tfjs kernels.
#include <node_api.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GPTLAB_PAUSE() _mm_pause()
#else
#define GPTLAB_PAUSE() std::this_thread::yield()
#endif

namespace gptlab {
namespace {

// ---------------------------------------------------------------- dispatch

GemmKernel g_kernel;

GemmKernel pick_kernel() {
  const char* force = std::getenv("GPTLAB_ISA");
  std::string f = force ? force : "";
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool has512 = __builtin_cpu_supports("avx512f");
  const bool has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (f == "generic") return gemm_kernel_generic();
  if (f == "avx2" && has2) return gemm_kernel_avx2();
  if (has512 && f != "avx2") return gemm_kernel_avx512();
  if (has2) return gemm_kernel_avx2();
#endif
  (void)f;
  return gemm_kernel_generic();
}

// ---------------------------------------------------------------- workspace

struct Workspace {
  float* packA = nullptr;
  float* packB = nullptr;
  Workspace() {
    packA = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kPackAFloats));
    packB = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * kPackBFloats));
  }
  ~Workspace() {
    std::free(packA);
    std::free(packB);
  }
};

Workspace& local_workspace() {
  thread_local Workspace ws;
  return ws;
}

// ---------------------------------------------------------------- jobs

struct Job {
  GemmTask base;
  long batch = 1;
  long strideA = 0, strideB = 0, strideC = 0;
  int split = 0;  // 0 none, 1 along M, 2 along N
  long chunk = 0;
  long nchunks = 1;
  long units() const { return batch * nchunks; }
};

void run_unit(const Job& job, long u, Workspace& ws) {
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
    t.C += c0;
    t.N = c1 - c0;
  }
  if (t.M > 0 && t.N > 0) g_kernel.run(t, ws.packA, ws.packB);
}

// ---------------------------------------------------------------- thread pool

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

  // Runs all units of job on the calling thread plus up to `helpers` workers.
  void run(const Job& job, int helpers) {
    if (helpers > workers()) helpers = workers();
    job_.store(&job, std::memory_order_release);
    next_.store(0, std::memory_order_release);
    remaining_.store(helpers, std::memory_order_release);
    // Publishing the slots last: a helper that claims one sees job_ and next_.
    active_.store(helpers, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen_.fetch_add(1, std::memory_order_release);
    }
    if (sleeping_.load(std::memory_order_acquire) > 0) cv_.notify_all();
    Workspace& ws = local_workspace();
    const long n = job.units();
    for (;;) {
      const long u = next_.fetch_add(1, std::memory_order_relaxed);
      if (u >= n) break;
      run_unit(job, u, ws);
    }
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
      if ((++spins & 31) == 0 &&
          std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(20))
        yielding = true;
    }
    job_.store(nullptr, std::memory_order_release);
  }

 private:
  void loop() {
    uint64_t seen = gen_.load(std::memory_order_acquire);
    for (;;) {
      // Spin briefly (training issues matmuls back to back), then sleep.
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
      // Claim a helper slot; surplus workers skip this job.
      int slot = active_.fetch_sub(1, std::memory_order_acq_rel);
      if (slot <= 0) continue;
      const Job* job = job_.load(std::memory_order_acquire);
      Workspace& ws = local_workspace();
      const long n = job->units();
      for (;;) {
        const long u = next_.fetch_add(1, std::memory_order_relaxed);
        if (u >= n) break;
        run_unit(*job, u, ws);
      }
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
  std::atomic<const Job*> job_{nullptr};
  bool stop_ = false;
  int spin_us_ = 100;
};

Pool* g_pool = nullptr;
int g_max_threads = 1;     // threads we may use (env override or cores)
bool g_env_threads = false;  // GPTLAB_THREADS given: never adapt
bool g_adaptive = true;
double g_min_parallel_flops = 2.0e6;

// ------------------------------------------------------ adaptive thread count
// Alternates measurement windows of parallel-eligible calls between "all
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
int g_last_threads = 1;

void init_threads() {
  unsigned hw = std::thread::hardware_concurrency();
  if (hw == 0) hw = 1;
  int n = static_cast<int>(hw);
  if (const char* e = std::getenv("GPTLAB_THREADS")) {
    const int v = std::atoi(e);
    if (v > 0) {
      n = v;
      g_env_threads = true;
    }
  }
  if (n > 64) n = 64;
  g_max_threads = n;
  g_adaptive = !g_env_threads && n > 1;
  if (const char* e = std::getenv("GPTLAB_ADAPTIVE")) g_adaptive = g_adaptive && std::atoi(e) != 0;
  if (n > 1) g_pool = new Pool(n - 1);
  g_last_threads = n;
}

// Decide how to split a (possibly batched) GEMM and run it.
void execute(Job& job) {
  const GemmTask& t = job.base;
  const double flops = 2.0 * static_cast<double>(t.M) * t.N * t.K * job.batch;
  int threads = 1;
  bool measured = false;
  if (g_pool && flops >= g_min_parallel_flops) {
    threads = g_adaptive ? g_tuner.threads_for_next() : g_max_threads;
    measured = g_adaptive;
  }
  g_last_threads = threads;
  job.split = 0;
  job.nchunks = 1;
  job.chunk = 0;
  if (threads > 1 && job.batch < 2L * threads) {
    // Split the larger output dimension into ~2 chunks per thread, aligned to
    // the register tile, so a descheduled thread delays at most one chunk.
    const long want = 2L * threads;
    const int mr = g_kernel.mr, nr = g_kernel.nr;
    const long perBatch = (want + job.batch - 1) / job.batch;
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
  const auto t0 = std::chrono::steady_clock::now();
  if (threads > 1 && job.units() > 1) {
    g_pool->run(job, threads - 1);
  } else {
    Workspace& ws = local_workspace();
    const long n = job.units();
    for (long u = 0; u < n; u++) run_unit(job, u, ws);
  }
  if (measured) {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    g_tuner.record(flops, s);
  }
}

// ---------------------------------------------------------------- N-API glue

#define NAPI_OK(call)                                       \
  do {                                                      \
    if ((call) != napi_ok) {                                \
      napi_throw_error(env, nullptr, "N-API call failed");  \
      return nullptr;                                       \
    }                                                       \
  } while (0)

bool get_bool(napi_env env, napi_value v, bool* out) {
  napi_valuetype type;
  if (napi_typeof(env, v, &type) != napi_ok) return false;
  if (type == napi_boolean) return napi_get_value_bool(env, v, out) == napi_ok;
  if (type == napi_number) {
    double d;
    if (napi_get_value_double(env, v, &d) != napi_ok) return false;
    *out = d != 0;
    return true;
  }
  return false;
}

bool get_long(napi_env env, napi_value v, long* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0 && d <= 9.0e15) || d != static_cast<double>(static_cast<long>(d))) return false;
  *out = static_cast<long>(d);
  return true;
}

bool get_float(napi_env env, napi_value v, float* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  *out = static_cast<float>(d);
  return true;
}

bool get_f32(napi_env env, napi_value v, float** data, long* length) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return false;
  napi_typedarray_type type;
  size_t len;
  void* ptr;
  if (napi_get_typedarray_info(env, v, &type, &len, &ptr, nullptr, nullptr) != napi_ok)
    return false;
  if (type != napi_float32_array) return false;
  *data = static_cast<float*>(ptr);
  *length = static_cast<long>(len);
  return true;
}

// Number of floats a rows x cols matrix with leading dimension ld spans.
bool span_ok(long rows, long cols, long ld, long offset, long stride, long batch, long length) {
  if (rows == 0 || cols == 0) return offset <= length;
  if (ld < cols) return false;
  const long last = offset + (batch - 1) * stride + (rows - 1) * ld + cols;
  return offset >= 0 && last <= length;
}

napi_value throw_type(napi_env env, const char* msg) {
  napi_throw_type_error(env, nullptr, msg);
  return nullptr;
}
napi_value throw_range(napi_env env, const char* msg) {
  napi_throw_range_error(env, nullptr, msg);
  return nullptr;
}

// sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 13) return throw_type(env, "sgemm expects 13 arguments");
  bool ta, tb;
  long M, N, K, lda, ldb, ldc, la, lb, lc;
  float alpha, beta;
  float *A, *B, *C;
  if (!get_bool(env, argv[0], &ta) || !get_bool(env, argv[1], &tb))
    return throw_type(env, "sgemm: transA/transB must be booleans");
  if (!get_long(env, argv[2], &M) || !get_long(env, argv[3], &N) || !get_long(env, argv[4], &K) ||
      !get_long(env, argv[7], &lda) || !get_long(env, argv[9], &ldb) ||
      !get_long(env, argv[12], &ldc))
    return throw_type(env, "sgemm: sizes must be non-negative integers");
  if (!get_float(env, argv[5], &alpha) || !get_float(env, argv[10], &beta))
    return throw_type(env, "sgemm: alpha/beta must be numbers");
  if (!get_f32(env, argv[6], &A, &la) || !get_f32(env, argv[8], &B, &lb) ||
      !get_f32(env, argv[11], &C, &lc))
    return throw_type(env, "sgemm: A, B, C must be Float32Arrays");
  if (K > 0 && (!span_ok(ta ? K : M, ta ? M : K, lda, 0, 0, 1, la) ||
                !span_ok(tb ? N : K, tb ? K : N, ldb, 0, 0, 1, lb)))
    return throw_range(env, "sgemm: A or B too small for the given sizes/leading dimensions");
  if (!span_ok(M, N, ldc, 0, 0, 1, lc))
    return throw_range(env, "sgemm: C too small for the given sizes/leading dimension");
  Job job;
  job.base = GemmTask{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc};
  execute(job);
  return nullptr;
}

// sgemmBatched(transA, transB, batch, M, N, K, alpha,
//              A, offA, strideA, lda, B, offB, strideB, ldb,
//              beta, C, offC, strideC, ldc)
// Offsets and strides are in floats; a stride of 0 broadcasts that operand.
napi_value SgemmBatched(napi_env env, napi_callback_info info) {
  size_t argc = 20;
  napi_value argv[20];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 20) return throw_type(env, "sgemmBatched expects 20 arguments");
  bool ta, tb;
  long batch, M, N, K, offA, sA, lda, offB, sB, ldb, offC, sC, ldc, la, lb, lc;
  float alpha, beta;
  float *A, *B, *C;
  if (!get_bool(env, argv[0], &ta) || !get_bool(env, argv[1], &tb))
    return throw_type(env, "sgemmBatched: transA/transB must be booleans");
  if (!get_long(env, argv[2], &batch) || !get_long(env, argv[3], &M) ||
      !get_long(env, argv[4], &N) || !get_long(env, argv[5], &K) ||
      !get_long(env, argv[8], &offA) || !get_long(env, argv[9], &sA) ||
      !get_long(env, argv[10], &lda) || !get_long(env, argv[12], &offB) ||
      !get_long(env, argv[13], &sB) || !get_long(env, argv[14], &ldb) ||
      !get_long(env, argv[17], &offC) || !get_long(env, argv[18], &sC) ||
      !get_long(env, argv[19], &ldc))
    return throw_type(env, "sgemmBatched: sizes must be non-negative integers");
  if (!get_float(env, argv[6], &alpha) || !get_float(env, argv[15], &beta))
    return throw_type(env, "sgemmBatched: alpha/beta must be numbers");
  if (!get_f32(env, argv[7], &A, &la) || !get_f32(env, argv[11], &B, &lb) ||
      !get_f32(env, argv[16], &C, &lc))
    return throw_type(env, "sgemmBatched: A, B, C must be Float32Arrays");
  if (batch == 0) return nullptr;
  if (K > 0 && (!span_ok(ta ? K : M, ta ? M : K, lda, offA, sA, batch, la) ||
                !span_ok(tb ? N : K, tb ? K : N, ldb, offB, sB, batch, lb)))
    return throw_range(env, "sgemmBatched: A or B too small for the given sizes");
  if (!span_ok(M, N, ldc, offC, sC, batch, lc))
    return throw_range(env, "sgemmBatched: C too small for the given sizes");
  if (batch > 1 && sC < M * ldc && M > 0 && N > 0)
    return throw_range(env, "sgemmBatched: output batches overlap (strideC too small)");
  Job job;
  job.base = GemmTask{ta, tb, M, N, K, alpha, A + offA, lda, B + offB, ldb, beta, C + offC, ldc};
  job.batch = batch;
  job.strideA = sA;
  job.strideB = sB;
  job.strideC = sC;
  execute(job);
  return nullptr;
}

// biasAct(C, offC, rows, N, bias | null, offBias, biasLen, act, alpha)
// In place over rows x N contiguous floats: add bias (biasLen == N: per
// column; biasLen == 1: scalar), then activation: 0 linear, 1 relu, 2 relu6,
// 3 leakyrelu(alpha), 4 sigmoid, 5 elu.
napi_value BiasAct(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 9) return throw_type(env, "biasAct expects 9 arguments");
  float* C;
  float* bias = nullptr;
  long lc, lbias = 0, offC, rows, N, offBias, biasLen, act;
  float alpha;
  if (!get_f32(env, argv[0], &C, &lc)) return throw_type(env, "biasAct: C must be a Float32Array");
  if (!get_long(env, argv[1], &offC) || !get_long(env, argv[2], &rows) ||
      !get_long(env, argv[3], &N) || !get_long(env, argv[5], &offBias) ||
      !get_long(env, argv[6], &biasLen) || !get_long(env, argv[7], &act) ||
      !get_float(env, argv[8], &alpha))
    return throw_type(env, "biasAct: bad numeric argument");
  napi_valuetype bt;
  NAPI_OK(napi_typeof(env, argv[4], &bt));
  if (bt != napi_null && bt != napi_undefined) {
    if (!get_f32(env, argv[4], &bias, &lbias))
      return throw_type(env, "biasAct: bias must be a Float32Array or null");
    if (!(biasLen == 1 || biasLen == N) || offBias + biasLen > lbias)
      return throw_range(env, "biasAct: bad bias length");
  }
  if (offC + rows * N > lc) return throw_range(env, "biasAct: C too small");
  float* c = C + offC;
  const float* bp = bias ? bias + offBias : nullptr;
  for (long i = 0; i < rows; i++) {
    float* r = c + i * N;
    if (bp) {
      if (biasLen == 1) {
        const float s = bp[0];
        for (long j = 0; j < N; j++) r[j] += s;
      } else {
        for (long j = 0; j < N; j++) r[j] += bp[j];
      }
    }
    switch (act) {
      case 1:
        for (long j = 0; j < N; j++) r[j] = r[j] > 0.0f ? r[j] : 0.0f;
        break;
      case 2:
        for (long j = 0; j < N; j++) r[j] = r[j] < 0.0f ? 0.0f : (r[j] > 6.0f ? 6.0f : r[j]);
        break;
      case 3:
        for (long j = 0; j < N; j++) r[j] = r[j] < 0.0f ? alpha * r[j] : r[j];
        break;
      case 4:
        for (long j = 0; j < N; j++) r[j] = 1.0f / (1.0f + __builtin_expf(-r[j]));
        break;
      case 5:
        for (long j = 0; j < N; j++) r[j] = r[j] > 0.0f ? r[j] : __builtin_expm1f(r[j]);
        break;
      default:
        break;
    }
  }
  return nullptr;
}

// sumAxis(X, offX, outer, mid, inner, Y, offY): X viewed as [outer, mid, inner],
// Y[o, i] = sum_m X[o, m, i] (float32 accumulation, like tfjs).
napi_value SumAxis(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  float *X, *Y;
  long lx, ly, offX, outer, mid, inner, offY;
  if (argc < 7 || !get_f32(env, argv[0], &X, &lx) || !get_long(env, argv[1], &offX) ||
      !get_long(env, argv[2], &outer) || !get_long(env, argv[3], &mid) ||
      !get_long(env, argv[4], &inner) || !get_f32(env, argv[5], &Y, &ly) ||
      !get_long(env, argv[6], &offY))
    return throw_type(env, "sumAxis(X, offX, outer, mid, inner, Y, offY)");
  if (offX + outer * mid * inner > lx || offY + outer * inner > ly)
    return throw_range(env, "sumAxis: out of range");
  for (long o = 0; o < outer; o++) {
    const float* x = X + offX + o * mid * inner;
    float* y = Y + offY + o * inner;
    if (inner == 1) {
      float acc[16] = {0};
      long m = 0;
      for (; m + 16 <= mid; m += 16)
        for (int q = 0; q < 16; q++) acc[q] += x[m + q];
      float t = 0;
      for (int q = 0; q < 16; q++) t += acc[q];
      for (; m < mid; m++) t += x[m];
      y[0] = t;
    } else {
      for (long i = 0; i < inner; i++) y[i] = 0.0f;
      for (long m = 0; m < mid; m++) {
        const float* xr = x + m * inner;
        for (long i = 0; i < inner; i++) y[i] += xr[i];
      }
    }
  }
  return nullptr;
}

// exp(X, offX, n, Y, offY): Y = exp(X), vectorized (X and Y may be the same array).
napi_value Exp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  float *X, *Y;
  long lx, ly, offX, n, offY;
  if (argc < 5 || !get_f32(env, argv[0], &X, &lx) || !get_long(env, argv[1], &offX) ||
      !get_long(env, argv[2], &n) || !get_f32(env, argv[3], &Y, &ly) || !get_long(env, argv[4], &offY))
    return throw_type(env, "exp(X, offX, n, Y, offY)");
  if (offX + n > lx || offY + n > ly) return throw_range(env, "exp: out of range");
  g_kernel.exp(X + offX, Y + offY, n);
  return nullptr;
}

// sumSquares(X, off, n) -> sum of x^2 (double accumulation)
napi_value SumSquares(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  float* X;
  long lx, off, n;
  if (argc < 3 || !get_f32(env, argv[0], &X, &lx) || !get_long(env, argv[1], &off) ||
      !get_long(env, argv[2], &n))
    return throw_type(env, "sumSquares(X, off, n)");
  if (off + n > lx) return throw_range(env, "sumSquares: out of range");
  const float* x = X + off;
  // 8 partial float sums per block of 4096, accumulated in double.
  double total = 0;
  for (long i0 = 0; i0 < n; i0 += 4096) {
    const long i1 = i0 + 4096 < n ? i0 + 4096 : n;
    float acc[16] = {0};
    long i = i0;
    for (; i + 16 <= i1; i += 16)
      for (int q = 0; q < 16; q++) acc[q] += x[i + q] * x[i + q];
    double part = 0;
    for (int q = 0; q < 16; q++) part += acc[q];
    for (; i < i1; i++) part += static_cast<double>(x[i]) * x[i];
    total += part;
  }
  napi_value v;
  NAPI_OK(napi_create_double(env, total, &v));
  return v;
}

// adamw(P, offP, G, offG, M, offM, V, offV, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2Sqrt, clip)
// In place, torch.optim.AdamW (single-tensor) order of operations:
//   g *= clip; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; p *= 1 - lr*wd;
//   p -= (lr/bc1) * m / (sqrt(v)/bc2Sqrt + eps)
napi_value AdamW(napi_env env, napi_callback_info info) {
  size_t argc = 17;
  napi_value argv[17];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 17) return throw_type(env, "adamw expects 17 arguments");
  float *P, *G, *M, *V;
  long lp, lg, lm, lv, oP, oG, oM, oV, n;
  float h[8];
  if (!get_f32(env, argv[0], &P, &lp) || !get_f32(env, argv[2], &G, &lg) ||
      !get_f32(env, argv[4], &M, &lm) || !get_f32(env, argv[6], &V, &lv))
    return throw_type(env, "adamw: P, G, M, V must be Float32Arrays");
  if (!get_long(env, argv[1], &oP) || !get_long(env, argv[3], &oG) || !get_long(env, argv[5], &oM) ||
      !get_long(env, argv[7], &oV) || !get_long(env, argv[8], &n))
    return throw_type(env, "adamw: offsets/n must be non-negative integers");
  for (int i = 0; i < 8; i++)
    if (!get_float(env, argv[9 + i], &h[i])) return throw_type(env, "adamw: hyper-parameters must be numbers");
  if (oP + n > lp || oG + n > lg || oM + n > lm || oV + n > lv)
    return throw_range(env, "adamw: out of range");
  const float lr = h[0], b1 = h[1], b2 = h[2], eps = h[3], wd = h[4], bc1 = h[5], bc2s = h[6],
              clip = h[7];
  float* __restrict p = P + oP;
  const float* __restrict g = G + oG;
  float* __restrict m = M + oM;
  float* __restrict v = V + oV;
  const float omb1 = 1.0f - b1, omb2 = 1.0f - b2, decay = 1.0f - lr * wd, step = lr / bc1;
  for (long i = 0; i < n; i++) {
    const float gi = clip == 1.0f ? g[i] : g[i] * clip;
    const float mi = m[i] * b1 + gi * omb1;
    const float vi = v[i] * b2 + (gi * gi) * omb2;
    m[i] = mi;
    v[i] = vi;
    const float denom = __builtin_sqrtf(vi) / bc2s + eps;
    p[i] = p[i] * decay - (mi / denom) * step;
  }
  return nullptr;
}

napi_value set_prop(napi_env env, napi_value obj, const char* key, napi_value v) {
  napi_set_named_property(env, obj, key, v);
  return obj;
}

// info() -> {isa, threads, maxThreads, adaptive, mr, nr, lastThreads}
napi_value Info(napi_env env, napi_callback_info) {
  napi_value obj, v;
  NAPI_OK(napi_create_object(env, &obj));
  NAPI_OK(napi_create_string_utf8(env, g_kernel.isa, NAPI_AUTO_LENGTH, &v));
  set_prop(env, obj, "isa", v);
  const int current = g_adaptive && g_tuner.phase == 2 ? g_tuner.chosen : g_max_threads;
  NAPI_OK(napi_create_int32(env, current, &v));
  set_prop(env, obj, "threads", v);
  NAPI_OK(napi_create_int32(env, g_max_threads, &v));
  set_prop(env, obj, "maxThreads", v);
  NAPI_OK(napi_get_boolean(env, g_adaptive, &v));
  set_prop(env, obj, "adaptive", v);
  NAPI_OK(napi_create_int32(env, g_kernel.mr, &v));
  set_prop(env, obj, "mr", v);
  NAPI_OK(napi_create_int32(env, g_kernel.nr, &v));
  set_prop(env, obj, "nr", v);
  NAPI_OK(napi_create_int32(env, g_last_threads, &v));
  set_prop(env, obj, "lastThreads", v);
  NAPI_OK(napi_create_double(env, g_min_parallel_flops, &v));
  set_prop(env, obj, "minParallelFlops", v);
  return obj;
}

// setThreads(n, adaptive?) -> number of threads now allowed (clamped to pool).
napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  long n = 0;
  if (argc < 1 || !get_long(env, argv[0], &n) || n < 1)
    return throw_type(env, "setThreads: n must be a positive integer");
  const long cap = g_pool ? g_pool->workers() + 1 : 1;
  g_max_threads = static_cast<int>(n < cap ? n : cap);
  bool adaptive = false;
  if (argc >= 2) get_bool(env, argv[1], &adaptive);
  g_adaptive = adaptive && g_max_threads > 1;
  g_tuner = Tuner();
  napi_value v;
  NAPI_OK(napi_create_int32(env, g_max_threads, &v));
  return v;
}

// setMinParallelFlops(f)
napi_value SetMinParallelFlops(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  double d;
  if (argc < 1 || napi_get_value_double(env, argv[0], &d) != napi_ok || !(d >= 0))
    return throw_type(env, "setMinParallelFlops: expects a non-negative number");
  g_min_parallel_flops = d;
  return nullptr;
}

bool g_initialized = false;

napi_value Init(napi_env env, napi_value exports) {
  if (!g_initialized) {
    g_kernel = pick_kernel();
    init_threads();
    g_initialized = true;
  }
  napi_property_descriptor props[] = {
      {"sgemm", nullptr, Sgemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sgemmBatched", nullptr, SgemmBatched, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"biasAct", nullptr, BiasAct, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumSquares", nullptr, SumSquares, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"sumAxis", nullptr, SumAxis, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"exp", nullptr, Exp, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setMinParallelFlops", nullptr, SetMinParallelFlops, nullptr, nullptr, nullptr,
       napi_default, nullptr},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok)
    return nullptr;
  return exports;
}

}  // namespace
}  // namespace gptlab

NAPI_MODULE(NODE_GYP_MODULE_NAME, gptlab::Init)
