// Module entry: refuses to load when key memory cannot be protected, then
// registers every export group. Context-aware: each thread that loads it
// gets its own exports over the one process-wide store.
#include <napi.h>

#include <exception>

#include "aes_block.h"
#include "bindings.h"
#include "secure_memory.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  try {
    krypton::SecureArena::Instance();
    krypton::RequireAesBlockFunction();
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  krypton::RegisterKeystore(env, exports);
  krypton::RegisterBlob(env, exports);
  krypton::RegisterHpke(env, exports);
  krypton::RegisterMisc(env, exports);
  krypton::RegisterKat(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(NODE_GYP_MODULE_NAME, Init)
