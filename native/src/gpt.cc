// The native GPT's forward and backward passes (llm.c style: one forward/backward pair per layer kind), AdamW, and
// the step-level thread tuner. The math is engine/model.ts's; tests hold the two to PyTorch and to each other.
// Legend: B batch, T time, D width, H query heads, KV key/value heads, G = H/KV, hs head size, A = H*hs,
// C = (H + 2*KV)*hs, F = ffnMult*D, V vocabulary, N layers, M = B*T rows.
#include "gpt.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "runtime.h"

namespace gptlab {

namespace {

constexpr long kMaxChunks = 32;        // row chunks of an element-wise parallel region (and norm partial sums)
constexpr long kFlatChunk = 1L << 16;  // elements per unit when sweeping the flat parameter/gradient buffers
constexpr long kFirstProbe = 8;        // first one-step probe of the other thread count (a busy machine shows early)
constexpr long kProbeEvery = 100;      // steps between later probes
constexpr long kPackedMinRows = 2;     // decode: rows from which a linear layer runs on the packed weights

long round16(long n) { return (n + 15) & ~15L; }

float* alloc_floats(long n, bool zero) {
  const size_t bytes = ((static_cast<size_t>(n < 1 ? 1 : n) * sizeof(float) + 63) / 64) * 64;
  float* p = static_cast<float*>(aligned_malloc(bytes));
  if (p && zero) std::memset(p, 0, bytes);
  return p;
}

// The machine's physical memory in bytes, or 0 where it cannot be told.
double physical_memory() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && size > 0) return static_cast<double>(pages) * static_cast<double>(size);
#endif
  return 0;
}

std::string gigabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f GB", bytes / 1e9);
  return buf;
}

// Refuses (with OutOfMemory) to allocate more than three quarters of the machine's memory: on Linux such an
// allocation can succeed and then get the process killed when the pages are touched, with no message at all.
void check_fits(double bytes, const std::string& what) {
  const double physical = physical_memory();
  if (physical > 0 && bytes > 0.75 * physical)
    throw OutOfMemory(what + " needs " + gigabytes(bytes) + " but this machine has " + gigabytes(physical) +
                      " of memory");
}

// splitmix64: a counter-based hash, so dropout masks are recomputed in the backward pass instead of stored.
inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Element i survives dropout when the top 24 bits of its hash are at least p * 2^24.
inline bool keeps(uint64_t seed, uint64_t i, uint32_t threshold) {
  return static_cast<uint32_t>(mix64(seed ^ (i * 0xd1342543de82ef95ULL)) >> 40) >= threshold;
}

// Dropout sites: 0 the embeddings; per layer l: 3l+1 attention probabilities, 3l+2 c_proj, 3l+3 the MLP.
inline uint64_t site_seed(uint64_t stepSeed, long site) { return mix64(stepSeed * 0x9e3779b97f4a7c15ULL + site); }

// Splits rows into chunks of at least minRows, at most kMaxChunks. The split depends on the rows alone, never on
// the thread count, so that partial sums (losses, norm weight gradients) add up in the same order whatever the
// step tuner picks: a seed gives the same run on one thread or many.
void plan_rows(long rows, long minRows, long* chunks, long* per) {
  long c = rows / (minRows < 1 ? 1 : minRows);
  if (c > kMaxChunks) c = kMaxChunks;
  if (c < 1) c = 1;
  *per = (rows + c - 1) / c;
  *chunks = (rows + *per - 1) / *per;
}

// f(chunk, firstRow, endRow) over row chunks, in parallel.
template <class F>
void for_rows(long rows, long minRows, const F& f) {
  long chunks, per;
  plan_rows(rows, minRows, &chunks, &per);
  parallel_for(chunks, [&](long c, Workspace&) {
    const long r0 = c * per, r1 = r0 + per < rows ? r0 + per : rows;
    f(c, r0, r1);
  });
}

// f(firstColumn, columnCount) over column slices of 64, in parallel: for reductions over rows without conflicts.
template <class F>
void for_cols(long cols, const F& f) {
  const long slice = 64;
  parallel_for((cols + slice - 1) / slice, [&](long u, Workspace&) {
    const long c0 = u * slice;
    f(c0, c0 + slice < cols ? slice : cols - c0);
  });
}

void col_sum(const float* X, long rows, long cols, float* out) {
  for_cols(cols, [&](long c0, long n) { ops().col_sum(X + c0, rows, n, cols, out + c0); });
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// RoPE on each hs-wide head of x[0, heads*hs): pair (i, i + hs/2) turned by the angle whose cosine and sine are c[i]
// and s[i]; sign -1 turns back, which is the transpose (RoPE's backward).
void rotate_heads(float* x, long heads, long hs, const float* c, const float* s, float sign) {
  const long half = hs / 2;
  for (long h = 0; h < heads; h++) {
    float* x1 = x + h * hs;
    float* x2 = x1 + half;
    for (long i = 0; i < half; i++) {
      const float a = x1[i], b = x2[i], si = sign * s[i];
      x1[i] = a * c[i] - b * si;
      x2[i] = b * c[i] + a * si;
    }
  }
}

// QK-norm: each hs-wide head of x[0, heads*hs) divided by its RMS (eps 1e-5, no weight); rstd[h] keeps 1/rms.
void rms_heads(float* x, long heads, long hs, float* rstd) {
  for (long h = 0; h < heads; h++) {
    float* xh = x + h * hs;
    float ss = 0.0f;
    for (long i = 0; i < hs; i++) ss += xh[i] * xh[i];
    const float r = 1.0f / std::sqrt(ss / static_cast<float>(hs) + kNormEps);
    for (long i = 0; i < hs; i++) xh[i] *= r;
    rstd[h] = r;
  }
}

// Its backward from the normalised heads y: dy := rstd * (dy - y * mean(dy * y)), head by head.
void rms_heads_backward(const float* y, float* dy, long heads, long hs, const float* rstd) {
  for (long h = 0; h < heads; h++) {
    const float* yh = y + h * hs;
    float* gh = dy + h * hs;
    float dot = 0.0f;
    for (long i = 0; i < hs; i++) dot += gh[i] * yh[i];
    const float m = dot / static_cast<float>(hs), r = rstd[h];
    for (long i = 0; i < hs; i++) gh[i] = r * (gh[i] - yh[i] * m);
  }
}

}  // namespace

// ---------------------------------------------------------------- construction

