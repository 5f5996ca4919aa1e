// Key-under-key wrapping with XAES-256-GCM, for IVK, L2 and L3 at rest.
// Format: nonce (24) || ciphertext (key length) || tag (16). The AAD is a
// fixed label followed by the caller's AAD (what the key is, e.g. its
// scope and version), so a wrapped key cannot be swapped for another.
// The unwrapped key goes straight into the store; JS gets a handle.
#pragma once

#include <cstddef>
#include <cstdint>

#include "blob_ops.h"
#include "keystore.h"
#include "status.h"

namespace krypton {

constexpr size_t kWrapOverhead = 24 + 16;

Status WrapKey(KeyHandle wrapping, KeyHandle target, Bytes aad, uint8_t* out, size_t out_len);
Status UnwrapKey(KeyHandle wrapping, Bytes wrapped, Bytes aad, KeyHandle* handle);

}  // namespace krypton
