#include "xaes.h"

#include <time.h>

#include <cstring>

#include <openssl/evp.h>

#include "random_pool.h"
#include "secure_memory.h"

namespace krypton {

namespace {

constexpr uint32_t kEpochMaxMessages = 1u << 16;
constexpr uint64_t kEpochMaxNanos = 1000000000ULL;
constexpr int kEncSlots = 8;
constexpr int kDecSlots = 32;

const EVP_CIPHER* Gcm(size_t key_len) {
  static EVP_CIPHER* g128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static EVP_CIPHER* g192 = EVP_CIPHER_fetch(nullptr, "AES-192-GCM", nullptr);
  static EVP_CIPHER* g256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  switch (key_len) {
    case 16:
      return g128;
    case 24:
      return g192;
    case 32:
      return g256;
    default:
      return nullptr;
  }
}

uint64_t NowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// Epoch and cache metadata live in the arena (MADV_WIPEONFORK): after a
// fork every slot reads as empty (serial 0 is never assigned), so a child
// never continues a parent's nonce prefix.
struct EncSlot {
  uint64_t serial;
  uint64_t started;
  uint64_t last_use;
  uint32_t count;
  uint8_t prefix[12];
};

struct DecSlot {
  uint64_t serial;
  uint64_t last_use;
  uint64_t last_use_ns;
  uint8_t prefix[12];
  uint32_t pad;
};

struct ThreadArenaState {
  uint8_t scratch[128];  // subkey derivation inputs and outputs; zero at rest
  uint8_t open_buf[64];  // plaintext of short opens until the tag verifies
  EncSlot enc[kEncSlots];
  DecSlot dec[kDecSlots];
  uint64_t tick;
};

class ThreadCrypto {
 public:
  ~ThreadCrypto() {
    for (auto*& c : enc_) Free(c);
    for (auto*& c : dec_) Free(c);
    if (st_ != nullptr) SecureArena::Instance().Release(st_, sizeof(ThreadArenaState));
  }

  // Returns nullptr when the arena is exhausted or this is a forked child.
  ThreadArenaState* State() {
    if (st_ == nullptr) {
      st_ = static_cast<ThreadArenaState*>(SecureArena::Instance().Allocate(sizeof(ThreadArenaState)));
      if (st_ == nullptr) return nullptr;
    }
    const uint64_t g = KeyStore::Instance().Generation();
    if (g != seen_generation_) {
      // A key was destroyed somewhere: wipe every keyed context this
      // thread holds.
      WipeAll();
      seen_generation_ = g;
    }
    return st_;
  }

  // Wipes every keyed context (EVP_CIPHER_CTX_reset cleanses the schedule,
  // whose first 32 bytes are the subkey itself) and forgets its epoch.
  int WipeAll() {
    if (st_ == nullptr) return 0;
    int wiped = 0;
    for (int i = 0; i < kEncSlots; ++i) {
      if (st_->enc[i].serial != 0) ++wiped;
      if (enc_[i] != nullptr) EVP_CIPHER_CTX_reset(enc_[i]);
      st_->enc[i].serial = 0;
    }
    for (int i = 0; i < kDecSlots; ++i) {
      if (st_->dec[i].serial != 0) ++wiped;
      if (dec_[i] != nullptr) EVP_CIPHER_CTX_reset(dec_[i]);
      st_->dec[i].serial = 0;
    }
    return wiped;
  }

  // Wipes the keyed contexts of epochs that have ended and of decrypt
  // entries idle for a full epoch, so an idle thread holds no subkey.
  int Sweep(uint64_t now) {
    if (st_ == nullptr) return 0;
    int wiped = 0;
    for (int i = 0; i < kEncSlots; ++i) {
      EncSlot& e = st_->enc[i];
      if (e.serial != 0 && now - e.started >= kEpochMaxNanos) {
        if (enc_[i] != nullptr) EVP_CIPHER_CTX_reset(enc_[i]);
        e.serial = 0;
        ++wiped;
      }
    }
    for (int i = 0; i < kDecSlots; ++i) {
      DecSlot& d = st_->dec[i];
      if (d.serial != 0 && now - d.last_use_ns >= kEpochMaxNanos) {
        if (dec_[i] != nullptr) EVP_CIPHER_CTX_reset(dec_[i]);
        d.serial = 0;
        ++wiped;
      }
    }
    return wiped;
  }

