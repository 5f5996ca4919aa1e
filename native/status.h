// Status codes shared by every native module. They map one-to-one onto the
// error catalogue in src/errors.ts; the N-API layer turns them into
// KryptonError codes. Hot paths return them instead of throwing.
#pragma once

#include <cstdint>

namespace krypton {

enum Status : int32_t {
  kOk = 0,
  kInvalidBlob = 1,      // any malformed, tampered, foreign or mis-contexted blob
  kKeyRevoked = 2,       // the version named exists and is revoked
  kKeyUnavailable = 3,   // no usable key (unknown scope, version, no ACTIVE)
  kInvalidArgument = 4,  // caller error caught at the native boundary
  kInternal = 5,         // OpenSSL or allocation failure
  kArenaExhausted = 6,   // the locked arena is full
  kInvalidLease = 7,     // a lease message that does not open or parse
};

const char* StatusCode(Status s);

// L3 version states (docs/design.md section 2). Values are part of the lease
// message wire format: do not renumber.
enum class KeyState : uint8_t {
  kActive = 1,
  kDecryptOnly = 2,
  kRevoked = 3,
};

inline bool ValidKeyState(uint8_t s) {
  return s >= 1 && s <= 3;
}

}  // namespace krypton
