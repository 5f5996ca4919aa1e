// Argument checks and error conversion at the N-API boundary. Native code
// checks arity and types only; src/native validates ranges and meaning.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "blob_ops.h"
#include "keystore.h"
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
// A non-negative integer JS number up to 2^53 - 1 (Number.MAX_SAFE_INTEGER).
uint64_t ArgU53(const Napi::CallbackInfo& info, size_t i);
// A key handle: any integer 0..2^53 - 1 (handles stay below 2^52; 0 and stale
// values name no key, which the store reports as KEY_UNAVAILABLE).
inline KeyHandle ArgHandle(const Napi::CallbackInfo& info, size_t i) {
  return ArgU53(info, i);
}
// A handle (or holder id) back to JS: exact, every value is below 2^53.
inline Napi::Number HandleValue(Napi::Env env, uint64_t h) {
  return Napi::Number::New(env, static_cast<double>(h));
}
// A Uint8Array of 1..64 id bytes as a view (validated in JS and again in C++).
std::string_view ArgId(const Napi::CallbackInfo& info, size_t i);

// Arrays of buffers (batches, Shamir shares). Reading an element may run
// JS (a getter can detach or transfer any buffer, inputs and outputs
// alike), so a binding first reads every element with ArgElements, and
// only then takes data pointers (ArgBytes, ArgOut, ElementBytes), after
// which it runs no JS until it has used them.
//
// The elements of array argument i, read once each; TypeError unless it is
// an array, BAD_REQUEST when it has more than max elements.
std::vector<Napi::Value> ArgElements(const Napi::CallbackInfo& info, size_t i, uint32_t max);
// The views of elements read by ArgElements; TypeError unless every one is a Uint8Array.
std::vector<Bytes> ElementBytes(Napi::Env env, const std::vector<Napi::Value>& elements, size_t i);
// True when the two byte ranges share at least one byte (empty ranges never do).
bool Overlaps(const uint8_t* a, size_t a_len, const uint8_t* b, size_t b_len);

// Non-throwing forms for calls that must never throw (cleanup paths):
// false when the value is not of the kind asked for.
bool TryId(const Napi::Value& v, std::string_view* out);
bool TryU53(const Napi::Value& v, uint64_t* out);

// Throws a JS Error whose code is the catalogue code of s. Messages are
// fixed per status and never carry key bytes or which check failed.
[[noreturn]] void ThrowStatus(Napi::Env env, Status s);
inline void Check(Napi::Env env, Status s) {
  if (s != kOk) ThrowStatus(env, s);
}

void Export(Napi::Env env, Napi::Object exports, const char* name, Napi::Function::Callback fn);

}  // namespace krypton
