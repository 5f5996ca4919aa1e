#include "hardening.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "secure_memory.h"

namespace krypton {

namespace {

std::atomic<bool> g_locked{false};

// strerror_r has a GNU (char*) and an XSI (int) form; accept either.
[[maybe_unused]] const char* PickMessage(const char* r, const char*) {
  return r;
}
[[maybe_unused]] const char* PickMessage(int r, const char* buf) {
  return r == 0 ? buf : "unknown error";
}

}  // namespace

int SetDumpable(bool on) {
  return prctl(PR_SET_DUMPABLE, on ? 1UL : 0UL, 0UL, 0UL, 0UL) == 0 ? 0 : errno;
}

int GetDumpable() {
  const int r = prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
  return r < 0 ? -1 : r;
}

int DisableCoreDumps() {
  const struct rlimit zero = {0, 0};
  return setrlimit(RLIMIT_CORE, &zero) == 0 ? 0 : errno;
}

CoreLimit CoreDumpLimit() {
  struct rlimit r = {};
  if (getrlimit(RLIMIT_CORE, &r) != 0) return CoreLimit{false, false, 0};
  if (r.rlim_cur == RLIM_INFINITY) return CoreLimit{true, true, 0};
  return CoreLimit{true, false, static_cast<uint64_t>(r.rlim_cur)};
}

int LockAllMemory() {
  if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) return errno;
  g_locked.store(true, std::memory_order_release);
  return 0;
}

int UnlockAllMemory() {
  if (munlockall() != 0) return errno;
  g_locked.store(false, std::memory_order_release);
  const ArenaInfo a = SecureArena::Instance().Info();
  if (a.locked && mlock(reinterpret_cast<void*>(a.base), a.size) != 0) return errno;
  return 0;
}

bool MemoryLocked() {
  return g_locked.load(std::memory_order_acquire);
}

std::string ErrnoText(int err) {
  char buf[128] = {};
  std::string text = PickMessage(strerror_r(err, buf, sizeof(buf)), buf);
  const char* name = strerrorname_np(err);  // glibc 2.32+
  if (name != nullptr) text += std::string(" (") + name + ")";
  return text;
}

}  // namespace krypton
