// Ed25519 signatures (RFC 8032) under a private key kept in the key store:
// the 32-byte seed is an ordinary stored key (a handle), so it lives in the
// locked, dump-excluded arena. OpenSSL does the signing: for each signature
// it gets the seed as a raw private key, which OpenSSL 3 copies into its
// own heap, and the EVP_PKEY is clear-freed before the call returns, so the
// private key sits outside the arena only for the length of one signature.
// Verification needs only public keys and is done in TypeScript.
#pragma once

#include <cstddef>
#include <cstdint>

#include "blob_ops.h"
#include "keystore.h"
#include "status.h"

namespace krypton {

constexpr size_t kEd25519SeedBytes = 32;
constexpr size_t kEd25519PublicBytes = 32;
constexpr size_t kEd25519SignatureBytes = 64;

// sig (exactly 64 bytes) = Ed25519(seed of handle, msg).
Status Ed25519Sign(KeyHandle seed, Bytes msg, uint8_t* sig, size_t sig_len);

// pub (exactly 32 bytes) = the public key of the seed of handle.
Status Ed25519PublicKey(KeyHandle seed, uint8_t* pub, size_t pub_len);

}  // namespace krypton
