// The native GPT: forward, backward and AdamW for engine/model.ts's architecture, over one flat parameter buffer
// in the model file's order and PyTorch layouts (nn.Linear weights [out, in]). The fast CPU training path; the
// tfjs model stays the reference the tests hold it to.
// Legend: B batch, T time, D width, H query heads, KV key/value heads, G = H/KV, hs head size, A = H*hs,
// C = (H + 2*KV)*hs (q, k, v side by side), F = ffnMult*D, V vocabulary, N layers, M = B*T rows.
#ifndef GPTLAB_GPT_H
#define GPTLAB_GPT_H

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gptlab {

// Thrown when a model or a batch would need more memory than the machine has; the message says how much, for people.
struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// How positions reach the model: a learned table or fixed sin/cos added to the embeddings, q and k rotated (RoPE,
// rotate-half form, base 10000), or nothing but the causal mask.
enum class Positions { kLearned, kSinusoidal, kRope, kNone };

struct GPTShape {
  long V, T, D, H, N, F;  // T is the context length (the longest sequence); F = 0: attention-only blocks
  long KV;                // key/value heads: query head h reads key/value head h / (H/KV)
  long hs;                // head size (any; D/H is GPT-2's)
  bool rmsnorm;           // else LayerNorm
  bool gelu;              // else ReLU
  Positions positions;
  bool qkNorm;            // RMSNorm without weights on each head's q and k, after RoPE
  bool tied;              // lm_head reuses wte
  bool bias;              // biases in c_proj, the MLP, LayerNorm and lm_head
  bool qkvBias;           // bias on c_attn
  float dropout;          // on the embeddings, attention probabilities and both residual branches while training
};

// Where each tensor starts in the flat buffer (in floats); -1 where the config has no such tensor.
enum GlobalTensor { kWte, kWpe, kLnfW, kLnfB, kLmW, kLmB, kGlobalTensors };
enum LayerTensor {
  kLn1W, kLn1B, kAttnW, kAttnB, kProjW, kProjB, kLn2W, kLn2B, kFcW, kFcB, kFc2W, kFc2B, kLayerTensors
};

struct AdamWSettings {
  double lr, beta1, beta2, eps, weightDecay;
  double gradClip;  // max global L2 norm; 0 disables
  long t;           // 1-based number of this update (for the bias corrections)
};

struct StepResult {
  double loss;      // mean cross-entropy before the update
  double gradNorm;  // global L2 norm before clipping
  bool applied;     // false when either was not finite: the parameters and moments are unchanged
};

class NativeGPT {
 public:
  // offsets: kGlobalTensors entries, then kLayerTensors per layer. params is the caller's buffer of nparams floats
  // and must outlive this object. Returns null with a one-line reason when the layout does not fit the shape.
  static NativeGPT* create(const GPTShape& shape, const std::vector<long>& offsets, float* params, long nparams,
                           std::string* error);
  ~NativeGPT();
  NativeGPT(const NativeGPT&) = delete;
  NativeGPT& operator=(const NativeGPT&) = delete;

  // Mean cross-entropy of idx -> targets, both [B, T] (T <= context), without gradients. Ids must be < V.
  double loss(const int32_t* idx, const int32_t* targets, long B, long T);
  // The same, leaving every parameter's gradient in gradients() (no update). A nonzero seed makes it a training
  // forward, with the dropout masks that seed draws.
  double lossAndGradients(const int32_t* idx, const int32_t* targets, long B, long T, uint64_t seed = 0);
  // One AdamW step (forward, backward, global-norm clipping, update) on a [B, T] batch; the caller owns t.
  // seed draws the dropout masks (unused without dropout).
  StepResult step(const int32_t* idx, const int32_t* targets, long B, long T, const AdamWSettings& s, uint64_t seed);
  // Forward only (no dropout), keeping the activations for the probe accessors below. With 0 < layers < N, only the
  // first `layers` blocks and no logits: what an attention panel's first paint needs of a deep model.
  void forward(const int32_t* idx, long B, long T, long layers = 0);

  // Inference with a KV cache: appends n ids at positions cached() .. cached()+n-1 (cached() + n <= T) and returns
  // the logits of the last one [V]. A generated token then costs one pass over the weights instead of a forward over
  // its whole window. Valid until the next decode.
  const float* decode(const int32_t* ids, long n);
  // The cross-entropy of every row of a [B, T] batch against targets, into losses [B*T], by one forward pass without
  // dropout: a probe's windows all at once, each weight read once for all of them.
  // With entropies, also the entropy of every row's next-token distribution [B*T] (how unsure the model is there).
  void rowLosses(const int32_t* idx, const int32_t* targets, long B, long T, float* losses, float* entropies = nullptr);
  // decode and rowLosses pack the weights for the GEMM on their first call and keep them, so they are for weights that
  // no longer change; a training call (lossAndGradients, step) drops the packing.
  void resetCache() { cached_ = 0; }
  long cached() const { return cached_; }

  const GPTShape& shape() const { return s_; }
  // Null until the first lossAndGradients or step: a model that only infers never allocates gradients or moments.
  const float* gradients() const { return grads_; }
  long parameterCount() const { return nparams_; }
  // After forward(): logits [B, T, V]; attention probabilities of layer l [B, H, T, T]; the residual stream
  // entering layer l (l = N: after the last block) [B, T, D]. Only layers < forwardLayers() (and the residual up to
  // it, and logits when it is N) belong to the last forward.
  long forwardLayers() const { return forwardLayers_; }
  const float* logits() const { return logits_; }
  const float* attention(long l) const { return att_ + l * attStride_; }
  const float* residual(long l) const { return resid_ + l * rowsD_; }
  long rows() const { return M_; }
  long batch() const { return B_; }
  long time() const { return T_; }

  // Threads the next steps use: 0 tunes whole steps between all threads and one (the default).
  void setThreads(int n) { fixedThreads_ = n; }
  int lastThreads() const { return lastThreads_; }

 private:
  NativeGPT(const GPTShape& shape, const std::vector<long>& offsets, float* params, long nparams);
  float* P(long off) const { return off < 0 ? nullptr : params_ + off; }
  float* G(long off) const { return off < 0 ? nullptr : grads_ + off; }
  long layerOffset(long l, LayerTensor t) const { return offsets_[kGlobalTensors + l * kLayerTensors + t]; }
  void reserve(long B, long T);
  void forwardPass(const int32_t* idx, long B, long T, bool training, uint64_t seed, bool packed = false, long layers = 0);
  double forwardLoss(const int32_t* idx, const int32_t* targets, long B, long T, bool training, bool grad,
                     uint64_t seed);
  void backward(const int32_t* idx);
  void linear(const float* x, long inDim, long wOff, long bOff, float* y, long outDim, long rows, bool packed);
  void linearBackward(const float* dy, long outDim, const float* x, long inDim, long wOff, long bOff, float* dx);
  void norm(const float* x, long wOff, long bOff, float* y, float* mean, float* rstd);
  void addNorm(const float* a, const float* b, float* sum, long wOff, long bOff, float* y, float* mean, float* rstd);
  void normBackward(const float* dy, const float* x, const float* mean, const float* rstd, long wOff, long bOff,
                    float* dx);
  void attentionForward(const float* qkv, float* att, float* y, bool training, uint64_t seed);
  void attentionBackward(const float* qkv, const float* att, const float* dy, float* dqkv, uint64_t seed);
  void queryKeyForward(float* qkv, float* rstd, long rows, long T, long p0) const;
  void queryKeyBackward(const float* qkv, const float* rstd, float* dqkv) const;
  void nextNorm(long l, const float* a, const float* b, float* next);
  void dropout(float* x, long n, uint64_t seed) const;
  void ensureTrainingState();
  void decodeAttention(long l, long n, const float* qkv, float* y);
  int chooseThreads();
  int evalThreads() const;
  void recordStep(int threads, double seconds);

  GPTShape s_;
  std::vector<long> offsets_;
  float* params_;
  long nparams_;
  float* grads_ = nullptr;
  float* m_ = nullptr;
  float* v_ = nullptr;
  std::vector<float> sinusoid_;  // [T, D] when positions are sinusoidal
  std::vector<float> ropeCos_, ropeSin_;  // [T, hs/2] each with rotary positions
  long A_ = 0, C_ = 0;                    // H*hs (attention width) and (H + 2*KV)*hs (q, k, v)

  // Activations for up to capRows_ rows (capB_ sequences), carved from one allocation.
  float* arena_ = nullptr;
  long capB_ = 0, capT_ = 0;
  long B_ = 0, T_ = 0, M_ = 0, rowsD_ = 0, attStride_ = 0;
  long forwardLayers_ = 0;  // blocks the last forward ran (N for every pass but a probe's first layers)
  float *resid_ = nullptr;                            // (N+1) x [M, D]: input of each block, then the final stream
  float *ln1_ = nullptr, *ln1Mean_ = nullptr, *ln1Rstd_ = nullptr;  // N x [M, D], N x [M], N x [M]
  float *qkv_ = nullptr;                              // N x [M, C], q and k after RoPE and QK-norm
  float *qkRstd_ = nullptr;                           // N x [M, H + KV]: QK-norm's 1/rms of each q and k head
  float *att_ = nullptr;                              // N x [B, H, T, T] probabilities (before dropout)
  float *attDrop_ = nullptr;                          // N x [B, H, T, T] after dropout (dropout > 0 only)
  float *atty_ = nullptr;                             // N x [M, A] heads merged, before c_proj
  float *mid_ = nullptr;                              // N x [M, D] residual after attention (F > 0 only)
  float *ln2_ = nullptr, *ln2Mean_ = nullptr, *ln2Rstd_ = nullptr;
  float *fch_ = nullptr, *fca_ = nullptr;             // N x [M, F] before and after the activation
  float *lnf_ = nullptr, *lnfMean_ = nullptr, *lnfRstd_ = nullptr;  // [M, D], [M], [M]
  float *logits_ = nullptr;                           // [M, V]; the gradient in place after a training forward
  float *branch_ = nullptr;                           // [M, D] scratch: a block's branch output / its gradient
  float *dresid_ = nullptr;                           // [M, D] gradient scratch
  float *dln_ = nullptr;                              // [M, max(D, A)] gradient scratch
  float *dqkv_ = nullptr;                             // [M, C]
  float *dff_ = nullptr;                              // [M, F]
  float *partials_ = nullptr;                         // per-chunk partial sums for norm weight gradients
  std::vector<double> sums_;                          // per-chunk partial sums (losses, squares)
  uint64_t dropoutSeed_ = 0;

  // decode(): the KV cache and the rows being decoded, carved from one allocation on the first call.
  float* decodeArena_ = nullptr;
  long cached_ = 0;
  float *kCache_ = nullptr, *vCache_ = nullptr;            // N x [T, KV*hs] each
  float *decX_ = nullptr, *decLn_ = nullptr, *decBranch_ = nullptr;  // [T, D]
  float *decY_ = nullptr;                                  // [T, A]
  float *decQkv_ = nullptr, *decFc_ = nullptr;             // [T, C], [T, F]
  float *decMean_ = nullptr, *decRstd_ = nullptr;          // [T]
  float *decQkRstd_ = nullptr;                             // [T, H + KV]
  float *decLogits_ = nullptr;                             // [V]
  float* packedArena_ = nullptr;                           // the weights packed for GemmTask::packedB
  std::vector<std::pair<long, const float*>> packed_;      // (weight offset, packed copy) of every linear layer
  void packWeights();
  void dropPackedWeights();
  const float* packedWeight(long wOff) const;

  int fixedThreads_ = 0;
  int lastThreads_ = 1;
  long stepsTimed_ = 0;
  int tunedThreads_ = 0;     // what the step tuner currently uses (0: not started)
  double bestSeconds_[2] = {0, 0};  // recent step time with [0] all threads, [1] one thread
};

}  // namespace gptlab

#endif
