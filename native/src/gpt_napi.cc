// new NativeGPT(shape, offsets, params): the native trainer as a JavaScript class.
//   shape   {vocabSize, contextLength, dim, heads, layers, ffnMult, norm, activation, positions, tieEmbeddings,
//            bias, qkvBias, dropout, kvHeads, headDim, qkNorm} (engine/model/config.ts's GPTConfig)
//   offsets Float64Array: where each tensor starts in params (gpt.h's GlobalTensor, then LayerTensor per layer), -1
//           for tensors the config lacks
//   params  Float32Array of every parameter in the model file's order and layouts. The object keeps a reference
//           and trains it in place, so JavaScript always sees the current weights.
// Methods: loss, lossAndGradients, gradients, step, forward, logits, attention, residual, rowLosses, rowScores, decode,
// resetCache, setThreads, dispose.
// Batches are Int32Array [B*T] of model ids in [0, V); T may be shorter than the context length.
#include "gpt_napi.h"

#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "gpt.h"
#include "napi_args.h"
#include "runtime.h"

namespace gptlab {
namespace {

// error.code of a JavaScript error for "needs more memory than the machine has" (engine/nativeTrainer.ts reads it).
constexpr const char* kOutOfMemoryCode = "ERR_GPTLAB_OUT_OF_MEMORY";

struct Wrapped {
  NativeGPT* model = nullptr;
  napi_ref params = nullptr;
};

void release(napi_env env, Wrapped* w) {
  delete w->model;
  w->model = nullptr;
  if (w->params) napi_delete_reference(env, w->params);
  w->params = nullptr;
}

void finalize(napi_env env, void* data, void*) {
  Wrapped* w = static_cast<Wrapped*>(data);
  release(env, w);
  delete w;
}

napi_value fail(napi_env env, const std::string& msg, bool range = false) {
  if (range) napi_throw_range_error(env, nullptr, msg.c_str());
  else napi_throw_type_error(env, nullptr, msg.c_str());
  return nullptr;
}

bool prop(napi_env env, napi_value obj, const char* key, napi_value* out) {
  bool has = false;
  return napi_has_named_property(env, obj, key, &has) == napi_ok && has &&
         napi_get_named_property(env, obj, key, out) == napi_ok;
}

bool prop_double(napi_env env, napi_value obj, const char* key, double* out) {
  napi_value v;
  return prop(env, obj, key, &v) && napi_get_value_double(env, v, out) == napi_ok;
}

bool prop_long(napi_env env, napi_value obj, const char* key, long* out) {
  double d;
  if (!prop_double(env, obj, key, &d) || d != static_cast<double>(static_cast<long>(d))) return false;
  *out = static_cast<long>(d);
  return true;
}

bool prop_bool(napi_env env, napi_value obj, const char* key, bool* out) {
  napi_value v;
  return prop(env, obj, key, &v) && napi_get_value_bool(env, v, out) == napi_ok;
}

bool prop_string(napi_env env, napi_value obj, const char* key, std::string* out) {
  napi_value v;
  char buf[64];
  size_t len = 0;
  if (!prop(env, obj, key, &v) || napi_get_value_string_utf8(env, v, buf, sizeof(buf), &len) != napi_ok) return false;
  out->assign(buf, len);
  return true;
}

napi_value make_number(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

// A new Float32Array holding a copy of n floats.
napi_value copy_out(napi_env env, const float* src, long n) {
  void* data = nullptr;
  napi_value buffer, array;
  if (napi_create_arraybuffer(env, sizeof(float) * n, &data, &buffer) != napi_ok) return nullptr;
  if (n > 0) std::memcpy(data, src, sizeof(float) * n);
  if (napi_create_typedarray(env, napi_float32_array, n, buffer, 0, &array) != napi_ok) return nullptr;
  return array;
}

struct Batch {
  const int32_t* idx = nullptr;
  const int32_t* targets = nullptr;
  long B = 0, T = 0;
};

// The next arguments, inputs [B*T] (and targets, when withTargets), B and T: sizes checked, and every id checked to
// be in the vocabulary.
bool read_batch(napi_env env, const GPTShape& s, Args& args, bool withTargets, Batch* b) {
  long ni = 0, nt = 0;
  int32_t* idx = nullptr;
  int32_t* tg = nullptr;
  if (!args.typed(napi_int32_array, &idx, &ni)) return fail(env, "inputs must be an Int32Array"), false;
  if (withTargets && !args.typed(napi_int32_array, &tg, &nt)) return fail(env, "targets must be an Int32Array"), false;
  if (!args.whole(&b->B) || !args.whole(&b->T) || b->B < 1 || b->T < 1)
    return fail(env, "B and T must be positive integers"), false;
  if (b->T > s.T) return fail(env, "T exceeds the context length", true), false;
  if (ni != b->B * b->T || (withTargets && nt != ni)) return fail(env, "inputs/targets must hold B*T ids", true), false;
  for (long i = 0; i < ni; i++)
    if (idx[i] < 0 || idx[i] >= s.V || (tg && (tg[i] < 0 || tg[i] >= s.V)))
      return fail(env, "token id out of the model's vocabulary", true), false;
  b->idx = idx;
  b->targets = tg;
  return true;
}

// Runs f, turning a C++ exception (allocation failure) into a JavaScript error.
template <class F>
napi_value guarded(napi_env env, const F& f) {
  try {
    return f();
  } catch (const OutOfMemory& e) {
    set_thread_override(0);
    napi_throw_error(env, kOutOfMemoryCode, e.what());
  } catch (const std::bad_alloc&) {
    set_thread_override(0);
    napi_throw_error(env, kOutOfMemoryCode, "out of memory");
  } catch (const std::exception& e) {
    set_thread_override(0);
    napi_throw_error(env, nullptr, e.what());
  }
  return nullptr;
}

// A method: body(model, args) on the model behind `this`, guarded; a JavaScript error instead when `this` is not a
// NativeGPT or was disposed.
template <class F>
napi_value method(napi_env env, napi_callback_info info, const F& body) {
  Args args(env, info);
  void* data = nullptr;
  if (napi_unwrap(env, args.self(), &data) != napi_ok || !data) return fail(env, "NativeGPT: not a NativeGPT object");
  NativeGPT* m = static_cast<Wrapped*>(data)->model;
  if (!m) return fail(env, "NativeGPT: the model was disposed");
  return guarded(env, [&] { return body(*m, args); });
}

// A method on a batch, (inputs, targets, B, T, ...) or without targets (inputs, B, T, ...): body(model, batch, args)
// once the batch is read and checked, the arguments after it still to read in args.
template <class F>
napi_value batch_method(napi_env env, napi_callback_info info, bool withTargets, const char* usage, const F& body) {
  return method(env, info, [&](NativeGPT& m, Args& args) -> napi_value {
    if (args.count() < (withTargets ? 4u : 3u)) return fail(env, usage);
    Batch b;
    if (!read_batch(env, m.shape(), args, withTargets, &b)) return nullptr;
    return body(m, b, args);
  });
}

napi_value Construct(napi_env env, napi_callback_info info) {
  Args args(env, info);
  napi_value shape, offsetsValue, paramsValue;
  if (!args.any(&shape) || !args.any(&offsetsValue) || !args.any(&paramsValue))
    return fail(env, "new NativeGPT(shape, offsets, params)");
  GPTShape s{};
  long ffnMult = 0;
  std::string norm, activation, positions;
  double dropout = 0;
  if (!prop_long(env, shape, "vocabSize", &s.V) || !prop_long(env, shape, "contextLength", &s.T) ||
      !prop_long(env, shape, "dim", &s.D) || !prop_long(env, shape, "heads", &s.H) ||
      !prop_long(env, shape, "layers", &s.N) || !prop_long(env, shape, "ffnMult", &ffnMult) ||
      !prop_string(env, shape, "norm", &norm) || !prop_string(env, shape, "activation", &activation) ||
      !prop_string(env, shape, "positions", &positions) || !prop_bool(env, shape, "tieEmbeddings", &s.tied) ||
      !prop_bool(env, shape, "bias", &s.bias) || !prop_bool(env, shape, "qkvBias", &s.qkvBias) ||
      !prop_double(env, shape, "dropout", &dropout) || !prop_long(env, shape, "kvHeads", &s.KV) ||
      !prop_long(env, shape, "headDim", &s.hs) || !prop_bool(env, shape, "qkNorm", &s.qkNorm))
    return fail(env, "NativeGPT: the shape is missing a field or has a wrongly typed one");
  if ((norm != "layernorm" && norm != "rmsnorm") || (activation != "relu" && activation != "gelu") ||
      (positions != "learned" && positions != "sinusoidal" && positions != "rope" && positions != "none"))
    return fail(env, "NativeGPT: unknown norm, activation or positions");
  s.F = ffnMult * s.D;
  s.rmsnorm = norm == "rmsnorm";
  s.gelu = activation == "gelu";
  s.positions = positions == "learned"      ? Positions::kLearned
                : positions == "sinusoidal" ? Positions::kSinusoidal
                : positions == "rope"       ? Positions::kRope
                                            : Positions::kNone;
  s.dropout = static_cast<float>(dropout);
  double* off = nullptr;
  long noff = 0;
  float* params = nullptr;
  long nparams = 0;
  if (!get_typed(env, offsetsValue, napi_float64_array, &off, &noff))
    return fail(env, "NativeGPT: offsets must be a Float64Array");
  if (!get_typed(env, paramsValue, napi_float32_array, &params, &nparams))
    return fail(env, "NativeGPT: params must be a Float32Array");
  std::vector<long> offsets(off, off + noff);
  std::string error;
  NativeGPT* model = nullptr;
  try {
    model = NativeGPT::create(s, offsets, params, nparams, &error);
  } catch (const OutOfMemory& e) {
    napi_throw_error(env, kOutOfMemoryCode, e.what());
    return nullptr;
  }
  if (!model) return fail(env, "NativeGPT: " + error, true);
  Wrapped* w = new Wrapped{model, nullptr};
  if (napi_create_reference(env, paramsValue, 1, &w->params) != napi_ok ||
      napi_wrap(env, args.self(), w, finalize, nullptr, nullptr) != napi_ok) {
    release(env, w);
    delete w;
    return fail(env, "NativeGPT: could not wrap the model");
  }
  return args.self();
}

napi_value Loss(napi_env env, napi_callback_info info) {
  return batch_method(env, info, true, "loss(inputs, targets, B, T)", [&](NativeGPT& m, const Batch& b, Args&) {
    return make_number(env, m.loss(b.idx, b.targets, b.B, b.T));
  });
}

// lossAndGradients(inputs, targets, B, T, seed?): a nonzero seed trains (dropout on, masks from the seed)
napi_value LossAndGradients(napi_env env, napi_callback_info info) {
  return batch_method(env, info, true, "lossAndGradients(inputs, targets, B, T, seed?)",
                      [&](NativeGPT& m, const Batch& b, Args& args) -> napi_value {
                        long seed = 0;
                        if (args.more() && !args.whole(&seed)) return fail(env, "seed must be a non-negative integer");
                        return make_number(env, m.lossAndGradients(b.idx, b.targets, b.B, b.T, static_cast<uint64_t>(seed)));
                      });
}

napi_value Gradients(napi_env env, napi_callback_info info) {
  return method(env, info, [&](NativeGPT& m, Args&) -> napi_value {
    if (!m.gradients()) return fail(env, "gradients: call lossAndGradients or step first");
    return copy_out(env, m.gradients(), m.parameterCount());
  });
}

// step(inputs, targets, B, T, settings) -> {loss, gradNorm, applied, threads}. settings: a Float64Array of the AdamW
// record in one order for every bridge (engine/compute/addon.ts ADAMW_STEP_FIELDS, gpt_wasm.cc's gptlab_step):
// lr, beta1, beta2, eps, weightDecay, gradClip, t, seed.
napi_value Step(napi_env env, napi_callback_info info) {
  const char* usage = "step(inputs, targets, B, T, settings)";
  return batch_method(env, info, true, usage, [&](NativeGPT& m, const Batch& b, Args& args) -> napi_value {
    if (!args.more()) return fail(env, usage);
    double* s = nullptr;
    long ns = 0;
    if (!args.typed(napi_float64_array, &s, &ns) || ns != 8 || !(s[6] >= 1) ||
        s[6] != static_cast<double>(static_cast<long>(s[6])) || !(s[7] >= 0 && s[7] <= 9.0e15))
      return fail(env, "step: settings must be a Float64Array of lr, beta1, beta2, eps, weightDecay, gradClip, t >= 1, seed");
    // AdamWSettings' fields are in the record's order: lr, beta1, beta2, eps, weightDecay, gradClip, t.
    const AdamWSettings a{s[0], s[1], s[2], s[3], s[4], s[5], static_cast<long>(s[6])};
    const StepResult r = m.step(b.idx, b.targets, b.B, b.T, a, static_cast<uint64_t>(s[7]));
    napi_value out, applied;
    napi_create_object(env, &out);
    napi_set_named_property(env, out, "loss", make_number(env, r.loss));
    napi_set_named_property(env, out, "gradNorm", make_number(env, r.gradNorm));
    napi_get_boolean(env, r.applied, &applied);
    napi_set_named_property(env, out, "applied", applied);
    napi_set_named_property(env, out, "threads", make_number(env, m.lastThreads()));
    return out;
  });
}

// forward(inputs, B, T, layers?): layers (1..N) runs only the first blocks, without logits (a probe's first layers)
napi_value Forward(napi_env env, napi_callback_info info) {
  return batch_method(env, info, false, "forward(inputs, B, T, layers?)", [&](NativeGPT& m, const Batch& b, Args& args) -> napi_value {
    long layers = 0;
    if (args.more() && (!args.whole(&layers) || layers < 1 || layers > m.shape().N))
      return fail(env, "forward: layers must be 1 to the model's " + std::to_string(m.shape().N), true);
    m.forward(b.idx, b.B, b.T, layers);
    return nullptr;
  });
}

napi_value Logits(napi_env env, napi_callback_info info) {
  return method(env, info, [&](NativeGPT& m, Args&) -> napi_value {
    if (m.rows() == 0) return fail(env, "logits: call forward first");
    if (m.forwardLayers() < m.shape().N) return fail(env, "logits: the last forward stopped after " + std::to_string(m.forwardLayers()) + " layers");
    return copy_out(env, m.logits(), m.rows() * m.shape().V);
  });
}

// decode(ids) -> the logits of the last id [V]: ids (Int32Array) join the KV cache at the next positions.
// resetCache() empties the cache.
napi_value Decode(napi_env env, napi_callback_info info) {
  return method(env, info, [&](NativeGPT& m, Args& args) -> napi_value {
    const GPTShape& s = m.shape();
    int32_t* ids = nullptr;
    long n = 0;
    if (!args.typed(napi_int32_array, &ids, &n)) return fail(env, "decode(ids: Int32Array)");
    if (n < 1 || m.cached() + n > s.T)
      return fail(env, "decode: the cache holds " + std::to_string(s.T) + " tokens; " + std::to_string(m.cached()) +
                           " + " + std::to_string(n) + " do not fit", true);
    for (long i = 0; i < n; i++)
      if (ids[i] < 0 || ids[i] >= s.V) return fail(env, "token id out of the model's vocabulary", true);
    return copy_out(env, m.decode(ids, n), s.V);
  });
}

// rowLosses(inputs, targets, B, T) -> the cross-entropy of every row [B*T], one forward pass without dropout;
// rowScores(inputs, targets, B, T) -> [2*B*T]: every row's cross-entropy, then every row's entropy, one forward pass
napi_value RowScores(napi_env env, napi_callback_info info, bool entropies) {
  const char* usage = entropies ? "rowScores(inputs, targets, B, T)" : "rowLosses(inputs, targets, B, T)";
  return batch_method(env, info, true, usage, [&](NativeGPT& m, const Batch& b, Args&) {
    const long rows = b.B * b.T;
    std::vector<float> scores((entropies ? 2 : 1) * rows);
    m.rowLosses(b.idx, b.targets, b.B, b.T, scores.data(), entropies ? scores.data() + rows : nullptr);
    return copy_out(env, scores.data(), scores.size());
  });
}

napi_value RowLosses(napi_env env, napi_callback_info info) { return RowScores(env, info, false); }
napi_value RowLossesAndEntropies(napi_env env, napi_callback_info info) { return RowScores(env, info, true); }

napi_value ResetCache(napi_env env, napi_callback_info info) {
  return method(env, info, [&](NativeGPT& m, Args&) -> napi_value {
    m.resetCache();
    return nullptr;
  });
}

// attention(l) -> [B, H, T, T] and residual(l) -> [B, T, D] (l = N: the stream after the last block), of the last
// forward
napi_value LayerProbe(napi_env env, napi_callback_info info, bool attention) {
  return method(env, info, [&](NativeGPT& m, Args& args) -> napi_value {
    const GPTShape& s = m.shape();
    long l = 0;
    if (!args.whole(&l) || l >= s.N + (attention ? 0 : 1)) return fail(env, "layer index out of range", true);
    if (m.rows() == 0) return fail(env, "call forward first");
    if (l >= m.forwardLayers() + (attention ? 0 : 1))
      return fail(env, "layer " + std::to_string(l) + " is past the " + std::to_string(m.forwardLayers()) + " layers of the last forward", true);
    if (attention) return copy_out(env, m.attention(l), m.batch() * s.H * m.time() * m.time());
    return copy_out(env, m.residual(l), m.rows() * s.D);
  });
}

napi_value Attention(napi_env env, napi_callback_info info) { return LayerProbe(env, info, true); }
napi_value Residual(napi_env env, napi_callback_info info) { return LayerProbe(env, info, false); }

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return method(env, info, [&](NativeGPT& m, Args& args) -> napi_value {
    long n = 0;
    if (!args.whole(&n)) return fail(env, "setThreads(n): n >= 0 (0 tunes)");
    m.setThreads(static_cast<int>(n < 1024 ? n : 1024));
    return nullptr;
  });
}

napi_value Dispose(napi_env env, napi_callback_info info) {
  Args args(env, info);
  void* data = nullptr;
  if (napi_unwrap(env, args.self(), &data) == napi_ok && data) release(env, static_cast<Wrapped*>(data));
  return nullptr;
}

}  // namespace

bool define_native_gpt(napi_env env, napi_value exports) {
  const auto methods = descriptors({{"loss", Loss}, {"lossAndGradients", LossAndGradients}, {"gradients", Gradients},
      {"step", Step}, {"forward", Forward}, {"logits", Logits}, {"attention", Attention}, {"residual", Residual},
      {"decode", Decode}, {"rowLosses", RowLosses}, {"rowScores", RowLossesAndEntropies}, {"resetCache", ResetCache},
      {"setThreads", SetThreads}, {"dispose", Dispose}});
  napi_value cls;
  if (napi_define_class(env, "NativeGPT", NAPI_AUTO_LENGTH, Construct, nullptr, methods.size(), methods.data(), &cls) !=
      napi_ok)
    return false;
  return napi_set_named_property(env, exports, "NativeGPT", cls) == napi_ok;
}

}  // namespace gptlab
