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

// Where the parts of each record go in a caller's buffer: record i starts
// at i * stride, its L4 at l4_at and its blob at blob_at within it. The
// bytes around them (the caller's framing, e.g. a reply's encoding) are
// written by the caller in record 0 and copied to every other record, so a
// reply can be filled in place with no copy of the keys afterwards.
struct RecordLayout {
  size_t stride;
  size_t l4_at;
  size_t blob_at;
};

// Largest stride of a record layout.
constexpr size_t kMaxRecordStride = 4096;

// Creates count L4 keys under the ACTIVE version of scope_id. Without a
// layout, out holds count records of [L4 (32)][blob] and out_len must be
// exactly count * (32 + BlobSize(T, S)); with one, exactly count * stride,
// the L4 and blob of each record where the layout puts them (they may not
// overlap, nor leave the record).
Status BlobCreate(uint32_t scope_id, Bytes context, uint32_t count, uint8_t* out, size_t out_len,
                  const RecordLayout* layout, uint32_t* version);

// Opens one blob for the caller's tenant into out (32 bytes). Every failure
// to open is kInvalidBlob: malformed, tampered, wrong context, another
// tenant's (refused before any crypto), or a scope or version not held. A
// version held as revoked is kKeyRevoked.
Status BlobOpen(Bytes tenant, Bytes blob, Bytes context, uint8_t* out);

// Re-seals the blob's L4 under the scope's ACTIVE version without it
// leaving native memory. out is the same size as blob.
Status BlobRewrap(Bytes tenant, Bytes blob, Bytes context, uint8_t* out, uint32_t* version);

}  // namespace krypton
