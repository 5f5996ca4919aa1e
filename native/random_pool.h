// Pooled CSPRNG output: one RAND_bytes call (about 1.5 us whatever its size)
// refills a per-thread pool in the secure arena. The pool's fill counter
// lives in the same MADV_WIPEONFORK memory, so a forked child starts empty
// and never hands out bytes its parent already used.
#pragma once

#include <cstddef>
#include <cstdint>

namespace krypton {

// Fills out[0..n) with CSPRNG bytes. Returns false if the arena or OpenSSL
// fails (the output is then zeroized).
bool RandomBytes(uint8_t* out, size_t n);

}  // namespace krypton
