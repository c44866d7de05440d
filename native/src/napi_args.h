// What the N-API glue (addon.cc, gpt_napi.cc) shares: argument readers, each returning false, setting nothing, when
// the value is not what it should be (the caller throws its own one-line error); Args, a call's arguments read front
// to back; and method tables.
#ifndef GPTLAB_NAPI_ARGS_H
#define GPTLAB_NAPI_ARGS_H

#include <node_api.h>

#include <initializer_list>
#include <vector>

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

// The arguments of one call, read front to back: each reader takes the next argument, and returns false (setting
// nothing) when there is none left or it is not what it should be.
class Args {
 public:
  static constexpr size_t kMax = 20;  // the most any function of the addon takes (sgemmBatched)

  Args(napi_env env, napi_callback_info info) : env_(env) {
    if (napi_get_cb_info(env, info, &argc_, argv_, &self_, nullptr) != napi_ok) argc_ = 0;
    if (argc_ > kMax) argc_ = kMax;
  }
  napi_value self() const { return self_; }
  size_t count() const { return argc_; }  // how many the call passed (at most kMax)
  bool more() const { return pos_ < argc_; }
  size_t last() const { return pos_; }  // the position of the argument read last, from 1: the bad one after a false

  bool any(napi_value* out) { return take() && (*out = argv_[pos_ - 1], true); }
  bool flag(bool* out) { return take() && get_bool(env_, argv_[pos_ - 1], out); }
  bool whole(long* out) { return take() && get_long(env_, argv_[pos_ - 1], out); }
  bool number(float* out) { return take() && get_float(env_, argv_[pos_ - 1], out); }
  bool real(double* out) { return take() && napi_get_value_double(env_, argv_[pos_ - 1], out) == napi_ok; }
  bool f32(float** data, long* length) { return take() && get_f32(env_, argv_[pos_ - 1], data, length); }
  template <class T>
  bool typed(napi_typedarray_type want, T** data, long* length) {
    return take() && get_typed(env_, argv_[pos_ - 1], want, data, length);
  }
  // A Float32Array (*present true), or null or undefined (*present false).
  bool f32_or_null(float** data, long* length, bool* present) {
    if (!take()) return false;
    napi_valuetype type;
    if (napi_typeof(env_, argv_[pos_ - 1], &type) != napi_ok) return false;
    *present = type != napi_null && type != napi_undefined;
    return !*present || get_f32(env_, argv_[pos_ - 1], data, length);
  }

 private:
  bool take() { return ++pos_ <= argc_; }

  napi_env env_;
  size_t argc_ = kMax;
  napi_value argv_[kMax];
  napi_value self_ = nullptr;
  size_t pos_ = 0;
};

// One JavaScript function (or method) of a table: its name and its callback.
struct Method {
  const char* name;
  napi_callback fn;
};

// A table's property descriptors, for napi_define_properties and napi_define_class.
inline std::vector<napi_property_descriptor> descriptors(std::initializer_list<Method> methods) {
  std::vector<napi_property_descriptor> out;
  for (const Method& m : methods) out.push_back({m.name, nullptr, m.fn, nullptr, nullptr, nullptr, napi_default, nullptr});
  return out;
}

}  // namespace gptlab

#endif
