// Each bindings_*.cc registers one group of exports.
#pragma once

#include <napi.h>

namespace krypton {

void RegisterKeystore(Napi::Env env, Napi::Object exports);
void RegisterBlob(Napi::Env env, Napi::Object exports);
void RegisterHpke(Napi::Env env, Napi::Object exports);
void RegisterMisc(Napi::Env env, Napi::Object exports);
void RegisterKat(Napi::Env env, Napi::Object exports);

}  // namespace krypton