NativeGPT* NativeGPT::create(const GPTShape& s, const std::vector<long>& offsets, float* params, long nparams,
                             std::string* error) {
  auto fail = [&](const std::string& why) -> NativeGPT* {
    *error = why;
    return nullptr;
  };
  if (s.V < 1 || s.T < 1 || s.D < 1 || s.H < 1 || s.N < 1 || s.KV < 1 || s.hs < 1 || s.F < 0)
    return fail("every dimension must be positive");
  if (s.H % s.KV != 0) return fail("heads must be a multiple of kvHeads");
  if (s.positions == Positions::kRope && s.hs % 2 != 0) return fail("rotary positions need an even head size");
  if (s.positions == Positions::kSinusoidal && s.D % 2 != 0) return fail("sinusoidal positions need an even dim");
  if (!(s.dropout >= 0.0f && s.dropout < 1.0f)) return fail("dropout must be in [0, 1)");
  if (static_cast<long>(offsets.size()) != kGlobalTensors + s.N * kLayerTensors)
    return fail("the tensor layout has the wrong number of entries");
  const bool normBias = !s.rmsnorm && s.bias;
  // Every tensor the config has must fit in the buffer; every tensor it lacks must be absent.
  std::vector<std::pair<long, long>> spans;  // (offset, size) of each tensor
  auto check = [&](long off, long size, bool present, const char* name) -> bool {
    if (!present) {
      if (off >= 0) *error = std::string("the layout has a ") + name + " this config does not";
      return off < 0;
    }
    if (off < 0 || off + size > nparams) {
      *error = std::string("tensor ") + name + " does not fit in the parameter buffer";
      return false;
    }
    spans.emplace_back(off, size);
    return true;
  };
  const long D = s.D, F = s.F, A = s.H * s.hs, C = (s.H + 2 * s.KV) * s.hs;
  const bool mlp = F > 0;
  if (!check(offsets[kWte], s.V * D, true, "wte") ||
      !check(offsets[kWpe], s.T * D, s.positions == Positions::kLearned, "wpe") ||
      !check(offsets[kLnfW], D, true, "ln_f.weight") || !check(offsets[kLnfB], D, normBias, "ln_f.bias") ||
      !check(offsets[kLmW], s.V * D, !s.tied, "lm_head.weight") || !check(offsets[kLmB], s.V, s.bias, "lm_head.bias"))
    return nullptr;
  for (long l = 0; l < s.N; l++) {
    const long* o = offsets.data() + kGlobalTensors + l * kLayerTensors;
    if (!check(o[kLn1W], D, true, "ln_1.weight") || !check(o[kLn1B], D, normBias, "ln_1.bias") ||
        !check(o[kAttnW], C * D, true, "c_attn.weight") || !check(o[kAttnB], C, s.qkvBias, "c_attn.bias") ||
        !check(o[kProjW], D * A, true, "attn.c_proj.weight") || !check(o[kProjB], D, s.bias, "attn.c_proj.bias") ||
        !check(o[kLn2W], D, mlp, "ln_2.weight") || !check(o[kLn2B], D, mlp && normBias, "ln_2.bias") ||
        !check(o[kFcW], F * D, mlp, "c_fc.weight") || !check(o[kFcB], F, mlp && s.bias, "c_fc.bias") ||
        !check(o[kFc2W], D * F, mlp, "mlp.c_proj.weight") || !check(o[kFc2B], D, mlp && s.bias, "mlp.c_proj.bias"))
      return nullptr;
  }
  // And together they tile it, back to back: sizes that fit but differ from the layout's (another head size, say)
  // would read the wrong weights.
  std::sort(spans.begin(), spans.end());
  long end = 0;
  for (const auto& span : spans) {
    if (span.first != end) return fail("the config's tensors do not tile the parameter buffer");
    end += span.second;
  }
  if (end != nparams) return fail("the config's tensors do not tile the parameter buffer");
  return new NativeGPT(s, offsets, params, nparams);
}

// Gradients and AdamW moments, on the first call that trains.
void NativeGPT::ensureTrainingState() {
  if (grads_) return;
  const double bytes = 3.0 * sizeof(float) * nparams_;
  check_fits(bytes, "the model's gradients and optimiser state");
  float* g = alloc_floats(nparams_, true);
  float* m = alloc_floats(nparams_, true);
  float* v = alloc_floats(nparams_, true);
  if (!g || !m || !v) {
    aligned_free(g);
    aligned_free(m);
    aligned_free(v);
    throw OutOfMemory("the model's gradients and optimiser state (" + gigabytes(bytes) + ") could not be allocated");
  }
  grads_ = g;
  m_ = m;
  v_ = v;
}

NativeGPT::NativeGPT(const GPTShape& s, const std::vector<long>& offsets, float* params, long nparams)
    : s_(s), offsets_(offsets), params_(params), nparams_(nparams), A_(s.H * s.hs), C_((s.H + 2 * s.KV) * s.hs) {
  init_runtime();
  if (s.positions == Positions::kSinusoidal) {
    // P[i, 2j] = sin(i / 10000^(2j/D)), P[i, 2j+1] = cos(...), in double like model.ts
    sinusoid_.assign(s.T * s.D, 0.0f);
    for (long i = 0; i < s.T; i++)
      for (long j = 0; 2 * j < s.D; j++) {
        const double angle = static_cast<double>(i) / std::pow(10000.0, static_cast<double>(2 * j) / s.D);
        sinusoid_[i * s.D + 2 * j] = static_cast<float>(std::sin(angle));
        if (2 * j + 1 < s.D) sinusoid_[i * s.D + 2 * j + 1] = static_cast<float>(std::cos(angle));
      }
  }
  if (s.positions == Positions::kRope) {
    // cos and sin of t / 10000^(2i/hs) for position t and pair i, in double like model.ts's ropeTables
    const long half = s.hs / 2;
    ropeCos_.assign(s.T * half, 0.0f);
    ropeSin_.assign(s.T * half, 0.0f);
    for (long t = 0; t < s.T; t++)
      for (long i = 0; i < half; i++) {
        const double angle = static_cast<double>(t) / std::pow(10000.0, static_cast<double>(2 * i) / s.hs);
        ropeCos_[t * half + i] = static_cast<float>(std::cos(angle));
        ropeSin_[t * half + i] = static_cast<float>(std::sin(angle));
      }
  }
}