  EVP_CIPHER_CTX* EncCtx(int i) { return Ctx(enc_[i]); }
  EVP_CIPHER_CTX* DecCtx(int i) { return Ctx(dec_[i]); }

 private:
  static EVP_CIPHER_CTX* Ctx(EVP_CIPHER_CTX*& c) {
    if (c == nullptr) c = EVP_CIPHER_CTX_new();
    return c;
  }
  static void Free(EVP_CIPHER_CTX*& c) {
    if (c != nullptr) EVP_CIPHER_CTX_free(c);
    c = nullptr;
  }

  ThreadArenaState* st_ = nullptr;
  uint64_t seen_generation_ = 0;
  EVP_CIPHER_CTX* enc_[kEncSlots] = {};
  EVP_CIPHER_CTX* dec_[kDecSlots] = {};
};

thread_local ThreadCrypto tls_crypto;

bool DeriveInto(const KeyMaterial& k, const uint8_t prefix[12], uint8_t* scratch) {
  // M1 = 0x00 0x01 'X' 0x00 || N[:12], M2 = 0x00 0x02 'X' 0x00 || N[:12];
  // Kx = AES_K(M1 ^ K1) || AES_K(M2 ^ K1).
  uint8_t* m = scratch;
  uint8_t* kx = scratch + 32;
  m[0] = 0x00;
  m[1] = 0x01;
  m[2] = 'X';
  m[3] = 0x00;
  std::memcpy(m + 4, prefix, 12);
  m[16] = 0x00;
  m[17] = 0x02;
  m[18] = 'X';
  m[19] = 0x00;
  std::memcpy(m + 20, prefix, 12);
  for (int i = 0; i < 16; ++i) {
    m[i] ^= k.k1[i];
    m[16 + i] ^= k.k1[i];
  }
  const bool ok = Aes256Encrypt2(k.rk, m, kx);
  SecureZero(m, 32);
  return ok;
}

// Keys ctx (encrypt or decrypt) with the subkey for prefix; wipes scratch.
bool KeyContext(EVP_CIPHER_CTX* ctx, bool encrypt, const KeyMaterial& k, const uint8_t prefix[12], uint8_t* scratch) {
  if (ctx == nullptr || !DeriveInto(k, prefix, scratch)) {
    SecureZero(scratch, 64);
    return false;
  }
  const uint8_t* kx = scratch + 32;
  const int ok = encrypt ? EVP_EncryptInit_ex(ctx, Gcm(32), nullptr, kx, nullptr)
                         : EVP_DecryptInit_ex(ctx, Gcm(32), nullptr, kx, nullptr);
  SecureZero(scratch, 64);
  return ok == 1;
}

bool GcmSealKeyed(EVP_CIPHER_CTX* ctx, const uint8_t* iv, const Aad& aad, const uint8_t* pt, size_t n, uint8_t* ct,
                  uint8_t* tag) {
  int l = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1) return false;
  if (aad.a_len && EVP_EncryptUpdate(ctx, nullptr, &l, aad.a, static_cast<int>(aad.a_len)) != 1) return false;
  if (aad.b_len && EVP_EncryptUpdate(ctx, nullptr, &l, aad.b, static_cast<int>(aad.b_len)) != 1) return false;
  if (n && EVP_EncryptUpdate(ctx, ct, &l, pt, static_cast<int>(n)) != 1) return false;
  if (EVP_EncryptFinal_ex(ctx, ct + n, &l) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagBytes, tag) == 1;
}

// Decrypts into out (which the caller zeroizes on failure).
bool GcmOpenKeyed(EVP_CIPHER_CTX* ctx, const uint8_t* iv, const Aad& aad, const uint8_t* ct, size_t n,
                  const uint8_t* tag, uint8_t* out) {
  int l = 0;
  uint8_t tag_copy[kTagBytes];
  std::memcpy(tag_copy, tag, kTagBytes);
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, iv) != 1) return false;
  if (aad.a_len && EVP_DecryptUpdate(ctx, nullptr, &l, aad.a, static_cast<int>(aad.a_len)) != 1) return false;
  if (aad.b_len && EVP_DecryptUpdate(ctx, nullptr, &l, aad.b, static_cast<int>(aad.b_len)) != 1) return false;
  if (n && EVP_DecryptUpdate(ctx, out, &l, ct, static_cast<int>(n)) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagBytes, tag_copy) != 1) return false;
  return EVP_DecryptFinal_ex(ctx, out + n, &l) == 1;
}

