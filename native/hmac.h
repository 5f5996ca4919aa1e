// HMAC-SHA256 under a stored key: the Core's key check values and any other
// keyed digest Krypton needs, computed without the key leaving the arena.
#pragma once

#include <cstddef>
#include <cstdint>

#include "blob_ops.h"
#include "keystore.h"
#include "status.h"

namespace krypton {

constexpr size_t kHmacSha256Bytes = 32;

// out[0..32) = HMAC-SHA256(key of handle, data). out_len must be exactly 32.
// On any failure out is zeroized, so a caller never sees a partial MAC.
Status HmacSha256(KeyHandle handle, Bytes data, uint8_t* out, size_t out_len);

// A new 32-byte key in the store: HMAC-SHA256(key of handle,
// "krypton:derive:v1" || 0x00 || info), i.e. HKDF-Expand with a uniformly
// random PRK. Separates keys by purpose (e.g. the IVK header MAC key from
// the MasterKey) without the derived key ever leaving the arena.
Status DeriveKey(KeyHandle handle, Bytes info, KeyHandle* derived);

}  // namespace krypton