NativeGPT::~NativeGPT() {
  aligned_free(grads_);
  aligned_free(m_);
  aligned_free(v_);
  aligned_free(arena_);
  aligned_free(decodeArena_);
  aligned_free(packedArena_);
}

// Lays out the activations of a [B, T] batch, growing the arena when it is larger than any before.
void NativeGPT::reserve(long B, long T) {
  const long D = s_.D, F = s_.F, V = s_.V, N = s_.N, H = s_.H, A = A_, C = C_;
  const bool drop = s_.dropout > 0;
  const long mlp = F > 0 ? 1 : 0;  // attention-only blocks keep no mid-block stream or ln_2
  const long qkHeads = s_.qkNorm ? H + s_.KV : 0;
  // The pieces, in the order they are carved; the sizes grow with B and T, so the largest batch's arena fits all.
  auto pieces = [&](long b, long t, float** out) -> long {
    const long M = b * t, att = b * H * t * t;
    const long sizes[] = {(N + 1) * M * D, N * M * D, N * M, N * M, N * M * C, N * att, drop ? N * att : 0,
                          N * M * A, mlp * N * M * D, mlp * N * M * D, mlp * N * M, mlp * N * M, N * M * F,
                          N * M * F, M * D, M, M, M * V, M * D, M * D, M * (A > D ? A : D), M * C, M * F,
                          kMaxChunks * 2 * D, N * M * qkHeads};
    long total = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
      if (out) out[i] = arena_ + total;
      total += round16(sizes[i]);
    }
    return total;
  };
  if (B > capB_ || T > capT_) {
    const long b = B > capB_ ? B : capB_, t = T > capT_ ? T : capT_;
    const double bytes = sizeof(float) * static_cast<double>(pieces(b, t, nullptr));
    const std::string what = "a batch of " + std::to_string(b) + " x " + std::to_string(t) + " tokens";
    check_fits(bytes, what);
    aligned_free(arena_);
    arena_ = nullptr;
    capB_ = capT_ = 0;
    // Not zeroed: every activation is written before it is read, and untouched pages cost nothing.
    arena_ = alloc_floats(pieces(b, t, nullptr), false);
    if (!arena_) throw OutOfMemory(what + " needs " + gigabytes(bytes) + ", which could not be allocated");
    capB_ = b;
    capT_ = t;
  }
  float* p[25];
  pieces(B, T, p);
  resid_ = p[0];
  ln1_ = p[1];
  ln1Mean_ = p[2];
  ln1Rstd_ = p[3];
  qkv_ = p[4];
  att_ = p[5];
  attDrop_ = drop ? p[6] : nullptr;
  atty_ = p[7];
  mid_ = p[8];
  ln2_ = p[9];
  ln2Mean_ = p[10];
  ln2Rstd_ = p[11];
  fch_ = p[12];
  fca_ = p[13];
  lnf_ = p[14];
  lnfMean_ = p[15];
  lnfRstd_ = p[16];
  logits_ = p[17];
  branch_ = p[18];
  dresid_ = p[19];
  dln_ = p[20];
  dqkv_ = p[21];
  dff_ = p[22];
  partials_ = p[23];
  qkRstd_ = s_.qkNorm ? p[24] : nullptr;
  B_ = B;
  T_ = T;
  M_ = B * T;
  rowsD_ = M_ * D;
  attStride_ = B * H * T * T;
}

// ---------------------------------------------------------------- layers

// y [rows, out] = x [rows, in] @ W[out, in]^T (+ b), on W's packed copy when `packed` (inference, see packWeights)
void NativeGPT::linear(const float* x, long inDim, long wOff, long bOff, float* y, long outDim, long rows,
                       bool packed) {
  GemmTask t{0, 1, rows, outDim, inDim, 1.0f, x, inDim, P(wOff), inDim, 0.0f, y, outDim};
  t.bias = P(bOff);
  if (packed) t.packedB = packedWeight(wOff);
  gemm(t);
}

// From dy [M, out]: dW = dy^T @ x and db = column sums (both overwritten), and dx [M, in] = dy @ W when dx is set.
// dW and dx need the same work and neither needs the other, so they run side by side.
void NativeGPT::linearBackward(const float* dy, long outDim, const float* x, long inDim, long wOff, long bOff,
                               float* dx) {
  const GemmTask dW{1, 0, outDim, inDim, M_, 1.0f, dy, outDim, x, inDim, 0.0f, G(wOff), inDim};
  if (dx) gemm_pair(dW, GemmTask{0, 0, M_, inDim, outDim, 1.0f, dy, outDim, P(wOff), inDim, 0.0f, dx, inDim});
  else gemm(dW);
  if (bOff >= 0) col_sum(dy, M_, outDim, G(bOff));
}

void NativeGPT::norm(const float* x, long wOff, long bOff, float* y, float* mean, float* rstd) {
  const long D = s_.D;
  for_rows(M_, 8, [&](long, long r0, long r1) {
    ops().norm_forward(x + r0 * D, P(wOff), P(bOff), y + r0 * D, mean + r0, rstd + r0, r1 - r0, D, s_.rmsnorm);
  });
}

// sum = a + b, then y = norm(sum): a residual connection and the norm that reads it, in one pass over the rows.
void NativeGPT::addNorm(const float* a, const float* b, float* sum, long wOff, long bOff, float* y, float* mean,
                        float* rstd) {
  const long D = s_.D;
  for_rows(M_, 8, [&](long, long r0, long r1) {
    ops().add(a + r0 * D, b + r0 * D, sum + r0 * D, (r1 - r0) * D);
    ops().norm_forward(sum + r0 * D, P(wOff), P(bOff), y + r0 * D, mean + r0, rstd + r0, r1 - r0, D, s_.rmsnorm);
  });
}

// dx += the norm's input gradient; the weight (and bias) gradients are overwritten.
void NativeGPT::normBackward(const float* dy, const float* x, const float* mean, const float* rstd, long wOff,
                             long bOff, float* dx) {
  const long D = s_.D;
  long chunks, per;
  plan_rows(M_, 8, &chunks, &per);
  parallel_for(chunks, [&](long c, Workspace&) {
    const long r0 = c * per, r1 = r0 + per < M_ ? r0 + per : M_;
    float* dw = partials_ + c * 2 * D;
    float* db = dw + D;
    std::memset(dw, 0, sizeof(float) * 2 * D);
    ops().norm_backward(dy + r0 * D, x + r0 * D, mean + r0, rstd + r0, P(wOff), dx + r0 * D, dw,
                        bOff >= 0 ? db : nullptr, r1 - r0, D, s_.rmsnorm);
  });
  float* gw = G(wOff);
  float* gb = G(bOff);
  for (long j = 0; j < D; j++) {
    float w = 0.0f, b = 0.0f;
    for (long c = 0; c < chunks; c++) {
      w += partials_[c * 2 * D + j];
      b += partials_[c * 2 * D + D + j];
    }
    gw[j] = w;
    if (gb) gb[j] = b;
  }
}

