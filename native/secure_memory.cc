#include "secure_memory.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <openssl/crypto.h>

#include "test_hooks.h"

namespace krypton {

namespace {

constexpr size_t kDefaultArenaBytes = 2 * 1024 * 1024;
constexpr size_t kMinArenaBytes = 256 * 1024;
constexpr size_t kMaxArenaBytes = 1024 * 1024 * 1024;

size_t ArenaBytesFromEnv() {
  const char* v = std::getenv("KRYPTON_ARENA_BYTES");
  if (v == nullptr || *v == '\0') return kDefaultArenaBytes;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (end == v || *end != '\0' || n < kMinArenaBytes || n > kMaxArenaBytes) {
    throw std::runtime_error("krypton: KRYPTON_ARENA_BYTES must be a byte count between 262144 and 1073741824");
  }
  return static_cast<size_t>(n);
}

std::string MemlockLimitText() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return "unknown";
  if (rl.rlim_cur == RLIM_INFINITY) return "unlimited";
  return std::to_string(static_cast<unsigned long long>(rl.rlim_cur / 1024)) + " KiB";
}

}  // namespace

bool EnvFlag(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return false;
  return std::strcmp(v, "1") == 0 || std::strcmp(v, "true") == 0 || std::strcmp(v, "yes") == 0;
}

void SecureZero(void* p, size_t n) {
  if (p != nullptr && n != 0) OPENSSL_cleanse(p, n);
}

bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

SecureArena& SecureArena::Instance() {
  // Function-local static: thread-safe initialization; if the constructor
  // throws, the next call tries again (and throws the same refusal).
  static SecureArena arena;
  return arena;
}

SecureArena::SecureArena() {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_ = (ArenaBytesFromEnv() + page - 1) / page * page;
  guard_ = page;
  const size_t total = size_ + 2 * guard_;

  void* region = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (region == MAP_FAILED) {
    throw std::runtime_error(std::string("krypton: cannot map the key arena: ") + std::strerror(errno));
  }
  uint8_t* usable = static_cast<uint8_t*>(region) + guard_;
  if (mprotect(usable, size_, PROT_READ | PROT_WRITE) != 0) {
    int err = errno;
    munmap(region, total);
    throw std::runtime_error(std::string("krypton: cannot open the key arena: ") + std::strerror(err));
  }

  // Out of core dumps. A test-only switch (test build only) keeps the arena
  // dumpable so a dump test can prove that zeroization, not exclusion,
  // removed a key.
  if (!TestHook("KRYPTON_TEST_DUMPABLE_ARENA")) {
    dontdump_ = madvise(usable, size_, MADV_DONTDUMP) == 0;
  } else {
    std::fprintf(stderr, "krypton: WARNING: KRYPTON_TEST_DUMPABLE_ARENA is set: keys WILL appear in core dumps\n");
  }
  wipeonfork_ = madvise(usable, size_, MADV_WIPEONFORK) == 0;

  if (mlock(usable, size_) == 0) {
    locked_ = true;
  } else {
    int err = errno;
    if (!EnvFlag("KRYPTON_ALLOW_UNLOCKED_MEMORY")) {
      munmap(region, total);
      throw std::runtime_error(std::string("krypton: REFUSING TO START: cannot mlock the ") +
                               std::to_string(size_ / 1024) + " KiB key arena (" + std::strerror(err) +
                               "; RLIMIT_MEMLOCK is " + MemlockLimitText() +
                               "). Keys could be swapped to disk. Raise the limit (ulimit -l, LimitMEMLOCK=) or, for "
                               "development only, set KRYPTON_ALLOW_UNLOCKED_MEMORY=1.");
    }
    std::fprintf(stderr,
                 "krypton: WARNING: key arena is NOT locked in memory (%s; RLIMIT_MEMLOCK is %s): "
                 "keys may be swapped to disk. KRYPTON_ALLOW_UNLOCKED_MEMORY=1 is for development only.\n",
                 std::strerror(err), MemlockLimitText().c_str());
  }

  // Without these the arena could land in a core dump or outlive a fork:
  // the same refusal as a failed mlock, and the same development escape.
  if ((!dontdump_ && !TestHook("KRYPTON_TEST_DUMPABLE_ARENA")) || !wipeonfork_) {
    if (!EnvFlag("KRYPTON_ALLOW_UNLOCKED_MEMORY")) {
      munmap(region, total);
      throw std::runtime_error(std::string("krypton: REFUSING TO START: the kernel refused ") +
                               (wipeonfork_ ? "MADV_DONTDUMP" : "MADV_WIPEONFORK (Linux 4.14 or later is needed)") +
                               " on the key arena. For development only, set KRYPTON_ALLOW_UNLOCKED_MEMORY=1.");
    }
    std::fprintf(stderr, "krypton: WARNING: key arena is %s\n",
                 wipeonfork_ ? "NOT excluded from core dumps" : "NOT wiped in forked children");
  }

  base_ = usable;
  // The first block holds the fork canary; MADV_WIPEONFORK zeroes it in a
  // child, which is how a child learns its keys are gone.
  canary_ = reinterpret_cast<volatile uint64_t*>(base_);
  *canary_ = kCanary;
  bump_ = 64;
}

size_t SecureArena::ClassOf(size_t n) {
  size_t cls = 0;
  size_t bs = size_t{1} << kMinShift;
  while (bs < n) {
    bs <<= 1;
    ++cls;
  }
  return cls;
}

void* SecureArena::Allocate(size_t n) {
  if (n == 0 || n > kMaxBlock) return nullptr;
  const size_t cls = ClassOf(n);
  const size_t bs = size_t{1} << (kMinShift + cls);
  std::lock_guard<std::mutex> lock(mu_);
  if (Forked()) return nullptr;
  void* p = nullptr;
  if (!free_[cls].empty()) {
    p = free_[cls].back();
    free_[cls].pop_back();
  } else {
    if (bump_ + bs > size_) return nullptr;
    p = base_ + bump_;
    bump_ += bs;
  }
  used_ += bs;
  return p;  // zeroed: fresh pages are zero and Release zeroizes
}

void SecureArena::Release(void* p, size_t n) {
  if (p == nullptr) return;
  const uintptr_t at = reinterpret_cast<uintptr_t>(p);
  const uintptr_t lo = reinterpret_cast<uintptr_t>(base_);
  if (n == 0 || n > kMaxBlock || at < lo + 64 || at + n > lo + size_ || (at - lo) % 64 != 0) {
    std::fprintf(stderr, "krypton: FATAL: release of memory outside the key arena\n");
    std::abort();  // a corrupted free list could hand one key's memory to another
  }
  const size_t cls = ClassOf(n);
  const size_t bs = size_t{1} << (kMinShift + cls);
  SecureZero(p, bs);
  std::lock_guard<std::mutex> lock(mu_);
  free_[cls].push_back(p);
  used_ -= bs;
}

ArenaInfo SecureArena::Info() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ArenaInfo{reinterpret_cast<uintptr_t>(base_), size_, guard_, used_, locked_, dontdump_, wipeonfork_};
}

}  // namespace krypton
