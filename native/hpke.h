// HPKE (RFC 9180), base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// AES-128-GCM or AES-256-GCM, over OpenSSL primitives only; the recipient
// key table of the Gateway; and the L3 lease seal/open built on them.
//
// Every intermediate secret (DH output, PRKs, shared_secret, key,
// base_nonce, the lease plaintext) lives in the secure arena and is
// zeroized on every path. Generated X25519 private keys (recipient and
// ephemeral) live in OpenSSL's secure heap.
#pragma once

#include <cstddef>
#include <cstdint>

#include <openssl/types.h>

#include "keystore.h"
#include "lease_message.h"
#include "status.h"

namespace krypton {

constexpr uint16_t kHpkeKemX25519Sha256 = 0x0020;
constexpr uint16_t kHpkeKdfHkdfSha256 = 0x0001;
constexpr uint16_t kHpkeAeadAes128Gcm = 0x0001;
constexpr uint16_t kHpkeAeadAes256Gcm = 0x0002;
constexpr size_t kX25519Bytes = 32;
constexpr size_t kHpkeEncBytes = 32;
constexpr size_t kHpkeTagBytes = 16;
constexpr size_t kHkdfSha256MaxOutput = 255 * 32;
constexpr char kLeaseInfo[] = "krypton lease v1";
// JS numbers are exact up to 2^53 - 1; a lease expiry must survive the trip.
constexpr uint64_t kMaxLeaseExpiryMs = (uint64_t{1} << 53) - 1;

struct ConstBytes {
  const uint8_t* p;
  size_t n;
};

// ---- Primitives (the KAT entry points drive exactly these) ----

// X25519(sk, pk) into out (32). kInvalidArgument for an all-zero result
// (RFC 9180 7.1.4, RFC 7748 6.1); out is zeroized on any failure.
Status X25519(const uint8_t sk[kX25519Bytes], const uint8_t pk[kX25519Bytes], uint8_t out[kX25519Bytes]);

// HKDF-SHA256 (RFC 5869): Expand(Extract(salt, ikm), info, len).
// len 1..255*32; out is zeroized on failure.
Status HkdfSha256(ConstBytes salt, ConstBytes ikm, ConstBytes info, uint8_t* out, size_t len);

// Single-shot HPKE base mode with an explicit sequence number:
// nonce = base_nonce XOR I2OSP(seq, 12). ct is n + 16 bytes (ct || tag).
struct HpkeParams {
  uint16_t aead;  // kHpkeAeadAes128Gcm or kHpkeAeadAes256Gcm
  ConstBytes info;
  ConstBytes aad;
  uint64_t seq;
};

// Seals to pkR with the ephemeral private key skE (ephemeral), writing
// enc (32). kInvalidArgument for a bad pkR (all-zero DH output).
Status HpkeSealWith(EVP_PKEY* skE, const uint8_t pkR[kX25519Bytes], const HpkeParams& hp, const uint8_t* pt, size_t n,
                    uint8_t enc[kHpkeEncBytes], uint8_t* ct);

// Opens with the recipient private key skR. pt (n bytes,
// ct is n + 16) is written only on success. kInvalidLease for any failure.
Status HpkeOpenWith(EVP_PKEY* skR, const uint8_t enc[kHpkeEncBytes], const HpkeParams& hp, const uint8_t* ct, size_t n,
                    uint8_t* pt);

// Raw-key forms for the known-answer tests (RFC 9180 A.1).
Status HpkeSealRaw(const uint8_t skE[kX25519Bytes], const uint8_t pkR[kX25519Bytes], const HpkeParams& hp,
                   const uint8_t* pt, size_t n, uint8_t enc[kHpkeEncBytes], uint8_t* ct);
Status HpkeOpenRaw(const uint8_t skR[kX25519Bytes], const uint8_t enc[kHpkeEncBytes], const HpkeParams& hp,
                   const uint8_t* ct, size_t n, uint8_t* pt);

// ---- Recipient key pairs (Gateway) ----

// Throws std::runtime_error (operator-facing) unless OpenSSL's secure heap
// is initialized or KRYPTON_ALLOW_NO_SECURE_HEAP=1 (then warns once).
void RequireSecureHeap();

// A fresh X25519 key pair in the process-wide table; returns its id (>= 1).
// Calls RequireSecureHeap (may throw).
Status RecipientGenerate(uint32_t* id);
// Imports a raw private key (tests and vectors only: OpenSSL 3.0 keeps an
// imported key in its ordinary heap, clear-freed on destroy).
Status RecipientImport(const uint8_t sk[kX25519Bytes], uint32_t* id);
Status RecipientPublicKey(uint32_t id, uint8_t out[kX25519Bytes]);
Status RecipientDestroy(uint32_t id);
// A counted reference to the recipient's EVP_PKEY (nullptr if unknown);
// release it with EVP_PKEY_free.
EVP_PKEY* RecipientAcquire(uint32_t id);
// A fresh X25519 key (private part in the secure heap), nullptr on failure.
EVP_PKEY* NewX25519Key();

// ---- L3 leases ----

struct LeaseRequest {
  ConstBytes tenant;
  ConstBytes service;
  uint32_t version;
  KeyState state;
  uint64_t expires_at_ms;
};

constexpr size_t LeaseSealedSize(size_t tenant_len, size_t service_len) {
  return LeaseMessageSize(tenant_len, service_len) + kHpkeTagBytes;
}

// Core side: seals the 32-byte stored key `key_handle` in a lease message
// to pkR. sealed_len must be LeaseSealedSize(T, S).
Status LeaseSeal(const uint8_t pkR[kX25519Bytes], KeyHandle key_handle, const LeaseRequest& req,
                 uint8_t enc[kHpkeEncBytes], uint8_t* sealed, size_t sealed_len);

struct LeaseResult {
  uint32_t scope_id;
  uint32_t version;
  KeyState state;
  uint64_t expires_at_ms;
};

// Gateway side: opens a lease with recipient `recipient_id` straight into
// the key store and binds it to (tenant, service). kInvalidLease for
// anything that does not open, parse or match; kKeyRevoked if the version
// was revoked; kKeyUnavailable for an unknown recipient.
Status LeaseOpen(uint32_t recipient_id, ConstBytes tenant, ConstBytes service, ConstBytes enc, ConstBytes sealed,
                 LeaseResult* out);

}  // namespace krypton