// qkv [M, C] -> att [B, H, T, T] (probabilities), y [M, A] (heads side by side), one (b, h) per unit; query head h
// reads key/value head h / G.
void NativeGPT::attentionForward(const float* qkv, float* att, float* y, bool training, uint64_t seed) {
  const long T = T_, H = s_.H, KV = s_.KV, G = H / KV, hs = s_.hs, A = A_, C = C_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const bool drop = training && s_.dropout > 0;
  const uint32_t threshold = static_cast<uint32_t>(s_.dropout * 16777216.0f);
  const float keepScale = 1.0f / (1.0f - s_.dropout);
  float* attDrop = drop ? attDrop_ + (att - att_) : nullptr;
  parallel_for(B_ * H, [&](long u, Workspace& ws) {
    const long b = u / H, h = u % H;
    const float* q = qkv + b * T * C + h * hs;           // [T, hs], row stride C
    const float* k = qkv + b * T * C + A + (h / G) * hs;
    const float* v = k + KV * hs;
    float* P = att + u * T * T;                     // [T, T]
    float* Pd = drop ? attDrop + u * T * T : P;     // what multiplies v
    // P = causal softmax(q k^T / sqrt(hs)); y = P v
    ops().attn_scores(q, C, k, C, T, hs, scale, P, T, ws.scratchFor(hs * (T + 64)));
    ops().causal_softmax(P, T, T, 0, T);
    if (drop) {
      for (long i = 0; i < T; i++)
        for (long j = 0; j < T; j++) {
          const uint64_t idx = static_cast<uint64_t>(u * T + i) * T + j;
          Pd[i * T + j] = keeps(seed, idx, threshold) ? P[i * T + j] * keepScale : 0.0f;
        }
    }
    ops().attn_apply(Pd, T, v, C, T, hs, y + b * T * A + h * hs, A);
  });
}

// dy [M, A] -> dqkv [M, C], from the saved probabilities. One unit per (b, key/value head): the G query heads that
// share its k and v add their dk and dv in a fixed order, so results do not depend on the thread count.
void NativeGPT::attentionBackward(const float* qkv, const float* att, const float* dy, float* dqkv, uint64_t seed) {
  const long T = T_, H = s_.H, KV = s_.KV, G = H / KV, hs = s_.hs, A = A_, C = C_;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const bool drop = attDrop_ != nullptr && dropoutSeed_ != 0;
  const uint32_t threshold = static_cast<uint32_t>(s_.dropout * 16777216.0f);
  const float keepScale = 1.0f / (1.0f - s_.dropout);
  const float* attDrop = drop ? attDrop_ + (att - att_) : nullptr;
  parallel_for(B_ * KV, [&](long unit, Workspace& ws) {
    const long b = unit / KV, g = unit % KV;
    const float* k = qkv + b * T * C + A + g * hs;
    const float* v = k + KV * hs;
    float* dk = dqkv + b * T * C + A + g * hs;
    float* dv = dk + KV * hs;
    for (long t = 0; t < T; t++) {
      std::memset(dk + t * C, 0, sizeof(float) * hs);
      std::memset(dv + t * C, 0, sizeof(float) * hs);
    }
    float* dP = ws.scratchFor(T * T + hs * (T + 64));  // [T, T], then the transposed-operand scratch
    float* scratch = dP + T * T;
    for (long h = g * G; h < (g + 1) * G; h++) {
      const long u = b * H + h;  // the forward pass's unit
      const float* q = qkv + b * T * C + h * hs;
      float* dq = dqkv + b * T * C + h * hs;
      const float* P = att + u * T * T;
      const float* Pd = drop ? attDrop + u * T * T : P;
      const float* dyo = dy + b * T * A + h * hs;
      // dP = dy v^T (through the dropout mask), then dS = the softmax backward, scaled by 1/sqrt(hs)
      ops().attn_scores(dyo, A, v, C, T, hs, 1.0f, dP, T, scratch);
      if (drop) {
        for (long i = 0; i < T; i++)
          for (long j = 0; j <= i; j++) {
            const uint64_t idx = static_cast<uint64_t>(u * T + i) * T + j;
            if (!keeps(seed, idx, threshold)) dP[i * T + j] = 0.0f;
            else dP[i * T + j] *= keepScale;
          }
      }
      ops().softmax_backward(P, T, dP, T, T, 0, T, scale);
      // dq = dS k;  dk += dS^T q;  dv += Pd^T dy
      ops().attn_apply(dP, T, k, C, T, hs, dq, C);
      ops().attn_apply_t(dP, T, q, C, T, hs, dk, C);
      ops().attn_apply_t(Pd, T, dyo, A, T, hs, dv, C);
    }
  });
}

// RoPE, then QK-norm, in place on the q and k heads (the first H + KV heads of each row) of qkv [rows, C]; row r is
// at position p0 + r % T. rstd [rows, H + KV] keeps QK-norm's factors for the backward pass.
void NativeGPT::queryKeyForward(float* qkv, float* rstd, long rows, long T, long p0) const {
  const bool rope = s_.positions == Positions::kRope;
  if (!rope && !s_.qkNorm) return;
  const long heads = s_.H + s_.KV, hs = s_.hs, half = hs / 2, C = C_;
  for_rows(rows, 8, [&](long, long r0, long r1) {
    for (long r = r0; r < r1; r++) {
      float* row = qkv + r * C;
      const long t = p0 + r % T;
      if (rope) rotate_heads(row, heads, hs, ropeCos_.data() + t * half, ropeSin_.data() + t * half, 1.0f);
      if (s_.qkNorm) rms_heads(row, heads, hs, rstd + r * heads);
    }
  });
}

