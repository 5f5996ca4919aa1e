// The Gateway's X25519 recipient keys: a process-wide table of EVP_PKEYs
// named by id. OpenSSL 3 generates an X25519 private key with
// OPENSSL_secure_malloc, so once node runs with --secure-heap a generated
// key sits in OpenSSL's locked, dump-excluded secure heap and never in JS.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "hpke.h"
#include "secure_memory.h"

namespace krypton {

namespace {

struct RecipientTable {
  std::mutex mu;
  std::unordered_map<uint32_t, EVP_PKEY*> keys;
  uint32_t next_id = 1;
};

// Never destroyed: worker threads may still use it while the process exits.
RecipientTable& Table() {
  static RecipientTable* const table = new RecipientTable();
  return *table;
}

Status Insert(EVP_PKEY* key, uint32_t* id) {
  RecipientTable& t = Table();
  std::lock_guard<std::mutex> lock(t.mu);
  if (t.next_id == 0) {  // 2^32 ids used: refuse rather than reuse one
    EVP_PKEY_free(key);
    return kInternal;
  }
  *id = t.next_id++;
  t.keys.emplace(*id, key);
  return kOk;
}

}  // namespace

void RequireSecureHeap() {
  if (CRYPTO_secure_malloc_initialized() == 1) return;
  if (!EnvFlag("KRYPTON_ALLOW_NO_SECURE_HEAP")) {
    throw std::runtime_error(
        "krypton: REFUSING to create an X25519 private key: OpenSSL's secure heap is not initialized, so the key "
        "would sit in ordinary (swappable, dumpable) memory. Start node with --secure-heap=N (a power of two, "
        "e.g. --secure-heap=65536) or, for development only, set KRYPTON_ALLOW_NO_SECURE_HEAP=1.");
  }
  static std::once_flag warned;
  std::call_once(warned, [] {
    std::fprintf(stderr,
                 "krypton: WARNING: OpenSSL's secure heap is NOT initialized: X25519 private keys live in ordinary "
                 "memory and may be swapped or dumped. KRYPTON_ALLOW_NO_SECURE_HEAP=1 is for development only; "
                 "start node with --secure-heap=65536.\n");
  });
}

EVP_PKEY* NewX25519Key() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  if (key == nullptr) ERR_clear_error();
  return key;
}

Status RecipientGenerate(uint32_t* id) {
  RequireSecureHeap();
  EVP_PKEY* key = NewX25519Key();
  if (key == nullptr) return kInternal;
  return Insert(key, id);
}

// OpenSSL 3.0 copies an imported raw private key into its ordinary heap
// (OSSL_PARAM_get_octet_string), clear-freed on destroy; only keygen uses
// the secure heap. That is acceptable here only because an imported key
// came from the JS heap anyway: import is for vectors and tests.
Status RecipientImport(const uint8_t sk[kX25519Bytes], uint32_t* id) {
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key_ex(nullptr, "X25519", nullptr, sk, kX25519Bytes);
  if (key == nullptr) {
    ERR_clear_error();
    return kInvalidArgument;
  }
  return Insert(key, id);
}

EVP_PKEY* RecipientAcquire(uint32_t id) {
  RecipientTable& t = Table();
  std::lock_guard<std::mutex> lock(t.mu);
  auto it = t.keys.find(id);
  if (it == t.keys.end()) return nullptr;
  // A counted reference: a concurrent destroy cannot free a key in use.
  if (EVP_PKEY_up_ref(it->second) != 1) return nullptr;
  return it->second;
}

Status RecipientPublicKey(uint32_t id, uint8_t out[kX25519Bytes]) {
  EVP_PKEY* key = RecipientAcquire(id);
  if (key == nullptr) return kKeyUnavailable;
  size_t len = kX25519Bytes;
  const bool ok = EVP_PKEY_get_raw_public_key(key, out, &len) == 1 && len == kX25519Bytes;
  EVP_PKEY_free(key);
  if (!ok) ERR_clear_error();
  return ok ? kOk : kInternal;
}

Status RecipientDestroy(uint32_t id) {
  EVP_PKEY* key = nullptr;
  {
    RecipientTable& t = Table();
    std::lock_guard<std::mutex> lock(t.mu);
    auto it = t.keys.find(id);
    if (it == t.keys.end()) return kKeyUnavailable;
    key = it->second;
    t.keys.erase(it);
  }
  EVP_PKEY_free(key);  // the private key is clear-freed when the last reference goes
  return kOk;
}

}  // namespace krypton
