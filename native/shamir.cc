#include "shamir.h"

#include "keystore.h"
#include "random_pool.h"
#include "secure_memory.h"

namespace krypton {

namespace {

// All-ones when the low bit of v is set, else zero, without a branch.
inline uint8_t MaskOfBit(uint8_t v) {
  return static_cast<uint8_t>(0u - (v & 1u));
}

// Coefficients of one byte position's polynomial (at most 254 of them).
using CoefBlock = SecureBlock<kMaxShares>;

// y = f(x) for f(x) = secret + c[0] x + ... + c[m-2] x^(m-1) (Horner).
uint8_t Eval(uint8_t secret, const uint8_t* c, uint32_t m, uint8_t x) {
  uint8_t y = 0;
  for (uint32_t k = m - 1; k >= 1; --k) y = static_cast<uint8_t>(GfMul(y, x) ^ c[k - 1]);
  return static_cast<uint8_t>(GfMul(y, x) ^ secret);
}

// Fills byte j of every share from a fresh random polynomial.
bool SplitByte(const KeyMaterial& k, size_t j, uint32_t m, uint32_t n, uint8_t* coef, uint8_t* out) {
  if (!RandomBytes(coef, m - 1)) return false;
  const size_t stride = 1 + k.len;
  for (uint32_t i = 0; i < n; ++i) {
    out[i * stride + 1 + j] = Eval(k.key[j], coef, m, static_cast<uint8_t>(i + 1));
  }
  return true;
}

Status SplitLocked(const KeyMaterial& k, uint32_t m, uint32_t n, uint8_t* out) {
  CoefBlock coef;  // zeroized by its destructor on every path
  if (!coef.ok()) return kArenaExhausted;
  const size_t stride = 1 + k.len;
  for (uint32_t i = 0; i < n; ++i) out[i * stride] = static_cast<uint8_t>(i + 1);
  for (size_t j = 0; j < k.len; ++j) {
    if (!SplitByte(k, j, m, n, coef.data(), out)) return kInternal;
  }
  return kOk;
}

// Shape checks only: x values are public, so branching on them is fine.
bool ValidShares(const Bytes* shares, size_t count) {
  if (shares == nullptr || count < kMinShares || count > kMaxShares) return false;
  const size_t len = shares[0].n;
  if (len < 1 + kMinKeyBytes || len > 1 + kMaxKeyBytes) return false;
  bool seen[256] = {};
  for (size_t i = 0; i < count; ++i) {
    if (shares[i].n != len || shares[i].p == nullptr) return false;
    const uint8_t x = shares[i].p[0];
    if (x == 0 || seen[x]) return false;
    seen[x] = true;
  }
  return true;
}

// Lagrange basis at 0: l_i = prod_{j != i} x_j / (x_j - x_i); in GF(2^8)
// subtraction is XOR. Depends on the public x values only.
void LagrangeAtZero(const Bytes* shares, size_t count, uint8_t* l) {
  for (size_t i = 0; i < count; ++i) {
    uint8_t num = 1, den = 1;
    const uint8_t xi = shares[i].p[0];
    for (size_t j = 0; j < count; ++j) {
      if (j == i) continue;
      const uint8_t xj = shares[j].p[0];
      num = GfMul(num, xj);
      den = GfMul(den, static_cast<uint8_t>(xj ^ xi));
    }
    l[i] = GfMul(num, GfInv(den));
  }
}

}  // namespace

uint8_t GfMul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  for (int i = 0; i < 8; ++i) {
    p ^= static_cast<uint8_t>(a & MaskOfBit(b));
    // Reduce by the AES polynomial when the top bit falls out, via a mask.
    const uint8_t carry = MaskOfBit(static_cast<uint8_t>(a >> 7));
    a = static_cast<uint8_t>((a << 1) ^ (0x1b & carry));
    b = static_cast<uint8_t>(b >> 1);
  }
  return p;
}

uint8_t GfInv(uint8_t a) {
  // a^254 = a^-1 (a^255 = 1): a fixed chain of squarings and products,
  // the same work for every a, and no table lookups.
  uint8_t sq = GfMul(a, a);  // a^2
  uint8_t r = sq;
  for (int i = 0; i < 6; ++i) {
    sq = GfMul(sq, sq);  // a^4, a^8, ..., a^128
    r = GfMul(r, sq);
  }
  return r;  // a^(2+4+...+128) = a^254
}

Status ShamirSplit(KeyHandle handle, uint32_t threshold, uint32_t shares, uint8_t* out, size_t out_len) {
  if (shares < kMinShares || shares > kMaxShares || threshold < kMinShares || threshold > shares) {
    return kInvalidArgument;
  }
  KeyStore::Reader r(KeyStore::Instance());
  const KeyMaterial* k = r.ok() ? r.Key(handle) : nullptr;
  if (k == nullptr) return kKeyUnavailable;
  if (out == nullptr || out_len != static_cast<size_t>(shares) * (1 + k->len)) return kInvalidArgument;
  const Status s = SplitLocked(*k, threshold, shares, out);
  if (s != kOk) SecureZero(out, out_len);
  return s;
}

Status ShamirCombine(const Bytes* shares, size_t count, KeyHandle* handle) {
  if (!ValidShares(shares, count)) return kInvalidArgument;
  uint8_t l[kMaxShares];
  LagrangeAtZero(shares, count, l);
  const size_t len = shares[0].n - 1;
  // Accumulate the secret directly in the new key's arena bytes.
  return KeyStore::Instance().ImportWith(
      len,
      [&](uint8_t* dst, size_t n) -> Status {
        for (size_t b = 0; b < n; ++b) {
          uint8_t acc = 0;
          for (size_t i = 0; i < count; ++i) acc ^= GfMul(l[i], shares[i].p[1 + b]);
          dst[b] = acc;
        }
        return kOk;
      },
      handle);
}

}  // namespace krypton