// The gradient through queryKeyForward of the last training forward, in place on the q and k heads of dqkv [M, C]:
// QK-norm's backward from the normed heads in qkv, then RoPE's (the opposite turn).
void NativeGPT::queryKeyBackward(const float* qkv, const float* rstd, float* dqkv) const {
  const bool rope = s_.positions == Positions::kRope;
  if (!rope && !s_.qkNorm) return;
  const long heads = s_.H + s_.KV, hs = s_.hs, half = hs / 2, C = C_, T = T_;
  for_rows(M_, 8, [&](long, long r0, long r1) {
    for (long r = r0; r < r1; r++) {
      float* g = dqkv + r * C;
      const long t = r % T;
      if (s_.qkNorm) rms_heads_backward(qkv + r * C, g, heads, hs, rstd + r * heads);
      if (rope) rotate_heads(g, heads, hs, ropeCos_.data() + t * half, ropeSin_.data() + t * half, -1.0f);
    }
  });
}

// x *= mask / (1 - p), the mask drawn from seed.
void NativeGPT::dropout(float* x, long n, uint64_t seed) const {
  const uint32_t threshold = static_cast<uint32_t>(s_.dropout * 16777216.0f);
  const float keepScale = 1.0f / (1.0f - s_.dropout);
  parallel_for((n + kFlatChunk - 1) / kFlatChunk, [&](long u, Workspace&) {
    const long i1 = (u + 1) * kFlatChunk < n ? (u + 1) * kFlatChunk : n;
    for (long i = u * kFlatChunk; i < i1; i++) x[i] = keeps(seed, i, threshold) ? x[i] * keepScale : 0.0f;
  });
}

// ---------------------------------------------------------------- forward and backward

// next = a + b, the residual stream after block l, normed by what reads it: block l+1's ln_1, or ln_f after the last.
void NativeGPT::nextNorm(long l, const float* a, const float* b, float* next) {
  const long M = M_;
  if (l + 1 < s_.N)
    addNorm(a, b, next, layerOffset(l + 1, kLn1W), layerOffset(l + 1, kLn1B), ln1_ + (l + 1) * rowsD_,
            ln1Mean_ + (l + 1) * M, ln1Rstd_ + (l + 1) * M);
  else
    addNorm(a, b, next, offsets_[kLnfW], offsets_[kLnfB], lnf_, lnfMean_, lnfRstd_);
}

void NativeGPT::forwardPass(const int32_t* idx, long B, long T, bool training, uint64_t seed, bool packed, long layers) {
  reserve(B, T);
  const long D = s_.D, F = s_.F, V = s_.V, M = M_, N = s_.N, A = A_, C = C_, qkHeads = s_.H + s_.KV;
  const long blocks = layers > 0 && layers < N ? layers : N;  // fewer: a probe's first layers, without logits
  forwardLayers_ = blocks;
  const bool drop = training && s_.dropout > 0;
  dropoutSeed_ = drop ? (seed | 1) : 0;  // 0 marks "no dropout in this forward" for the backward pass
  const float* wte = P(offsets_[kWte]);
  // Learned and sinusoidal positions are added to the embeddings; rotary ones turn q and k; none adds nothing.
  const float* pos = s_.positions == Positions::kLearned      ? P(offsets_[kWpe])
                     : s_.positions == Positions::kSinusoidal ? sinusoid_.data()
                                                              : nullptr;
  // x = wte[idx] (+ pos[t])
  for_rows(M, 8, [&](long, long r0, long r1) {
    for (long r = r0; r < r1; r++) {
      const float* e = wte + static_cast<long>(idx[r]) * D;
      if (pos) ops().add(e, pos + (r % T) * D, resid_ + r * D, D);
      else std::memcpy(resid_ + r * D, e, sizeof(float) * D);
    }
  });
  if (drop) dropout(resid_, M * D, site_seed(dropoutSeed_, 0));
  norm(resid_, layerOffset(0, kLn1W), layerOffset(0, kLn1B), ln1_, ln1Mean_, ln1Rstd_);
  for (long l = 0; l < blocks; l++) {
    const float* x = resid_ + l * rowsD_;
    const float* ln1 = ln1_ + l * rowsD_;  // ln_1(x), computed with x
    float* qkv = qkv_ + l * M * C;
    float* atty = atty_ + l * M * A;
    float* next = resid_ + (l + 1) * rowsD_;
    // x + c_proj(attention(ln_1(x)))
    linear(ln1, D, layerOffset(l, kAttnW), layerOffset(l, kAttnB), qkv, C, M, packed);       // [M, C]
    queryKeyForward(qkv, qkRstd_ ? qkRstd_ + l * M * qkHeads : nullptr, M, T, 0);
    attentionForward(qkv, att_ + l * attStride_, atty, drop, site_seed(dropoutSeed_, 3 * l + 1));  // [M, A]
    linear(atty, A, layerOffset(l, kProjW), layerOffset(l, kProjB), branch_, D, M, packed);  // [M, D]
    if (drop) dropout(branch_, M * D, site_seed(dropoutSeed_, 3 * l + 2));
    if (F == 0) {  // attention-only block: x' = x + that, normed by what reads it next
      nextNorm(l, x, branch_, next);
      continue;
    }
    float* mid = mid_ + l * rowsD_;
    float* ln2 = ln2_ + l * rowsD_;
    float* fch = fch_ + l * M * F;
    float* fca = fca_ + l * M * F;
    addNorm(x, branch_, mid, layerOffset(l, kLn2W), layerOffset(l, kLn2B), ln2, ln2Mean_ + l * M, ln2Rstd_ + l * M);
    // x' = mid + c_proj(act(c_fc(ln_2(mid)))), normed by the next block's ln_1 (or ln_f after the last block)
    linear(ln2, D, layerOffset(l, kFcW), layerOffset(l, kFcB), fch, F, M, packed);            // [M, F]
    for_rows(M, 4, [&](long, long r0, long r1) {
      ops().act_forward(fch + r0 * F, fca + r0 * F, (r1 - r0) * F, s_.gelu);
    });
    linear(fca, F, layerOffset(l, kFc2W), layerOffset(l, kFc2B), branch_, D, M, packed);      // [M, D]
    if (drop) dropout(branch_, M * D, site_seed(dropoutSeed_, 3 * l + 3));
    nextNorm(l, mid, branch_, next);
  }
  if (blocks < N) return;
  // logits = lm_head(ln_f(x)), lm_head being wte when tied
  linear(lnf_, D, s_.tied ? offsets_[kWte] : offsets_[kLmW], offsets_[kLmB], logits_, V, M, packed);  // [M, V]
}

