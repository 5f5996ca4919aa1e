// Switches that only the test build of the addon reads (binding.gyp target
// krypton_test, compiled with KRYPTON_TEST_HOOKS). In the addon every
// process loads they are constant false, so no environment can turn a
// protection off in production; test children load the test build.
#pragma once

#include "secure_memory.h"

namespace krypton {

inline bool TestHook(const char* name) {
#ifdef KRYPTON_TEST_HOOKS
  return EnvFlag(name);
#else
  (void)name;
  return false;
#endif
}

}  // namespace krypton
