// N-API binding of the native GPT (class NativeGPT in JavaScript; engine/native.ts types it).
#ifndef GPTLAB_GPT_NAPI_H
#define GPTLAB_GPT_NAPI_H

#include <node_api.h>

namespace gptlab {

// Defines the NativeGPT class on exports.
bool define_native_gpt(napi_env env, napi_value exports);

}  // namespace gptlab

#endif