double NativeGPT::forwardLoss(const int32_t* idx, const int32_t* targets, long B, long T, bool training, bool grad,
                              uint64_t seed) {
  forwardPass(idx, B, T, training, seed);
  const long V = s_.V;
  long chunks, per;
  plan_rows(M_, 1, &chunks, &per);
  sums_.assign(chunks, 0.0);
  // With grad, logits become dL/dlogits for L = mean loss: (softmax - onehot) / M
  parallel_for(chunks, [&](long c, Workspace&) {
    const long r0 = c * per, r1 = r0 + per < M_ ? r0 + per : M_;
    sums_[c] = ops().softmax_xent(logits_ + r0 * V, targets + r0, nullptr, r1 - r0, V, 1.0f / M_, grad);
  });
  double total = 0.0;
  for (double v : sums_) total += v;
  return total / M_;
}

// The gradient of the mean loss of the last training forward, whose logits now hold dL/dlogits.
void NativeGPT::backward(const int32_t* idx) {
  const long D = s_.D, F = s_.F, V = s_.V, M = M_, T = T_, A = A_, C = C_, qkHeads = s_.H + s_.KV;
  const bool drop = dropoutSeed_ != 0;
  const long wteOff = offsets_[kWte];
  // lm_head and ln_f
  linearBackward(logits_, V, lnf_, D, s_.tied ? wteOff : offsets_[kLmW], offsets_[kLmB], dln_);
  std::memset(dresid_, 0, sizeof(float) * M * D);
  normBackward(dln_, resid_ + s_.N * rowsD_, lnfMean_, lnfRstd_, offsets_[kLnfW], offsets_[kLnfB], dresid_);
  // Through a residual branch that had dropout, its gradient is dresid times the same mask.
  auto branchGradient = [&](uint64_t site) -> const float* {
    if (!drop) return dresid_;
    std::memcpy(branch_, dresid_, sizeof(float) * M * D);
    dropout(branch_, M * D, site_seed(dropoutSeed_, site));
    return branch_;
  };
  for (long l = s_.N - 1; l >= 0; l--) {
    const float* x = resid_ + l * rowsD_;
    const float* ln1 = ln1_ + l * rowsD_;
    const float* qkv = qkv_ + l * M * C;
    const float* atty = atty_ + l * M * A;
    if (F > 0) {
      const float* mid = mid_ + l * rowsD_;
      const float* ln2 = ln2_ + l * rowsD_;
      const float* fch = fch_ + l * M * F;
      const float* fca = fca_ + l * M * F;
      // MLP branch: dresid holds dL/dx'; afterwards dL/dmid
      linearBackward(branchGradient(3 * l + 3), D, fca, F, layerOffset(l, kFc2W), layerOffset(l, kFc2B), dff_);
      for_rows(M, 4, [&](long, long r0, long r1) {
        ops().act_backward(fch + r0 * F, dff_ + r0 * F, dff_ + r0 * F, (r1 - r0) * F, s_.gelu);
      });
      linearBackward(dff_, F, ln2, D, layerOffset(l, kFcW), layerOffset(l, kFcB), dln_);  // d ln2
      normBackward(dln_, mid, ln2Mean_ + l * M, ln2Rstd_ + l * M, layerOffset(l, kLn2W), layerOffset(l, kLn2B),
                   dresid_);
    }
    // attention branch: afterwards dresid holds dL/dx
    linearBackward(branchGradient(3 * l + 2), D, atty, A, layerOffset(l, kProjW), layerOffset(l, kProjB),
                   dln_);  // d atty [M, A]
    attentionBackward(qkv, att_ + l * attStride_, dln_, dqkv_, site_seed(dropoutSeed_, 3 * l + 1));  // [M, C]
    queryKeyBackward(qkv, qkRstd_ ? qkRstd_ + l * M * qkHeads : nullptr, dqkv_);
    linearBackward(dqkv_, C, ln1, D, layerOffset(l, kAttnW), layerOffset(l, kAttnB), dln_);  // d ln1
    normBackward(dln_, x, ln1Mean_ + l * M, ln1Rstd_ + l * M, layerOffset(l, kLn1W), layerOffset(l, kLn1B), dresid_);
  }
  // embeddings: scatter-add into wte (after lm_head's share when tied) and sum over the batch into wpe
  if (drop) dropout(dresid_, M * D, site_seed(dropoutSeed_, 0));
  float* dwte = G(wteOff);
  if (!s_.tied) std::memset(dwte, 0, sizeof(float) * s_.V * D);
  float* dwpe = G(offsets_[kWpe]);
  if (dwpe) std::memset(dwpe, 0, sizeof(float) * s_.T * D);
  for_cols(D, [&](long c0, long n) {
    for (long r = 0; r < M; r++) {
      const float* g = dresid_ + r * D + c0;
      float* w = dwte + static_cast<long>(idx[r]) * D + c0;
      for (long j = 0; j < n; j++) w[j] += g[j];
      if (dwpe) {
        float* p = dwpe + (r % T) * D + c0;
        for (long j = 0; j < n; j++) p[j] += g[j];
      }
    }
  });
}

// ---------------------------------------------------------------- public entry points

void NativeGPT::forward(const int32_t* idx, long B, long T, long layers) {
  set_thread_override(evalThreads());
  forwardPass(idx, B, T, false, 0, false, layers);
  set_thread_override(0);
}

double NativeGPT::loss(const int32_t* idx, const int32_t* targets, long B, long T) {
  set_thread_override(evalThreads());
  const double l = forwardLoss(idx, targets, B, T, false, false, 0);
  set_thread_override(0);
  return l;
}

double NativeGPT::lossAndGradients(const int32_t* idx, const int32_t* targets, long B, long T, uint64_t seed) {
  ensureTrainingState();
  dropPackedWeights();
  set_thread_override(evalThreads());
  const double l = forwardLoss(idx, targets, B, T, seed != 0, true, seed);
  backward(idx);
  set_thread_override(0);
  return l;
}

