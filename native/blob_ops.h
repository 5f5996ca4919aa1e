// L4 data keys in blobs: create (generate L4 + seal + encode), open (parse +
// check + decrypt) and rewrap, over the leased L3 scopes of the key store.
#pragma once

#include <cstddef>
#include <cstdint>

#include "blob.h"
#include "status.h"

namespace krypton {

struct Bytes {
  const uint8_t* p;
  size_t n;
};

// Creates count L4 keys under the ACTIVE version of scope_id. out holds
// count records of [L4 (32)][blob]; out_len must be exactly
// count * (32 + BlobSize(T, S)).
Status BlobCreate(uint32_t scope_id, Bytes context, uint32_t count, uint8_t* out, size_t out_len,
                  uint32_t* version);

// Opens one blob for the caller's tenant into out (32 bytes). Every failure
// to open is kInvalidBlob: malformed, tampered, wrong context, another
// tenant's (refused before any crypto), or a scope or version not held. A
// version held as revoked is kKeyRevoked.
Status BlobOpen(Bytes tenant, Bytes blob, Bytes context, uint8_t* out);

// Re-seals the blob's L4 under the scope's ACTIVE version without it
// leaving native memory. out is the same size as blob.
Status BlobRewrap(Bytes tenant, Bytes blob, Bytes context, uint8_t* out, uint32_t* version);

}  // namespace krypton