// Opens into out, through a scratch buffer for short messages so that
// unauthenticated plaintext never reaches the caller's memory.
Status OpenVia(EVP_CIPHER_CTX* ctx, ThreadArenaState* st, const uint8_t* iv, const Aad& aad, const uint8_t* ct,
               size_t n, const uint8_t* tag, uint8_t* out) {
  if (n <= sizeof(st->open_buf)) {
    const bool ok = GcmOpenKeyed(ctx, iv, aad, ct, n, tag, st->open_buf);
    if (ok) std::memcpy(out, st->open_buf, n);
    SecureZero(st->open_buf, sizeof(st->open_buf));
    return ok ? kOk : kInvalidBlob;
  }
  if (GcmOpenKeyed(ctx, iv, aad, ct, n, tag, out)) return kOk;
  SecureZero(out, n);
  return kInvalidBlob;
}

}  // namespace

int XaesSweepThreadContexts() {
  return tls_crypto.Sweep(NowNanos());
}

int XaesWipeThreadContexts() {
  return tls_crypto.WipeAll();
}

bool XaesDeriveSubkey(const KeyMaterial& k, const uint8_t prefix[12], uint8_t kx[32]) {
  if (k.len != 32) return false;
  ThreadArenaState* st = tls_crypto.State();
  if (st == nullptr) return false;
  const bool ok = DeriveInto(k, prefix, st->scratch);
  std::memcpy(kx, st->scratch + 32, 32);
  SecureZero(st->scratch, 64);
  return ok;
}

Status XaesSealFresh(const KeyMaterial& k, const Aad& aad, const uint8_t* pt, size_t n, uint8_t* nonce_out, uint8_t* ct,
                     uint8_t* tag) {
  if (k.len != 32) return kInvalidArgument;
  ThreadArenaState* st = tls_crypto.State();
  if (st == nullptr) return kKeyUnavailable;
  const uint64_t now = NowNanos();
  const uint64_t tick = ++st->tick;

  int slot = -1;
  int victim = 0;
  for (int i = 0; i < kEncSlots; ++i) {
    if (st->enc[i].serial == k.serial) {
      slot = i;
      break;
    }
    if (st->enc[i].last_use < st->enc[victim].last_use) victim = i;
  }
  if (slot < 0) slot = victim;
  EncSlot* e = &st->enc[slot];
  EVP_CIPHER_CTX* ctx = tls_crypto.EncCtx(slot);
  if (ctx == nullptr) return kInternal;
  const bool current = e->serial == k.serial && e->count < kEpochMaxMessages && now - e->started < kEpochMaxNanos;
  if (!current) {
    // New epoch: fresh random prefix, re-keyed context. Reset first so the
    // old epoch's subkey is wiped even if keying fails.
    EVP_CIPHER_CTX_reset(ctx);
    e->serial = 0;
    if (!RandomBytes(e->prefix, 12)) return kInternal;
    if (!KeyContext(ctx, true, k, e->prefix, st->scratch)) return kInternal;
    e->serial = k.serial;
    e->started = now;
    e->count = 0;
  }
  e->last_use = tick;
  e->count++;

  std::memcpy(nonce_out, e->prefix, 12);
  if (!RandomBytes(nonce_out + 12, 12)) return kInternal;
  if (!GcmSealKeyed(ctx, nonce_out + 12, aad, pt, n, ct, tag)) return kInternal;
  return kOk;
}

