// gptlab_native: N-API addon exposing a multi-threaded, runtime-dispatched
// SGEMM (AVX-512F / AVX2+FMA / portable) and fused optimiser helpers for the GPT Lab tfjs kernels, plus the
// native GPT trainer class (gpt_napi.cc).
#include <node_api.h>

#include <cstdint>
#include <cstring>

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
  gemm(GemmTask{ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc});
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
  gemm(GemmTask{ta, tb, M, N, K, alpha, A + offA, lda, B + offB, ldb, beta, C + offC, ldc}, batch, sA, sB, sC);
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
  kernels().exp(X + offX, Y + offY, n);
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
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  long n = 0;
  if (argc < 1 || !get_long(env, argv[0], &n) || n < 1)
    return throw_type(env, "setThreads: n must be a positive integer");
  bool want_adaptive = false;
  if (argc >= 2) get_bool(env, argv[1], &want_adaptive);
  set_threads(static_cast<int>(n < 1024 ? n : 1024), want_adaptive);
  napi_value v;
  NAPI_OK(napi_create_int32(env, max_threads(), &v));
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
  set_min_parallel_flops(d);
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  init_runtime();
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
  if (!define_native_gpt(env, exports)) return nullptr;
  return exports;
}

}  // namespace
}  // namespace gptlab

NAPI_MODULE(NODE_GYP_MODULE_NAME, gptlab::Init)
