#include "bindings.h"

namespace krypton {

void RegisterMisc(Napi::Env env, Napi::Object exports) {}

}  // namespace krypton