Status XaesOpen(const KeyMaterial& k, const uint8_t* nonce, const Aad& aad, const uint8_t* ct, size_t n,
                const uint8_t* tag, uint8_t* pt) {
  if (k.len != 32) return kInvalidArgument;
  ThreadArenaState* st = tls_crypto.State();
  if (st == nullptr) return kKeyUnavailable;
  const uint64_t tick = ++st->tick;
  int slot = -1;
  int victim = 0;
  for (int i = 0; i < kDecSlots; ++i) {
    const DecSlot& d = st->dec[i];
    if (d.serial == k.serial && std::memcmp(d.prefix, nonce, 12) == 0) {
      slot = i;
      break;
    }
    if (d.last_use < st->dec[victim].last_use) victim = i;
  }
  if (slot < 0) {
    slot = victim;
    DecSlot& d = st->dec[slot];
    EVP_CIPHER_CTX* ctx = tls_crypto.DecCtx(slot);
    if (ctx == nullptr) return kInternal;
    EVP_CIPHER_CTX_reset(ctx);
    d.serial = 0;
    if (!KeyContext(ctx, false, k, nonce, st->scratch)) return kInternal;
    d.serial = k.serial;
    std::memcpy(d.prefix, nonce, 12);
  }
  st->dec[slot].last_use = tick;
  st->dec[slot].last_use_ns = NowNanos();
  return OpenVia(tls_crypto.DecCtx(slot), st, nonce + 12, aad, ct, n, tag, pt);
}

Status XaesSealWithNonce(const KeyMaterial& k, const uint8_t* nonce, const Aad& aad, const uint8_t* pt, size_t n,
                         uint8_t* ct, uint8_t* tag) {
  if (k.len != 32) return kInvalidArgument;
  ThreadArenaState* st = tls_crypto.State();
  if (st == nullptr) return kKeyUnavailable;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Status s = kInternal;
  if (KeyContext(ctx, true, k, nonce, st->scratch) && GcmSealKeyed(ctx, nonce + 12, aad, pt, n, ct, tag)) s = kOk;
  EVP_CIPHER_CTX_free(ctx);
  return s;
}

Status AesGcmSeal(const uint8_t* key, size_t key_len, const uint8_t* iv, const Aad& aad, const uint8_t* pt, size_t n,
                  uint8_t* ct, uint8_t* tag) {
  const EVP_CIPHER* c = Gcm(key_len);
  if (c == nullptr) return kInvalidArgument;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Status s = kInternal;
  if (ctx != nullptr && EVP_EncryptInit_ex(ctx, c, nullptr, key, nullptr) == 1 &&
      GcmSealKeyed(ctx, iv, aad, pt, n, ct, tag)) {
    s = kOk;
  }
  EVP_CIPHER_CTX_free(ctx);
  return s;
}

Status AesGcmOpen(const uint8_t* key, size_t key_len, const uint8_t* iv, const Aad& aad, const uint8_t* ct, size_t n,
                  const uint8_t* tag, uint8_t* pt) {
  const EVP_CIPHER* c = Gcm(key_len);
  if (c == nullptr) return kInvalidArgument;
  ThreadArenaState* st = tls_crypto.State();
  if (st == nullptr) return kKeyUnavailable;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Status s = kInternal;
  if (ctx != nullptr && EVP_DecryptInit_ex(ctx, c, nullptr, key, nullptr) == 1) {
    s = OpenVia(ctx, st, iv, aad, ct, n, tag, pt);
  }
  EVP_CIPHER_CTX_free(ctx);
  return s;
}

}  // namespace krypton
