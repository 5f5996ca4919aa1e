// The AES-256 block function used to derive XAES-256-GCM subkeys from keys
// above L4. It runs on AES-NI with its round keys in the locked arena, so no
// schedule of a long-lived key ever sits in OpenSSL's ordinary heap. The
// functions clear the registers they used on return.
#pragma once

#include <cstddef>
#include <cstdint>

namespace krypton {

constexpr size_t kAes256RoundKeyBytes = 240;  // 15 round keys

// True when the CPU has AES-NI (and SSE4.1), unless the test switch
// KRYPTON_TEST_DISABLE_AESNI pretends it does not: read only by the test
// build (krypton_test.node, test_hooks.h), never by the addon processes load.
bool AesNiAvailable();
// True when AES-NI is missing and KRYPTON_ALLOW_SOFTWARE_AES permits the
// OpenSSL fallback (whose round keys are NOT in locked memory).
bool SoftwareAesAllowed();
// Throws std::runtime_error with an operator-facing message if neither.
void RequireAesBlockFunction();

// Expands key into rk (AES-NI) or copies the key for the fallback.
void Aes256Expand(const uint8_t key[32], uint8_t rk[kAes256RoundKeyBytes]);
// out_i = AES-256(key, in_i) for two blocks, from the schedule made above.
bool Aes256Encrypt2(const uint8_t rk[kAes256RoundKeyBytes], const uint8_t in[32], uint8_t out[32]);
bool Aes256Encrypt1(const uint8_t rk[kAes256RoundKeyBytes], const uint8_t in[16], uint8_t out[16]);

}  // namespace krypton
