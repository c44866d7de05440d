// gptlab_native: N-API addon exposing a multi-threaded, runtime-dispatched
// SGEMM (AVX-512F / AVX2+FMA / portable) and fused optimiser helpers for the GPT Lab tfjs kernels, plus the
// native GPT trainer class (gpt_napi.cc).
#include <node_api.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "gpt_napi.h"
#include "napi_args.h"
#include "runtime.h"

namespace gptlab {
namespace {

// ---------------------------------------------------------------- N-API glue

#define NAPI_OK(call)                                       \
  do {                                                      \
    if ((call) != napi_ok) {                                \
      napi_throw_error(env, nullptr, "N-API call failed");  \
      return nullptr;                                       \
    }                                                       \
  } while (0)

// Whether an array of `length` floats holds `batch` rows x cols matrices with leading dimension ld, the first at
// offset and each next one `stride` further.
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
napi_value throw_range(napi_env env, const std::string& msg) {
  napi_throw_range_error(env, nullptr, msg.c_str());
  return nullptr;
}
// "usage: argument 7 is missing or of the wrong type", for the argument Args read last.
napi_value bad_argument(napi_env env, const char* usage, const Args& args) {
  const std::string msg = std::string(usage) + ": argument " + std::to_string(args.last()) + " is missing or of the wrong type";
  return throw_type(env, msg.c_str());
}

// A matrix operand of a GEMM call: its array, where the first batch's matrix starts and the step to the next one
// (both in floats; a step of 0 broadcasts it), and its leading dimension.
struct Operand {
  float* data;
  long length, offset = 0, stride = 0, ld = 0;
  bool spans(long rows, long cols, long batch) const { return span_ok(rows, cols, ld, offset, stride, batch, length); }
};

// sgemmBatched(transA, transB, batch, M, N, K, alpha,
//              A, offA, strideA, lda, B, offB, strideB, ldb,
//              beta, C, offC, strideC, ldc)
// and sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc), the same with one batch and every operand
// at offset 0.
napi_value Gemm(napi_env env, napi_callback_info info, bool batched) {
  const char* name = batched ? "sgemmBatched" : "sgemm";
  const char* usage = batched ? "sgemmBatched(transA, transB, batch, M, N, K, alpha, A, offA, strideA, lda, B, offB, "
                                "strideB, ldb, beta, C, offC, strideC, ldc)"
                              : "sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)";
  Args args(env, info);
  const auto operand = [&](Operand* o) {
    return args.f32(&o->data, &o->length) && (!batched || (args.whole(&o->offset) && args.whole(&o->stride))) &&
           args.whole(&o->ld);
  };
  bool ta, tb;
  long batch = 1, M, N, K;
  float alpha, beta;
  Operand A, B, C;
  if (!args.flag(&ta) || !args.flag(&tb) || (batched && !args.whole(&batch)) || !args.whole(&M) || !args.whole(&N) ||
      !args.whole(&K) || !args.number(&alpha) || !operand(&A) || !operand(&B) || !args.number(&beta) || !operand(&C))
    return bad_argument(env, usage, args);
  if (batch == 0) return nullptr;
  if (K > 0 && (!A.spans(ta ? K : M, ta ? M : K, batch) || !B.spans(tb ? N : K, tb ? K : N, batch)))
    return throw_range(env, std::string(name) + ": A or B too small for the given sizes/leading dimensions");
  if (!C.spans(M, N, batch)) return throw_range(env, std::string(name) + ": C too small for the given sizes/leading dimension");
  if (batch > 1 && C.stride < M * C.ld && M > 0 && N > 0)
    return throw_range(env, std::string(name) + ": output batches overlap (strideC too small)");
  gemm(GemmTask{ta, tb, M, N, K, alpha, A.data + A.offset, A.ld, B.data + B.offset, B.ld, beta, C.data + C.offset, C.ld},
       batch, A.stride, B.stride, C.stride);
  return nullptr;
}

napi_value Sgemm(napi_env env, napi_callback_info info) { return Gemm(env, info, false); }
napi_value SgemmBatched(napi_env env, napi_callback_info info) { return Gemm(env, info, true); }

// biasAct(C, offC, rows, N, bias | null, offBias, biasLen, act, alpha)
// In place over rows x N contiguous floats: add bias (biasLen == N: per
// column; biasLen == 1: scalar), then activation: 0 linear, 1 relu, 2 relu6,
// 3 leakyrelu(alpha), 4 sigmoid, 5 elu.
napi_value BiasAct(napi_env env, napi_callback_info info) {
  Args args(env, info);
  float *C, *bias = nullptr;
  bool has_bias;
  long lc, lbias = 0, offC, rows, N, offBias, biasLen, act;
  float alpha;
  if (!args.f32(&C, &lc) || !args.whole(&offC) || !args.whole(&rows) || !args.whole(&N) ||
      !args.f32_or_null(&bias, &lbias, &has_bias) || !args.whole(&offBias) || !args.whole(&biasLen) || !args.whole(&act) ||
      !args.number(&alpha))
    return bad_argument(env, "biasAct(C, offC, rows, N, bias | null, offBias, biasLen, act, alpha)", args);
  if (has_bias && (!(biasLen == 1 || biasLen == N) || offBias + biasLen > lbias))
    return throw_range(env, "biasAct: bad bias length");
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
  Args args(env, info);
  float *X, *Y;
  long lx, ly, offX, outer, mid, inner, offY;
  if (!args.f32(&X, &lx) || !args.whole(&offX) || !args.whole(&outer) || !args.whole(&mid) || !args.whole(&inner) ||
      !args.f32(&Y, &ly) || !args.whole(&offY))
    return bad_argument(env, "sumAxis(X, offX, outer, mid, inner, Y, offY)", args);
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
  Args args(env, info);
  float *X, *Y;
  long lx, ly, offX, n, offY;
  if (!args.f32(&X, &lx) || !args.whole(&offX) || !args.whole(&n) || !args.f32(&Y, &ly) || !args.whole(&offY))
    return bad_argument(env, "exp(X, offX, n, Y, offY)", args);
  if (offX + n > lx || offY + n > ly) return throw_range(env, "exp: out of range");
  kernels().exp(X + offX, Y + offY, n);
  return nullptr;
}

// sumSquares(X, off, n) -> sum of x^2 (double accumulation)
napi_value SumSquares(napi_env env, napi_callback_info info) {
  Args args(env, info);
  float* X;
  long lx, off, n;
  if (!args.f32(&X, &lx) || !args.whole(&off) || !args.whole(&n)) return bad_argument(env, "sumSquares(X, off, n)", args);
  if (off + n > lx) return throw_range(env, "sumSquares: out of range");
  const double total = ops().sum_squares(X + off, n);
  napi_value v;
  NAPI_OK(napi_create_double(env, total, &v));
  return v;
}

// adamw(P, offP, G, offG, M, offM, V, offV, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2Sqrt, clip)
// In place, torch.optim.AdamW (single-tensor) order of operations:
//   g *= clip; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; p *= 1 - lr*wd;
//   p -= (lr/bc1) * m / (sqrt(v)/bc2Sqrt + eps)
napi_value AdamW(napi_env env, napi_callback_info info) {
  Args args(env, info);
  float *P, *G, *M, *V;
  long lp, lg, lm, lv, oP, oG, oM, oV, n;
  float h[8];
  bool ok = args.f32(&P, &lp) && args.whole(&oP) && args.f32(&G, &lg) && args.whole(&oG) && args.f32(&M, &lm) &&
            args.whole(&oM) && args.f32(&V, &lv) && args.whole(&oV) && args.whole(&n);
  for (int i = 0; i < 8 && ok; i++) ok = args.number(&h[i]);
  if (!ok)
    return bad_argument(env, "adamw(P, offP, G, offG, M, offM, V, offV, n, lr, beta1, beta2, eps, weightDecay, bc1, "
                             "bc2Sqrt, clip)", args);
  if (oP + n > lp || oG + n > lg || oM + n > lm || oV + n > lv)
    return throw_range(env, "adamw: out of range");
  ops().adamw(P + oP, G + oG, M + oM, V + oV, n, h);
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
  NAPI_OK(napi_create_string_utf8(env, kernels().isa, NAPI_AUTO_LENGTH, &v));
  set_prop(env, obj, "isa", v);
  NAPI_OK(napi_create_int32(env, current_threads(), &v));
  set_prop(env, obj, "threads", v);
  NAPI_OK(napi_create_int32(env, max_threads(), &v));
  set_prop(env, obj, "maxThreads", v);
  NAPI_OK(napi_get_boolean(env, adaptive(), &v));
  set_prop(env, obj, "adaptive", v);
  NAPI_OK(napi_create_int32(env, kernels().mr, &v));
  set_prop(env, obj, "mr", v);
  NAPI_OK(napi_create_int32(env, kernels().nr, &v));
  set_prop(env, obj, "nr", v);
  NAPI_OK(napi_create_int32(env, last_threads(), &v));
  set_prop(env, obj, "lastThreads", v);
  NAPI_OK(napi_create_double(env, min_parallel_flops(), &v));
  set_prop(env, obj, "minParallelFlops", v);
  return obj;
}

// setThreads(n, adaptive?) -> number of threads now allowed (clamped to pool).
napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args args(env, info);
  long n = 0;
  if (!args.whole(&n) || n < 1) return throw_type(env, "setThreads: n must be a positive integer");
  bool want_adaptive = false;
  if (args.more()) args.flag(&want_adaptive);
  set_threads(static_cast<int>(n < 1024 ? n : 1024), want_adaptive);
  napi_value v;
  NAPI_OK(napi_create_int32(env, max_threads(), &v));
  return v;
}

// setMinParallelFlops(f)
napi_value SetMinParallelFlops(napi_env env, napi_callback_info info) {
  Args args(env, info);
  double d;
  if (!args.real(&d) || !(d >= 0)) return throw_type(env, "setMinParallelFlops: expects a non-negative number");
  set_min_parallel_flops(d);
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  init_runtime();
  const auto functions = descriptors({{"sgemm", Sgemm}, {"sgemmBatched", SgemmBatched}, {"biasAct", BiasAct},
      {"sumSquares", SumSquares}, {"sumAxis", SumAxis}, {"exp", Exp}, {"adamw", AdamW}, {"info", Info},
      {"setThreads", SetThreads}, {"setMinParallelFlops", SetMinParallelFlops}});
  if (napi_define_properties(env, exports, functions.size(), functions.data()) != napi_ok) return nullptr;
  if (!define_native_gpt(env, exports)) return nullptr;
  return exports;
}

}  // namespace
}  // namespace gptlab

NAPI_MODULE(NODE_GYP_MODULE_NAME, gptlab::Init)
