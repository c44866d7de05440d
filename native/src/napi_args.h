// Argument readers shared by the N-API glue (addon.cc, gpt_napi.cc): each returns false, setting nothing, when the
// value is not what it should be, and the caller throws its own one-line error.
#ifndef GPTLAB_NAPI_ARGS_H
#define GPTLAB_NAPI_ARGS_H

#include <node_api.h>

namespace gptlab {

// A boolean, or a number (nonzero is true).
inline bool get_bool(napi_env env, napi_value v, bool* out) {
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

// A whole number in [0, 9e15].
inline bool get_long(napi_env env, napi_value v, long* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  if (!(d >= 0 && d <= 9.0e15) || d != static_cast<double>(static_cast<long>(d))) return false;
  *out = static_cast<long>(d);
  return true;
}

inline bool get_float(napi_env env, napi_value v, float* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok) return false;
  *out = static_cast<float>(d);
  return true;
}

// A typed array of the wanted element type: its data and length in elements.
template <class T>
bool get_typed(napi_env env, napi_value v, napi_typedarray_type want, T** data, long* length) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  size_t len;
  void* ptr;
  if (napi_get_typedarray_info(env, v, &type, &len, &ptr, nullptr, nullptr) != napi_ok || type != want) return false;
  *data = static_cast<T*>(ptr);
  *length = static_cast<long>(len);
  return true;
}

inline bool get_f32(napi_env env, napi_value v, float** data, long* length) {
  return get_typed(env, v, napi_float32_array, data, length);
}

}  // namespace gptlab

#endif
