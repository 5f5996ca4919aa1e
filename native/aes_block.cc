#include "aes_block.h"

#include <cpuid.h>
#include <immintrin.h>

#include <cstring>
#include <stdexcept>

#include <openssl/evp.h>

#include "secure_memory.h"
#include "test_hooks.h"

// Clear every call-clobbered register the function used (vector registers
// included) on return, so no round key lingers in an XMM register that a
// later dump could catch.
#define KRYPTON_AESNI __attribute__((target("aes,sse4.1"), noinline, zero_call_used_regs("used")))

namespace krypton {

namespace {

bool CpuHasAesNi() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool aes = (ecx & bit_AES) != 0;
  const bool sse41 = (ecx & bit_SSE4_1) != 0;
  return aes && sse41;
}

const bool kHasAesNi = CpuHasAesNi() && !TestHook("KRYPTON_TEST_DISABLE_AESNI");

// One step of the AES-256 key schedule (FIPS-197 5.2): even round keys mix
// in RotWord/SubWord with the round constant, odd ones SubWord only.
#define KRYPTON_EXPAND_EVEN(a, b, rcon)                 \
  do {                                                  \
    __m128i t = _mm_aeskeygenassist_si128((b), (rcon)); \
    t = _mm_shuffle_epi32(t, 0xff);                     \
    __m128i s = _mm_slli_si128((a), 4);                 \
    (a) = _mm_xor_si128((a), s);                        \
    s = _mm_slli_si128(s, 4);                           \
    (a) = _mm_xor_si128((a), s);                        \
    s = _mm_slli_si128(s, 4);                           \
    (a) = _mm_xor_si128((a), s);                        \
    (a) = _mm_xor_si128((a), t);                        \
  } while (0)

#define KRYPTON_EXPAND_ODD(a, b)                      \
  do {                                                \
    __m128i t = _mm_aeskeygenassist_si128((a), 0x00); \
    t = _mm_shuffle_epi32(t, 0xaa);                   \
    __m128i s = _mm_slli_si128((b), 4);               \
    (b) = _mm_xor_si128((b), s);                      \
    s = _mm_slli_si128(s, 4);                         \
    (b) = _mm_xor_si128((b), s);                      \
    s = _mm_slli_si128(s, 4);                         \
    (b) = _mm_xor_si128((b), s);                      \
    (b) = _mm_xor_si128((b), t);                      \
  } while (0)

KRYPTON_AESNI void ExpandAesNi(const uint8_t key[32], uint8_t rk[kAes256RoundKeyBytes]) {
  __m128i* out = reinterpret_cast<__m128i*>(rk);
  __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key + 16));
  _mm_storeu_si128(out + 0, a);
  _mm_storeu_si128(out + 1, b);
  KRYPTON_EXPAND_EVEN(a, b, 0x01);
  _mm_storeu_si128(out + 2, a);
  KRYPTON_EXPAND_ODD(a, b);
  _mm_storeu_si128(out + 3, b);
  KRYPTON_EXPAND_EVEN(a, b, 0x02);
  _mm_storeu_si128(out + 4, a);
  KRYPTON_EXPAND_ODD(a, b);
  _mm_storeu_si128(out + 5, b);
  KRYPTON_EXPAND_EVEN(a, b, 0x04);
  _mm_storeu_si128(out + 6, a);
  KRYPTON_EXPAND_ODD(a, b);
  _mm_storeu_si128(out + 7, b);
  KRYPTON_EXPAND_EVEN(a, b, 0x08);
  _mm_storeu_si128(out + 8, a);
  KRYPTON_EXPAND_ODD(a, b);
  _mm_storeu_si128(out + 9, b);
  KRYPTON_EXPAND_EVEN(a, b, 0x10);
  _mm_storeu_si128(out + 10, a);
  KRYPTON_EXPAND_ODD(a, b);
  _mm_storeu_si128(out + 11, b);
  KRYPTON_EXPAND_EVEN(a, b, 0x20);
  _mm_storeu_si128(out + 12, a);
  KRYPTON_EXPAND_ODD(a, b);
  _mm_storeu_si128(out + 13, b);
  KRYPTON_EXPAND_EVEN(a, b, 0x40);
  _mm_storeu_si128(out + 14, a);
}

KRYPTON_AESNI void Encrypt2AesNi(const uint8_t rk[kAes256RoundKeyBytes], const uint8_t in[32], uint8_t out[32]) {
  const __m128i* k = reinterpret_cast<const __m128i*>(rk);
  __m128i x = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in)), _mm_loadu_si128(k));
  __m128i y = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 16)), _mm_loadu_si128(k));
  for (int r = 1; r < 14; ++r) {
    const __m128i kr = _mm_loadu_si128(k + r);
    x = _mm_aesenc_si128(x, kr);
    y = _mm_aesenc_si128(y, kr);
  }
  const __m128i kl = _mm_loadu_si128(k + 14);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_aesenclast_si128(x, kl));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm_aesenclast_si128(y, kl));
}

// Development fallback: OpenSSL's AES, whose schedule lives (briefly) in its
// ordinary heap. rk holds only the raw key in this mode.
bool EncryptSoftware(const uint8_t rk[kAes256RoundKeyBytes], const uint8_t* in, uint8_t* out, int len) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) return false;
  int outl = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), nullptr, rk, nullptr) == 1 &&
            EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 && EVP_EncryptUpdate(ctx, out, &outl, in, len) == 1 && outl == len;
  EVP_CIPHER_CTX_free(ctx);  // frees and cleanses the schedule
  return ok;
}

}  // namespace

bool AesNiAvailable() {
  return kHasAesNi;
}

bool SoftwareAesAllowed() {
  return !kHasAesNi && EnvFlag("KRYPTON_ALLOW_SOFTWARE_AES");
}

void RequireAesBlockFunction() {
  if (kHasAesNi) return;
  if (SoftwareAesAllowed()) return;
  throw std::runtime_error(
      "krypton: REFUSING TO START: this CPU has no AES-NI, so AES round keys for XAES subkey derivation "
      "cannot be kept in locked memory. For development only, set KRYPTON_ALLOW_SOFTWARE_AES=1 to use "
      "OpenSSL's AES for that step (its round keys are then NOT locked).");
}

void Aes256Expand(const uint8_t key[32], uint8_t rk[kAes256RoundKeyBytes]) {
  if (kHasAesNi) {
    ExpandAesNi(key, rk);
  } else {
    std::memcpy(rk, key, 32);
  }
}

bool Aes256Encrypt2(const uint8_t rk[kAes256RoundKeyBytes], const uint8_t in[32], uint8_t out[32]) {
  if (kHasAesNi) {
    Encrypt2AesNi(rk, in, out);
    return true;
  }
  return EncryptSoftware(rk, in, out, 32);
}

bool Aes256Encrypt1(const uint8_t rk[kAes256RoundKeyBytes], const uint8_t in[16], uint8_t out[16]) {
  uint8_t i2[32] = {0};
  uint8_t o2[32];
  std::memcpy(i2, in, 16);
  bool ok = Aes256Encrypt2(rk, i2, o2);
  std::memcpy(out, o2, 16);
  SecureZero(o2, sizeof(o2));
  return ok;
}

}  // namespace krypton
