// The L4 blob format, version 1 (docs/design.md section 3). Plain C++ with no
// N-API types so that it can be fuzzed on its own.
//
//   0       2  magic "K4"
//   2       1  format version 0x01
//   3       1  algorithm 0x01 = XAES-256-GCM
//   4       1  tenant length T (1..64), then T bytes of [A-Za-z0-9._~-]
//   5+T     1  service length S (1..64), then S bytes, same alphabet
//   6+T+S   4  L3 version, big-endian, >= 1
//   10+T+S 24  nonce
//   34+T+S 32  wrapped L4
//   66+T+S 16  GCM tag
//
// Total 82+T+S bytes; AAD = bytes [0, 10+T+S) || caller context.
#pragma once

#include <cstddef>
#include <cstdint>

namespace krypton {

constexpr uint8_t kBlobMagic0 = 0x4B;
constexpr uint8_t kBlobMagic1 = 0x34;
constexpr uint8_t kBlobFormatV1 = 0x01;
constexpr uint8_t kBlobAlgXaes256Gcm = 0x01;
constexpr size_t kL4Bytes = 32;
constexpr size_t kIdMaxBytes = 64;
constexpr size_t kBlobFixedBytes = 82;  // everything but T and S
constexpr size_t kBlobMinBytes = kBlobFixedBytes + 2;
constexpr size_t kBlobMaxBytes = kBlobFixedBytes + 128;

// True if 1 <= n <= 64 and every byte is in [A-Za-z0-9._~-].
bool ValidId(const uint8_t* p, size_t n);

struct BlobView {
  const uint8_t* tenant;
  size_t tenant_len;
  const uint8_t* service;
  size_t service_len;
  uint32_t version;
  const uint8_t* header;  // AAD prefix, header_len bytes
  size_t header_len;
  const uint8_t* nonce;    // 24
  const uint8_t* wrapped;  // 32
  const uint8_t* tag;      // 16
};

// Parses an exact-length blob. Returns false for anything else: wrong
// magic, format or algorithm, lengths out of range, bytes outside the id
// alphabet, version 0, truncation or trailing bytes.
bool ParseBlob(const uint8_t* p, size_t n, BlobView* out);

constexpr size_t BlobSize(size_t tenant_len, size_t service_len) {
  return kBlobFixedBytes + tenant_len + service_len;
}

// Writes the header (bytes [0, 10+T+S)) and returns its length. The caller
// has validated the ids and sized out with BlobSize.
size_t WriteBlobHeader(uint8_t* out, const uint8_t* tenant, size_t tenant_len, const uint8_t* service,
                       size_t service_len, uint32_t version);

}  // namespace krypton
