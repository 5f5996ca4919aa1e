// Argument checks and error conversion at the N-API boundary. Native code
// checks arity and types only; src/native validates ranges and meaning.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string_view>

#include "blob_ops.h"
#include "status.h"

namespace krypton {

struct MutBytes {
  uint8_t* p;
  size_t n;
};

// A Uint8Array (Buffer) argument; throws TypeError otherwise.
Bytes ArgBytes(const Napi::CallbackInfo& info, size_t i);
// A Uint8Array argument, or null/undefined as empty.
Bytes ArgBytesOrEmpty(const Napi::CallbackInfo& info, size_t i);
MutBytes ArgOut(const Napi::CallbackInfo& info, size_t i);
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i);
// A Uint8Array of 1..64 id bytes as a view (validated in JS and again in C++).
std::string_view ArgId(const Napi::CallbackInfo& info, size_t i);

// Throws a JS Error whose code is the catalogue code of s. Messages are
// fixed per status and never carry key bytes or which check failed.
[[noreturn]] void ThrowStatus(Napi::Env env, Status s);
inline void Check(Napi::Env env, Status s) {
  if (s != kOk) ThrowStatus(env, s);
}

void Export(Napi::Env env, Napi::Object exports, const char* name, Napi::Function::Callback fn);

}  // namespace krypton