StepResult NativeGPT::step(const int32_t* idx, const int32_t* targets, long B, long T, const AdamWSettings& s,
                           uint64_t seed) {
  ensureTrainingState();
  dropPackedWeights();
  const int threads = chooseThreads();
  set_thread_override(threads);
  const double t0 = now_seconds();
  StepResult r;
  r.loss = forwardLoss(idx, targets, B, T, true, true, seed);
  backward(idx);
  // clip_grad_norm_: the 2-norm of all gradients together
  const long units = (nparams_ + kFlatChunk - 1) / kFlatChunk;
  sums_.assign(units, 0.0);
  parallel_for(units, [&](long u, Workspace&) {
    const long i0 = u * kFlatChunk;
    sums_[u] = ops().sum_squares(grads_ + i0, i0 + kFlatChunk < nparams_ ? kFlatChunk : nparams_ - i0);
  });
  double sumSquares = 0.0;
  for (double v : sums_) sumSquares += v;
  r.gradNorm = std::sqrt(sumSquares);
  r.applied = std::isfinite(r.loss) && std::isfinite(r.gradNorm);
  if (r.applied) {
    const double clip = s.gradClip > 0 ? std::fmin(1.0, s.gradClip / (r.gradNorm + 1e-6)) : 1.0;
    const float h[8] = {static_cast<float>(s.lr), static_cast<float>(s.beta1), static_cast<float>(s.beta2),
                        static_cast<float>(s.eps), static_cast<float>(s.weightDecay),
                        static_cast<float>(1.0 - std::pow(s.beta1, static_cast<double>(s.t))),
                        static_cast<float>(std::sqrt(1.0 - std::pow(s.beta2, static_cast<double>(s.t)))),
                        static_cast<float>(clip)};
    parallel_for(units, [&](long u, Workspace&) {
      const long i0 = u * kFlatChunk;
      ops().adamw(params_ + i0, grads_ + i0, m_ + i0, v_ + i0,
                  i0 + kFlatChunk < nparams_ ? kFlatChunk : nparams_ - i0, h);
    });
  }
  recordStep(threads, now_seconds() - t0);
  set_thread_override(0);
  return r;
}

// ---------------------------------------------------------------- decoding with a KV cache
// The forward pass of forwardPass for n new rows at positions p0 = cached_ .. p0+n-1 of one sequence: their keys and
// values join the cache, and they attend to every cached position up to their own. Rows r of the scratch are the
// new tokens; row j of a layer's cache is position j.

// Causal attention of the n new rows over the cache of layer l: y [n, A], heads side by side; query head h reads
// key/value head h / G.
void NativeGPT::decodeAttention(long l, long n, const float* qkv, float* y) {
  const long H = s_.H, G = H / s_.KV, hs = s_.hs, W = s_.KV * hs, T = s_.T, A = A_, C = C_, p0 = cached_, L = p0 + n;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
  const float* K = kCache_ + l * T * W;
  const float* V = vCache_ + l * T * W;
  parallel_for(H, [&](long h, Workspace& ws) {
    const long g = h / G;
    float* S = ws.scratchFor(n * L);  // [n, L] scores, then probabilities
    // S = scale * q_h k_g^T; P = causal softmax (row r sees positions 0..p0+r); y_h = P v_g
    kernels().run(GemmTask{0, 1, n, L, hs, scale, qkv + h * hs, C, K + g * hs, W, 0.0f, S, L}, ws.packA, ws.packB);
    ops().causal_softmax(S, L, n, p0, L);
    kernels().run(GemmTask{0, 0, n, hs, L, 1.0f, S, L, V + g * hs, W, 0.0f, y + h * hs, A}, ws.packA, ws.packB);
  });
}

// Each linear layer's weight, packed whole for the micro-kernel (decode, rowLosses): a window of rows then runs at
// the GEMM's full rate instead of paying to pack the weight on every call.
void NativeGPT::packWeights() {
  const long D = s_.D, F = s_.F, V = s_.V, N = s_.N;
  const GemmKernel& k = kernels();
  struct Weight { long off, out, in; };
  std::vector<Weight> weights;
  for (long l = 0; l < N; l++) {
    weights.push_back({layerOffset(l, kAttnW), C_, D});
    weights.push_back({layerOffset(l, kProjW), D, A_});
    if (F == 0) continue;
    weights.push_back({layerOffset(l, kFcW), F, D});
    weights.push_back({layerOffset(l, kFc2W), D, F});
  }
  weights.push_back({s_.tied ? offsets_[kWte] : offsets_[kLmW], V, D});
  long total = 0;
  for (const Weight& w : weights) total += round16(k.packedFloats(w.in, w.out));
  check_fits(sizeof(float) * static_cast<double>(total), "the packed weights for inference");
  packedArena_ = alloc_floats(total, false);
  if (!packedArena_) throw OutOfMemory("the packed weights for inference could not be allocated");
  long at = 0;
  for (const Weight& w : weights) {
    // op(B) = W^T [in, out] of the [out, in] weight
    k.pack(w.in, w.out, P(w.off), w.in, 1, packedArena_ + at);
    packed_.emplace_back(w.off, packedArena_ + at);
    at += round16(k.packedFloats(w.in, w.out));
  }
}

const float* NativeGPT::packedWeight(long wOff) const {
  for (const auto& p : packed_)
    if (p.first == wOff) return p.second;
  return nullptr;
}

void NativeGPT::dropPackedWeights() {
  aligned_free(packedArena_);
  packedArena_ = nullptr;
  packed_.clear();
}

