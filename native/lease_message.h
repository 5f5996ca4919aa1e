// The lease message: the plaintext that the Core seals with HPKE to a
// Gateway's X25519 recipient key, one per L3 version. Plain C++ with no
// N-API types so that it can be fuzzed on its own. All integers big-endian.
//
//   0       2  magic "KL" (0x4B 0x4C)
//   2       1  format version 0x01
//   3       1  tenant length T (1..64), then T bytes of [A-Za-z0-9._~-]
//   4+T     1  service length S (1..64), then S bytes, same alphabet
//   5+T+S   4  L3 version, >= 1
//   9+T+S   1  state: 1 ACTIVE, 2 DECRYPT_ONLY (a lease never carries REVOKED)
//   10+T+S  8  lease expiry, Unix milliseconds (authenticated TTL)
//   18+T+S 32  the L3 key
//
// Total 50+T+S bytes; any other length, value out of range or trailing byte
// is refused. HPKE: mode base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// AES-256-GCM, info = "krypton lease v1", empty AAD.
#pragma once

#include <cstddef>
#include <cstdint>

#include "blob.h"
#include "status.h"

namespace krypton {

constexpr uint8_t kLeaseMagic0 = 0x4B;
constexpr uint8_t kLeaseMagic1 = 0x4C;
constexpr uint8_t kLeaseFormatV1 = 0x01;
constexpr size_t kLeaseFixedBytes = 50;
constexpr size_t kLeaseKeyBytes = 32;

constexpr size_t LeaseMessageSize(size_t tenant_len, size_t service_len) {
  return kLeaseFixedBytes + tenant_len + service_len;
}

struct LeaseMessageView {
  const uint8_t* tenant;
  size_t tenant_len;
  const uint8_t* service;
  size_t service_len;
  uint32_t version;
  KeyState state;
  uint64_t expires_at_ms;
  const uint8_t* key;  // 32 bytes, inside the buffer that was parsed
};

// Parses an exact-length lease message; false for anything malformed.
bool ParseLeaseMessage(const uint8_t* p, size_t n, LeaseMessageView* out);

// Writes a lease message into out (LeaseMessageSize(T, S) bytes). The
// caller has validated ids, version and state.
size_t WriteLeaseMessage(uint8_t* out, const uint8_t* tenant, size_t tenant_len, const uint8_t* service,
                         size_t service_len, uint32_t version, KeyState state, uint64_t expires_at_ms,
                         const uint8_t key[kLeaseKeyBytes]);

}  // namespace krypton
