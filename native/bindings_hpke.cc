#include "bindings.h"

namespace krypton {

void RegisterHpke(Napi::Env env, Napi::Object exports) {}

}  // namespace krypton