const float* NativeGPT::decode(const int32_t* ids, long n) {
  const long D = s_.D, F = s_.F, V = s_.V, T = s_.T, N = s_.N, A = A_, C = C_, W = s_.KV * s_.hs, p0 = cached_;
  if (n < 1 || p0 + n > T) throw std::invalid_argument("decode: the cache holds " + std::to_string(T) + " tokens; " +
                                                       std::to_string(p0) + " + " + std::to_string(n) + " do not fit");
  if (!decodeArena_) {
    const long sizes[] = {N * T * W, N * T * W, T * D, T * D, T * A, T * D, T * C, T * F, T, T, V, T * (s_.H + s_.KV)};
    long total = 0;
    for (long size : sizes) total += round16(size);
    check_fits(sizeof(float) * static_cast<double>(total), "the decoding cache");
    decodeArena_ = alloc_floats(total, false);
    if (!decodeArena_) throw OutOfMemory("the decoding cache could not be allocated");
    float** pieces[] = {&kCache_, &vCache_, &decX_, &decLn_, &decY_, &decBranch_, &decQkv_, &decFc_, &decMean_,
                        &decRstd_, &decLogits_, &decQkRstd_};
    long at = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
      *pieces[i] = decodeArena_ + at;
      at += round16(sizes[i]);
    }
  }
  if (!packedArena_) packWeights();
  set_thread_override(evalThreads());
  // A single row reads each weight as it is stored (rowdot_run, bound by memory); more rows run the micro-kernel on
  // the packed copy.
  const bool packed = n >= kPackedMinRows;
  auto normRows = [&](const float* x, long wOff, long bOff, float* y, long rows) {
    ops().norm_forward(x, P(wOff), P(bOff), y, decMean_, decRstd_, rows, D, s_.rmsnorm);
  };
  const float* wte = P(offsets_[kWte]);
  const float* pos = s_.positions == Positions::kLearned      ? P(offsets_[kWpe])
                     : s_.positions == Positions::kSinusoidal ? sinusoid_.data()
                                                              : nullptr;
  for (long r = 0; r < n; r++) {
    const float* e = wte + static_cast<long>(ids[r]) * D;
    if (pos) ops().add(e, pos + (p0 + r) * D, decX_ + r * D, D);
    else std::memcpy(decX_ + r * D, e, sizeof(float) * D);
  }
  for (long l = 0; l < N; l++) {
    // x += c_proj(attention(ln_1(x)))
    normRows(decX_, layerOffset(l, kLn1W), layerOffset(l, kLn1B), decLn_, n);
    linear(decLn_, D, layerOffset(l, kAttnW), layerOffset(l, kAttnB), decQkv_, C, n, packed);  // [n, C]
    queryKeyForward(decQkv_, decQkRstd_, n, n, p0);  // rows at positions p0 .. p0+n-1
    for (long r = 0; r < n; r++) {
      std::memcpy(kCache_ + (l * T + p0 + r) * W, decQkv_ + r * C + A, sizeof(float) * W);
      std::memcpy(vCache_ + (l * T + p0 + r) * W, decQkv_ + r * C + A + W, sizeof(float) * W);
    }
    decodeAttention(l, n, decQkv_, decY_);                                                      // [n, A]
    linear(decY_, A, layerOffset(l, kProjW), layerOffset(l, kProjB), decBranch_, D, n, packed);
    ops().add(decX_, decBranch_, decX_, n * D);
    if (F == 0) continue;  // attention-only block
    // x += c_proj(act(c_fc(ln_2(x))))
    normRows(decX_, layerOffset(l, kLn2W), layerOffset(l, kLn2B), decLn_, n);
    linear(decLn_, D, layerOffset(l, kFcW), layerOffset(l, kFcB), decFc_, F, n, packed);           // [n, F]
    ops().act_forward(decFc_, decFc_, n * F, s_.gelu);
    linear(decFc_, F, layerOffset(l, kFc2W), layerOffset(l, kFc2B), decBranch_, D, n, packed);
    ops().add(decX_, decBranch_, decX_, n * D);
  }
  cached_ = p0 + n;
  // logits = lm_head(ln_f(x)) of the last row
  normRows(decX_ + (n - 1) * D, offsets_[kLnfW], offsets_[kLnfB], decLn_, 1);
  linear(decLn_, D, s_.tied ? offsets_[kWte] : offsets_[kLmW], offsets_[kLmB], decLogits_, V, 1, false);
  set_thread_override(0);
  return decLogits_;
}

// The entropy of softmax(z) over one row of V logits, in double: log Z - sum(p * z).
static float rowEntropy(const float* z, long V) {
  float m = z[0];
  for (long i = 1; i < V; i++) m = z[i] > m ? z[i] : m;
  double sum = 0.0, weighted = 0.0;
  for (long i = 0; i < V; i++) {
    const double e = __builtin_exp((double)(z[i] - m));
    sum += e;
    weighted += e * (double)(z[i] - m);
  }
  return (float)(__builtin_log(sum) - weighted / sum);
}

void NativeGPT::rowLosses(const int32_t* idx, const int32_t* targets, long B, long T, float* losses, float* entropies) {
  if (!packedArena_) packWeights();
  set_thread_override(evalThreads());
  forwardPass(idx, B, T, false, 0, true);
  const long V = s_.V;
  for_rows(M_, 1, [&](long, long r0, long r1) {
    if (entropies)  // before softmax_xent, which may overwrite the logits it reads
      for (long r = r0; r < r1; r++) entropies[r] = rowEntropy(logits_ + r * V, V);
    ops().softmax_xent(logits_ + r0 * V, targets + r0, losses + r0, r1 - r0, V, 1.0f, 0);
  });
  set_thread_override(0);
}

// ---------------------------------------------------------------- thread tuning
// Whole steps are timed, not single GEMMs: mostly all threads, and at step kFirstProbe and every kProbeEvery steps
// one step with the other count. When another process competes for the cores, one thread can win; the tuner then
// stays there until a probe says otherwise.

int NativeGPT::evalThreads() const {
  return fixedThreads_ > 0 ? fixedThreads_ : tunedThreads_ > 0 ? tunedThreads_ : max_threads();
}

int NativeGPT::chooseThreads() {
  if (fixedThreads_ > 0) return lastThreads_ = fixedThreads_;
  const int all = max_threads();
  if (all <= 1 || !adaptive()) return lastThreads_ = all;
  if (tunedThreads_ == 0) tunedThreads_ = all;
  stepsTimed_++;
  const bool probe = stepsTimed_ == kFirstProbe || stepsTimed_ % kProbeEvery == 0;
  return lastThreads_ = probe ? (tunedThreads_ == 1 ? all : 1) : tunedThreads_;
}

void NativeGPT::recordStep(int threads, double seconds) {
  if (fixedThreads_ > 0 || tunedThreads_ == 0 || stepsTimed_ < 2) return;  // the first step pays for allocations
  const int slot = threads == 1 ? 1 : 0;
  if (threads == tunedThreads_) {
    bestSeconds_[slot] = bestSeconds_[slot] == 0 ? seconds : 0.8 * bestSeconds_[slot] + 0.2 * seconds;
    return;
  }
  // A probe: switch when the other count is clearly faster than the recent average.
  const int current = tunedThreads_ == 1 ? 1 : 0;
  bestSeconds_[slot] = seconds;
  if (bestSeconds_[current] > 0 && seconds < 0.92 * bestSeconds_[current]) {
    tunedThreads_ = threads;
    bestSeconds_[slot] = seconds;
  }
}

}  // namespace gptlab
