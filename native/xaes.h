// XAES-256-GCM (C2SP) over keys in the store.
//
// Subkey derivation (two AES-256 blocks) runs on AES-NI with the round keys
// in the arena; the GCM itself is OpenSSL's. Re-keying OpenSSL's GCM costs
// ~350 ns, so the encryptor keeps the first 12 nonce bytes (random) for an
// epoch of at most 2^16 messages or 1 s per thread and key, reusing that
// epoch's keyed context; the decryptor keeps a small per-thread LRU of
// keyed contexts by (key, prefix). The wire format is plain XAES.
#pragma once

#include <cstddef>
#include <cstdint>

#include "keystore.h"
#include "status.h"

namespace krypton {

constexpr size_t kXaesNonceBytes = 24;
constexpr size_t kTagBytes = 16;

struct Aad {
  const uint8_t* a = nullptr;  // first part (e.g. the blob header)
  size_t a_len = 0;
  const uint8_t* b = nullptr;  // second part (e.g. the caller context)
  size_t b_len = 0;
};

// Seals n bytes under a fresh nonce (written to nonce_out) from this
// thread's epoch for key k. ct may equal pt.
Status XaesSealFresh(const KeyMaterial& k, const Aad& aad, const uint8_t* pt, size_t n, uint8_t* nonce_out, uint8_t* ct,
                     uint8_t* tag);

// Opens with the per-thread context cache. pt is written only when the tag
// verifies; on failure it is zeroized and kInvalidBlob returned.
Status XaesOpen(const KeyMaterial& k, const uint8_t* nonce, const Aad& aad, const uint8_t* ct, size_t n,
                const uint8_t* tag, uint8_t* pt);

// Seals with a caller-chosen nonce (known-answer tests only), no caching.
Status XaesSealWithNonce(const KeyMaterial& k, const uint8_t* nonce, const Aad& aad, const uint8_t* pt, size_t n,
                         uint8_t* ct, uint8_t* tag);

// Wipes this thread's keyed GCM contexts whose epoch (1 s) has ended or
// that sat unused for one; returns how many. Call it periodically on every
// thread that seals or opens.
int XaesSweepThreadContexts();

// Wipes every keyed GCM context of this thread, whatever its epoch; returns
// how many held a key. For threads that go idle after a burst of work (a
// Piscina bulk task ends with it): they keep no subkey in OpenSSL's heap,
// which is neither locked nor excluded from core dumps. The next seal on
// this thread starts a new epoch (a fresh nonce prefix).
int XaesWipeThreadContexts();

// Derives the 32-byte XAES subkey for the nonce prefix (exposed for tests).
bool XaesDeriveSubkey(const KeyMaterial& k, const uint8_t prefix[12], uint8_t kx[32]);

// Plain AES-GCM with a raw key of 16, 24 or 32 bytes and a 12-byte IV
// (HPKE's AEAD and the Wycheproof vectors). pt is written on success only.
Status AesGcmSeal(const uint8_t* key, size_t key_len, const uint8_t* iv, const Aad& aad, const uint8_t* pt, size_t n,
                  uint8_t* ct, uint8_t* tag);
Status AesGcmOpen(const uint8_t* key, size_t key_len, const uint8_t* iv, const Aad& aad, const uint8_t* ct, size_t n,
                  const uint8_t* tag, uint8_t* pt);

}  // namespace krypton
