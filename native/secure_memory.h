// The process-wide secure arena: one mmap'ed region, mlock'ed, excluded
// from core dumps, wiped in forked children, fenced by PROT_NONE guard
// pages, zeroized on every release. All key material above L4, AES round
// keys, nonce pools and epoch state live here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace krypton {

struct ArenaInfo {
  uintptr_t base;      // first usable byte (after the leading guard page)
  size_t size;         // usable bytes
  size_t guard_bytes;  // size of each guard region
  size_t used;         // bytes handed out (by size class)
  bool locked;         // mlock succeeded
  bool dontdump;       // MADV_DONTDUMP applied
  bool wipeonfork;     // MADV_WIPEONFORK applied
};

class SecureArena {
 public:
  // The one arena of this process. Created on first use from the
  // environment (KRYPTON_ARENA_BYTES, KRYPTON_ALLOW_UNLOCKED_MEMORY);
  // throws std::runtime_error with an operator-facing message if the
  // memory cannot be locked and unlocked memory was not allowed.
  static SecureArena& Instance();

  // Zeroed memory of at least n bytes (n <= kMaxBlock), 64-byte aligned,
  // or nullptr when the arena is full.
  void* Allocate(size_t n);
  // Zeroizes and returns a block obtained from Allocate(n).
  void Release(void* p, size_t n);

  ArenaInfo Info() const;

  // True in a child forked after the arena was made: MADV_WIPEONFORK has
  // zeroed the canary (and every key with it).
  bool Forked() const { return *canary_ != kCanary; }

  static constexpr size_t kMaxBlock = 64 * 1024;

 private:
  SecureArena();
  static size_t ClassOf(size_t n);

  static constexpr uint64_t kCanary = 0x4b727970746f6e21ULL;  // "Krypton!"
  static constexpr size_t kMinShift = 6;                      // 64 bytes
  static constexpr size_t kClasses = 11;                      // 64 B .. 64 KiB

  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  size_t guard_ = 0;
  size_t bump_ = 0;
  size_t used_ = 0;
  bool locked_ = false;
  bool dontdump_ = false;
  bool wipeonfork_ = false;
  volatile uint64_t* canary_ = nullptr;
  std::vector<void*> free_[kClasses];
  mutable std::mutex mu_;
};

// Zeroize that the compiler may not elide.
void SecureZero(void* p, size_t n);
// Constant-time equality of two equal-length buffers.
bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t n);

// A fixed-size block in the arena, released (zeroized) by the destructor.
template <size_t N>
class SecureBlock {
 public:
  SecureBlock() : p_(static_cast<uint8_t*>(SecureArena::Instance().Allocate(N))) {}
  ~SecureBlock() {
    if (p_ != nullptr) SecureArena::Instance().Release(p_, N);
  }
  SecureBlock(const SecureBlock&) = delete;
  SecureBlock& operator=(const SecureBlock&) = delete;
  bool ok() const { return p_ != nullptr; }
  uint8_t* data() { return p_; }
  static constexpr size_t size() { return N; }

 private:
  uint8_t* p_;
};

// Reads an environment flag ("1", "true", "yes").
bool EnvFlag(const char* name);

}  // namespace krypton
