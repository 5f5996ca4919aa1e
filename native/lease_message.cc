// The lease message (layout in lease_message.h). Pure C++: it is fuzzed on
// its own, linked with blob.cc only. Every length is exact, so a message
// either parses whole or not at all.
#include "lease_message.h"

#include <cstring>

#include "wire.h"

namespace krypton {

namespace {

constexpr size_t kLeaseMinBytes = LeaseMessageSize(1, 1);
constexpr size_t kLeaseMaxBytes = LeaseMessageSize(kIdMaxBytes, kIdMaxBytes);

}  // namespace

bool ParseLeaseMessage(const uint8_t* p, size_t n, LeaseMessageView* out) {
  if (p == nullptr || out == nullptr || n < kLeaseMinBytes || n > kLeaseMaxBytes) return false;
  if (p[0] != kLeaseMagic0 || p[1] != kLeaseMagic1 || p[2] != kLeaseFormatV1) return false;
  const size_t t = p[3];
  // 4 + t < n keeps the service length byte inside the buffer.
  if (t < 1 || t > kIdMaxBytes || 4 + t >= n) return false;
  const size_t s = p[4 + t];
  if (s < 1 || s > kIdMaxBytes) return false;
  // Exact length: no truncation, no trailing bytes.
  if (n != LeaseMessageSize(t, s)) return false;
  if (!ValidId(p + 4, t) || !ValidId(p + 5 + t, s)) return false;
  const uint8_t* rest = p + 5 + t + s;
  const uint32_t version = ReadU32(rest);
  if (version == 0) return false;
  // A lease carries only usable states: a revocation is an event, never a lease.
  const uint8_t state = rest[4];
  if (state != static_cast<uint8_t>(KeyState::kActive) && state != static_cast<uint8_t>(KeyState::kDecryptOnly)) {
    return false;
  }
  out->tenant = p + 4;
  out->tenant_len = t;
  out->service = p + 5 + t;
  out->service_len = s;
  out->version = version;
  out->state = static_cast<KeyState>(state);
  out->expires_at_ms = ReadU64(rest + 5);
  out->key = rest + 13;
  return true;
}

size_t WriteLeaseMessage(uint8_t* out, const uint8_t* tenant, size_t tenant_len, const uint8_t* service,
                         size_t service_len, uint32_t version, KeyState state, uint64_t expires_at_ms,
                         const uint8_t key[kLeaseKeyBytes]) {
  out[0] = kLeaseMagic0;
  out[1] = kLeaseMagic1;
  out[2] = kLeaseFormatV1;
  uint8_t* rest = WriteIdPair(out + 3, tenant, tenant_len, service, service_len);
  WriteU32(rest, version);
  rest[4] = static_cast<uint8_t>(state);
  WriteU64(rest + 5, expires_at_ms);
  std::memcpy(rest + 13, key, kLeaseKeyBytes);
  return LeaseMessageSize(tenant_len, service_len);
}

}  // namespace krypton
