// Big-endian integers and the (tenant, service) id pair, as the blob and
// lease-message formats encode them. Header-only, pure C++ (fuzzed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace krypton {

inline uint32_t ReadU32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

inline uint64_t ReadU64(const uint8_t* p) {
  return (static_cast<uint64_t>(ReadU32(p)) << 32) | ReadU32(p + 4);
}

inline void WriteU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

inline void WriteU64(uint8_t* p, uint64_t v) {
  WriteU32(p, static_cast<uint32_t>(v >> 32));
  WriteU32(p + 4, static_cast<uint32_t>(v));
}

// Writes len(T) || T || len(S) || S and returns the byte after it. The
// caller has validated both ids (1..64 bytes).
inline uint8_t* WriteIdPair(uint8_t* out, const uint8_t* tenant, size_t tenant_len, const uint8_t* service,
                            size_t service_len) {
  out[0] = static_cast<uint8_t>(tenant_len);
  std::memcpy(out + 1, tenant, tenant_len);
  out[1 + tenant_len] = static_cast<uint8_t>(service_len);
  std::memcpy(out + 2 + tenant_len, service, service_len);
  return out + 2 + tenant_len + service_len;
}

}  // namespace krypton
