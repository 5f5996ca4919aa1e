#include "random_pool.h"

#include <cstring>

#include <openssl/rand.h>

#include "secure_memory.h"

namespace krypton {

namespace {

constexpr size_t kBlockBytes = 8192;

struct PoolBlock {
  uint32_t avail;  // unread bytes at the end of buf; 0 after fork
  uint8_t pad[60];
  uint8_t buf[kBlockBytes - 64];
};
static_assert(sizeof(PoolBlock) == kBlockBytes, "pool block must fill its arena class");

class ThreadPool {
 public:
  ~ThreadPool() {
    if (block_ != nullptr) SecureArena::Instance().Release(block_, kBlockBytes);
  }
  PoolBlock* block() {
    if (block_ == nullptr) block_ = static_cast<PoolBlock*>(SecureArena::Instance().Allocate(kBlockBytes));
    return block_;
  }

 private:
  PoolBlock* block_ = nullptr;
};

thread_local ThreadPool tls_pool;

}  // namespace

bool RandomBytes(uint8_t* out, size_t n) {
  PoolBlock* b = tls_pool.block();
  if (b == nullptr || n > sizeof(b->buf)) {
    // Large requests (or no arena block) go straight to OpenSSL.
    if (RAND_bytes(out, static_cast<int>(n)) == 1) return true;
    SecureZero(out, n);
    return false;
  }
  if (b->avail < n) {
    if (RAND_bytes(b->buf, sizeof(b->buf)) != 1) {
      SecureZero(out, n);
      b->avail = 0;
      return false;
    }
    b->avail = sizeof(b->buf);
  }
  uint8_t* src = b->buf + (sizeof(b->buf) - b->avail);
  std::memcpy(out, src, n);
  SecureZero(src, n);  // a byte is handed out once, then it is gone
  b->avail -= static_cast<uint32_t>(n);
  return true;
}

}  // namespace krypton
