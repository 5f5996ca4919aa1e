// Shamir secret sharing of stored keys over GF(2^8) (the AES field,
// x^8 + x^4 + x^3 + x + 1), byte by byte. The MasterKey is split into
// operator shares (3 of 5 by default, docs/design.md section 2) and rebuilt
// straight into the arena. Shamir cannot tell a wrong share from a right
// one: the Core checks the rebuilt key against its key check value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "blob_ops.h"
#include "keystore.h"
#include "status.h"

namespace krypton {

constexpr uint32_t kMinShares = 2;
constexpr uint32_t kMaxShares = 255;  // x runs over the nonzero field elements

// Constant-time field arithmetic (exposed for tests and reuse).
uint8_t GfMul(uint8_t a, uint8_t b);
uint8_t GfInv(uint8_t a);  // a^254; maps 0 to 0

// Splits the key of handle into `shares` shares with threshold `threshold`.
// out holds the shares one after another, each x (1 byte, 1..shares) || y
// (key length bytes); out_len must be exactly shares * (1 + key length).
Status ShamirSplit(KeyHandle handle, uint32_t threshold, uint32_t shares, uint8_t* out, size_t out_len);

// Interpolates count shares at 0 into a new stored key. All shares must
// have the same length (1 + 16..64), nonzero and distinct x.
Status ShamirCombine(const Bytes* shares, size_t count, KeyHandle* handle);

}  // namespace krypton
