// The element-wise kernels of the native GPT (layer norms, activations, softmax, cross-entropy, AdamW), compiled
// once per ISA like the GEMM (ops_impl.h) and reached through this table. Plain C types only, for the same reason
// as gemm.h. Every kernel works on a range of rows so that the caller can split the rows between threads.
// Legend: D model width, V vocabulary, rows = how many rows of the [rows, D] (or [rows, V]) matrix to process.
#ifndef GPTLAB_OPS_H
#define GPTLAB_OPS_H

namespace gptlab {

constexpr float kNormEps = 1e-5f;

struct OpsKernel {
  // LayerNorm (rms = 0): y = (x - mean) * rstd * w (+ b), rstd = 1/sqrt(var + eps) with the biased variance.
  // RMSNorm (rms = 1): y = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps); mean is stored as 0. b may be null.
  // x, y [rows, D]; mean, rstd [rows] are saved for the backward pass.
  void (*norm_forward)(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, long rows,
                       long D, int rms);
  // Accumulates: dx += dL/dx, dw += dy * xhat, db += dy (db may be null). dy, x, dx [rows, D].
  void (*norm_backward)(const float* dy, const float* x, const float* mean, const float* rstd, const float* w,
                        float* dx, float* dw, float* db, long rows, long D, int rms);
  // a = relu(h) or gelu(h) (exact erf form), n elements.
  void (*act_forward)(const float* h, float* a, long n, int gelu);
  // dh = da * act'(h); dh may alias da.
  void (*act_backward)(const float* h, const float* da, float* dh, long n, int gelu);
  // Cross-entropy of each row of logits z [rows, V] against targets y [rows]: returns the sum of the row losses
  // logsumexp(z) - z[y], and writes each row's loss to losses when that is not null. With grad, z is overwritten
  // with (softmax(z) - onehot(y)) * scale, the gradient of scale * sum of the losses.
  double (*softmax_xent)(float* z, const int* y, float* losses, long rows, long V, float scale, int grad);
  // In place over rows of S (leading dimension ld): row i is query position q0 + i and attends to columns
  // [0, q0 + i]; those become a softmax, and columns up to ncols beyond them become 0.
  void (*causal_softmax)(float* S, long ld, long rows, long q0, long ncols);
  // Softmax backward on the same causal rows: dP := P * (dP - sum_j P dP) * scale, zero beyond the diagonal.
  void (*softmax_backward)(const float* P, long ldp, float* dP, long ldd, long rows, long q0, long ncols, float scale);
  // One attention head, causal, matrices [T, hs] with leading dimensions: S[i, j] = scale * q[i] . k[j] for j <= i
  // (kT: scratch of hs * (T + 64) floats); y[i] = sum_{j <= i} P[i, j] v[j]; and the transposed
  // out[j] += sum_{i >= j} W[i, j] x[i]. P and W must be zero beyond the diagonal.
  void (*attn_scores)(const float* q, long ldq, const float* k, long ldk, long T, long hs, float scale, float* S,
                      long lds, float* kT);
  void (*attn_apply)(const float* P, long ldp, const float* v, long ldv, long T, long hs, float* y, long ldy);
  void (*attn_apply_t)(const float* W, long ldw, const float* x, long ldx, long T, long hs, float* out, long ldo);
  // torch.optim.AdamW's single-tensor update of n elements in place; h = {lr, beta1, beta2, eps, weightDecay,
  // bc1 = 1 - beta1^t, bc2Sqrt = sqrt(1 - beta2^t), clip (gradient scale)}.
  void (*adamw)(float* p, const float* g, float* m, float* v, long n, const float* h);
  // sum of x^2 (double accumulation).
  double (*sum_squares)(const float* x, long n);
  // out[c] = sum over r of X[r * ld + c], for c < cols.
  void (*col_sum)(const float* X, long rows, long cols, long ld, float* out);
  // out = a + b, n elements (out may alias either).
  void (*add)(const float* a, const float* b, float* out, long n);
};

OpsKernel ops_kernel_generic();
#if defined(__x86_64__) || defined(__i386__)
OpsKernel ops_kernel_avx2();
OpsKernel ops_kernel_avx512();
#endif

}  // namespace gptlab

#endif
