// The native trainer's C interface for the WebAssembly build (scripts/build-wasm.js, Emscripten, SIMD128 and
// pthreads): the same NativeGPT as the N-API addon, compiled from the portable-vector kernels (gemm_generic.cc).
// engine/compute/wasm.ts wraps these functions in a class with NativeGPT's JavaScript interface. Pointers are
// offsets into the wasm heap; errors come back as a nonzero status with a one-line message in `error`.
#include <emscripten/emscripten.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "gpt.h"
#include "runtime.h"

using gptlab::NativeGPT;

namespace {

// 0 ok, 1 bad input (message), 2 out of memory (message), 3 other error (message).
int report(char* error, int len, int code, const char* msg) {
  if (error && len > 0) std::snprintf(error, static_cast<size_t>(len), "%s", msg);
  return code;
}

}  // namespace

// The one function that catches C++ exceptions (EXCEPTION_CATCHING_ALLOWED in scripts/build-wasm.js): catching
// everywhere would wrap every call of the hot code in a JavaScript trampoline.
extern "C" int gptlab_guarded(char* error, int len, void (*fn)(void*), void* ctx) {
  try {
    fn(ctx);
    return 0;
  } catch (const gptlab::OutOfMemory& e) {
    gptlab::set_thread_override(0);
    return report(error, len, 2, e.what());
  } catch (const std::bad_alloc&) {
    gptlab::set_thread_override(0);
    return report(error, len, 2, "out of memory");
  } catch (const std::exception& e) {
    gptlab::set_thread_override(0);
    return report(error, len, 3, e.what());
  }
}

namespace {

template <class F>
int guarded(char* error, int len, const F& f) {
  return gptlab_guarded(error, len, [](void* ctx) { (*static_cast<const F*>(ctx))(); },
                        const_cast<void*>(static_cast<const void*>(&f)));
}

}  // namespace

