// L3 leases: the Core seals a stored key in a lease message to a Gateway's
// recipient key; the Gateway opens it straight into the key store. The
// plaintext message exists only in an arena block, zeroized on release.
#include <openssl/evp.h>

#include <cstring>
#include <string_view>

#include "hpke.h"
#include "lease_message.h"
#include "secure_memory.h"

namespace krypton {

namespace {

constexpr size_t kLeaseMaxMessageBytes = LeaseMessageSize(kIdMaxBytes, kIdMaxBytes);
using MessageBlock = SecureBlock<kLeaseMaxMessageBytes>;

HpkeParams LeaseParams() {
  return HpkeParams{kHpkeAeadAes256Gcm,
                    ConstBytes{reinterpret_cast<const uint8_t*>(kLeaseInfo), sizeof(kLeaseInfo) - 1},
                    ConstBytes{nullptr, 0}, 0};
}

std::string_view View(ConstBytes b) {
  return std::string_view(reinterpret_cast<const char*>(b.p), b.n);
}

bool SameId(const uint8_t* p, size_t n, ConstBytes want) {
  return n == want.n && std::memcmp(p, want.p, n) == 0;  // ids are public: no constant time needed
}

bool UsableState(KeyState s) {
  return s == KeyState::kActive || s == KeyState::kDecryptOnly;
}

// Writes the lease message for key_handle into msg.
Status BuildMessage(KeyHandle key_handle, const LeaseRequest& req, uint8_t* msg) {
  KeyStore::Reader r(KeyStore::Instance());
  const KeyMaterial* k = r.ok() ? r.Key(key_handle) : nullptr;
  if (k == nullptr) return kKeyUnavailable;
  if (k->len != kLeaseKeyBytes) return kInvalidArgument;
  WriteLeaseMessage(msg, req.tenant.p, req.tenant.n, req.service.p, req.service.n, req.version, req.state,
                    req.expires_at_ms, k->key);
  return kOk;
}

// Opens and parses into msg; imports and binds the key. Every failure of
// the message itself is kInvalidLease.
Status OpenAndBind(EVP_PKEY* skR, ConstBytes tenant, ConstBytes service, ConstBytes enc, ConstBytes sealed,
                   uint8_t* msg, LeaseResult* out) {
  const size_t msg_len = LeaseMessageSize(tenant.n, service.n);
  if (enc.n != kHpkeEncBytes || sealed.n != msg_len + kHpkeTagBytes) return kInvalidLease;
  const Status opened = HpkeOpenWith(skR, enc.p, LeaseParams(), sealed.p, msg_len, msg);
  if (opened == kArenaExhausted) return opened;
  LeaseMessageView v;
  if (opened != kOk || !ParseLeaseMessage(msg, msg_len, &v) || !SameId(v.tenant, v.tenant_len, tenant) ||
      !SameId(v.service, v.service_len, service) || v.expires_at_ms > kMaxLeaseExpiryMs) {
    return kInvalidLease;
  }
  KeyStore& store = KeyStore::Instance();
  KeyHandle handle = 0;
  Status s = store.ImportWith(
      kLeaseKeyBytes,
      [&](uint8_t* dst, size_t n) {
        std::memcpy(dst, v.key, n);  // arena to arena
        return kOk;
      },
      &handle);
  if (s != kOk) return s;
  uint32_t scope_id = 0;
  KeyState bound = v.state;
  s = store.Bind(View(tenant), View(service), v.version, v.state, handle, &scope_id, &bound);
  if (s != kOk) {
    store.Destroy(handle);  // unbound (e.g. the version is revoked): nobody else owns it
    return s;
  }
  // The state bound: a stale ACTIVE binds DECRYPT_ONLY (states only move forward).
  *out = LeaseResult{scope_id, v.version, bound, v.expires_at_ms};
  return kOk;
}

}  // namespace

Status LeaseSeal(const uint8_t pkR[kX25519Bytes], KeyHandle key_handle, const LeaseRequest& req,
                 uint8_t enc[kHpkeEncBytes], uint8_t* sealed, size_t sealed_len) {
  if (!ValidId(req.tenant.p, req.tenant.n) || !ValidId(req.service.p, req.service.n) || req.version == 0 ||
      !UsableState(req.state) || req.expires_at_ms > kMaxLeaseExpiryMs ||
      sealed_len != LeaseSealedSize(req.tenant.n, req.service.n)) {
    return kInvalidArgument;
  }
  MessageBlock msg;
  if (!msg.ok()) return kArenaExhausted;
  Status s = BuildMessage(key_handle, req, msg.data());
  if (s != kOk) return s;
  EVP_PKEY* skE = NewX25519Key();  // fresh per lease, freed (clear-freed) below
  if (skE == nullptr) return kInternal;
  s = HpkeSealWith(skE, pkR, LeaseParams(), msg.data(), LeaseMessageSize(req.tenant.n, req.service.n), enc, sealed);
  EVP_PKEY_free(skE);
  return s;
}

Status LeaseOpen(uint32_t recipient_id, ConstBytes tenant, ConstBytes service, ConstBytes enc, ConstBytes sealed,
                 LeaseResult* out) {
  if (!ValidId(tenant.p, tenant.n) || !ValidId(service.p, service.n)) return kInvalidArgument;
  EVP_PKEY* skR = RecipientAcquire(recipient_id);
  if (skR == nullptr) return kKeyUnavailable;
  MessageBlock msg;
  const Status s = msg.ok() ? OpenAndBind(skR, tenant, service, enc, sealed, msg.data(), out) : kArenaExhausted;
  EVP_PKEY_free(skR);
  return s;
}

}  // namespace krypton