extern "C" {

// Threads of the pool (the caller included); call before anything else. 0 keeps the default (the core count).
EMSCRIPTEN_KEEPALIVE void gptlab_init(int threads) {
  gptlab::set_pool_size_hint(threads);
  gptlab::init_runtime();
}

// out[0] = max threads, out[1] = last threads, out[2] = adaptive; returns the ISA name.
EMSCRIPTEN_KEEPALIVE const char* gptlab_info(double* out) {
  gptlab::init_runtime();
  out[0] = gptlab::max_threads();
  out[1] = gptlab::last_threads();
  out[2] = gptlab::adaptive() ? 1 : 0;
  return gptlab::kernels().isa;
}

// shape: V, T, D, H, N, ffnMult, rmsnorm, gelu, positions (0 sinusoidal, 1 learned, 2 rope, 3 none), tied, bias,
// qkvBias, dropout, kvHeads, headDim, qkNorm.
EMSCRIPTEN_KEEPALIVE int gptlab_create(const double* shape, const double* offsets, int noffsets, float* params,
                                       double nparams, NativeGPT** out, char* error, int errorLen) {
  gptlab::GPTShape s{};
  s.V = static_cast<long>(shape[0]);
  s.T = static_cast<long>(shape[1]);
  s.D = static_cast<long>(shape[2]);
  s.H = static_cast<long>(shape[3]);
  s.N = static_cast<long>(shape[4]);
  s.F = static_cast<long>(shape[5]) * s.D;
  s.rmsnorm = shape[6] != 0;
  s.gelu = shape[7] != 0;
  const gptlab::Positions positions[] = {gptlab::Positions::kSinusoidal, gptlab::Positions::kLearned,
                                         gptlab::Positions::kRope, gptlab::Positions::kNone};
  s.positions = positions[static_cast<int>(shape[8]) & 3];
  s.tied = shape[9] != 0;
  s.bias = shape[10] != 0;
  s.qkvBias = shape[11] != 0;
  s.dropout = static_cast<float>(shape[12]);
  s.KV = static_cast<long>(shape[13]);
  s.hs = static_cast<long>(shape[14]);
  s.qkNorm = shape[15] != 0;
  std::vector<long> offs(noffsets);
  for (int i = 0; i < noffsets; i++) offs[i] = static_cast<long>(offsets[i]);
  *out = nullptr;
  std::string msg;
  const int rc = guarded(error, errorLen, [&] { *out = NativeGPT::create(s, offs, params, static_cast<long>(nparams), &msg); });
  if (rc != 0) return rc;
  if (!*out) return report(error, errorLen, 1, ("NativeGPT: " + msg).c_str());
  return 0;
}

EMSCRIPTEN_KEEPALIVE void gptlab_destroy(NativeGPT* m) { delete m; }

EMSCRIPTEN_KEEPALIVE int gptlab_loss(NativeGPT* m, const int32_t* idx, const int32_t* targets, int B, int T,
                                     double* out, char* error, int errorLen) {
  return guarded(error, errorLen, [&] { *out = m->loss(idx, targets, B, T); });
}

EMSCRIPTEN_KEEPALIVE int gptlab_loss_and_gradients(NativeGPT* m, const int32_t* idx, const int32_t* targets, int B,
                                                   int T, double seed, double* out, char* error, int errorLen) {
  return guarded(error, errorLen,
                 [&] { *out = m->lossAndGradients(idx, targets, B, T, static_cast<uint64_t>(seed)); });
}

// settings: lr, beta1, beta2, eps, weightDecay, gradClip, t, seed (the order of every bridge: engine/compute/addon.ts
// ADAMW_STEP_FIELDS, gpt_napi.cc Step); out: loss, gradNorm, applied, threads.
EMSCRIPTEN_KEEPALIVE int gptlab_step(NativeGPT* m, const int32_t* idx, const int32_t* targets, int B, int T,
                                     const double* settings, double* out, char* error, int errorLen) {
  gptlab::AdamWSettings a{};
  a.lr = settings[0];
  a.beta1 = settings[1];
  a.beta2 = settings[2];
  a.eps = settings[3];
  a.weightDecay = settings[4];
  a.gradClip = settings[5];
  a.t = static_cast<long>(settings[6]);
  const uint64_t seed = static_cast<uint64_t>(settings[7]);
  return guarded(error, errorLen, [&] {
    const gptlab::StepResult r = m->step(idx, targets, B, T, a, seed);
    out[0] = r.loss;
    out[1] = r.gradNorm;
    out[2] = r.applied ? 1 : 0;
    out[3] = m->lastThreads();
  });
}

// Forward only; 0 < layers < N (checked by the caller) runs only the first blocks, without logits: a probe's first layers.
EMSCRIPTEN_KEEPALIVE int gptlab_forward_layers(NativeGPT* m, const int32_t* idx, int B, int T, int layers, char* error,
                                               int errorLen) {
  return guarded(error, errorLen, [&] { m->forward(idx, B, T, layers); });
}
// Blocks the last forward ran: attention(l) and residual(l) hold that forward's for l below it (residual: up to it).
EMSCRIPTEN_KEEPALIVE int gptlab_forward_layers_done(NativeGPT* m) { return static_cast<int>(m->forwardLayers()); }

// Inference with the KV cache (ghost text, sampling): n ids join the cache at the next positions; *out points at the
// logits of the last one [V], valid until the next decode. The caller checks the ids and that cached + n <= T.
EMSCRIPTEN_KEEPALIVE int gptlab_decode(NativeGPT* m, const int32_t* ids, int n, const float** out, char* error,
                                       int errorLen) {
  return guarded(error, errorLen, [&] { *out = m->decode(ids, n); });
}

// The cross-entropy of every row of a [B, T] batch into losses [B*T] (a hover's surprise), one forward pass without
// dropout.
EMSCRIPTEN_KEEPALIVE int gptlab_row_losses(NativeGPT* m, const int32_t* idx, const int32_t* targets, int B, int T,
                                           float* losses, char* error, int errorLen) {
  return guarded(error, errorLen, [&] { m->rowLosses(idx, targets, B, T, losses); });
}

// rowLosses with the entropy of every row's next-token distribution into entropies [B*T] (surprise and entropy).
EMSCRIPTEN_KEEPALIVE int gptlab_row_scores(NativeGPT* m, const int32_t* idx, const int32_t* targets, int B, int T,
                                           float* losses, float* entropies, char* error, int errorLen) {
  return guarded(error, errorLen, [&] { m->rowLosses(idx, targets, B, T, losses, entropies); });
}

EMSCRIPTEN_KEEPALIVE void gptlab_reset_cache(NativeGPT* m) { m->resetCache(); }
// Positions the KV cache holds.
EMSCRIPTEN_KEEPALIVE int gptlab_cached(NativeGPT* m) { return static_cast<int>(m->cached()); }

EMSCRIPTEN_KEEPALIVE const float* gptlab_gradients(NativeGPT* m) { return m->gradients(); }
EMSCRIPTEN_KEEPALIVE const float* gptlab_logits(NativeGPT* m) { return m->logits(); }
EMSCRIPTEN_KEEPALIVE const float* gptlab_attention(NativeGPT* m, int l) { return m->attention(l); }
EMSCRIPTEN_KEEPALIVE const float* gptlab_residual(NativeGPT* m, int l) { return m->residual(l); }
// rows, batch, time of the last forward
EMSCRIPTEN_KEEPALIVE int gptlab_rows(NativeGPT* m) { return static_cast<int>(m->rows()); }
EMSCRIPTEN_KEEPALIVE int gptlab_batch(NativeGPT* m) { return static_cast<int>(m->batch()); }
EMSCRIPTEN_KEEPALIVE int gptlab_time(NativeGPT* m) { return static_cast<int>(m->time()); }
EMSCRIPTEN_KEEPALIVE void gptlab_set_threads(NativeGPT* m, int n) { m->setThreads(n); }
EMSCRIPTEN_KEEPALIVE void* gptlab_malloc(double bytes) { return std::malloc(static_cast<size_t>(bytes)); }
EMSCRIPTEN_KEEPALIVE void gptlab_free(void* p) { std::free(p); }

}  // extern "C"
