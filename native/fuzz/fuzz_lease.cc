// libFuzzer harness for the lease message parser (native/lease_message.h).
// A lease message is the plaintext of an HPKE-sealed lease, so after a
// successful open its bytes come from the Core, but the parser must still
// never crash or misbehave on any input. Whatever it accepts must be exactly
// what WriteLeaseMessage produces from the parsed fields (the message is
// fully determined by them), with length LeaseMessageSize(T, S).
//
// Built and run by native/fuzz/run.sh (clang, -fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "lease_message.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_lease: invariant violated: %s\n", what);
  std::abort();
}

#define CHECK(cond)           \
  do {                        \
    if (!(cond)) Fail(#cond); \
  } while (0)

constexpr size_t kLeaseMaxBytes = krypton::LeaseMessageSize(krypton::kIdMaxBytes, krypton::kIdMaxBytes);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace krypton;
  LeaseMessageView v;
  std::memset(&v, 0xA5, sizeof(v));
  if (!ParseLeaseMessage(data, size, &v)) return 0;

  CHECK(size == LeaseMessageSize(v.tenant_len, v.service_len));
  CHECK(size <= kLeaseMaxBytes);
  CHECK(ValidId(v.tenant, v.tenant_len));
  CHECK(ValidId(v.service, v.service_len));
  CHECK(v.tenant == data + 4);
  CHECK(v.service == data + 5 + v.tenant_len);
  CHECK(v.version >= 1);
  // A lease never carries REVOKED.
  CHECK(v.state == KeyState::kActive || v.state == KeyState::kDecryptOnly);
  CHECK(v.key == data + 18 + v.tenant_len + v.service_len);
  CHECK(v.key + kLeaseKeyBytes == data + size);

  // Round trip: the writer reproduces the whole message byte for byte.
  uint8_t out[kLeaseMaxBytes];
  const size_t n = WriteLeaseMessage(out, v.tenant, v.tenant_len, v.service, v.service_len, v.version, v.state,
                                     v.expires_at_ms, v.key);
  CHECK(n == size);
  CHECK(std::memcmp(out, data, size) == 0);

  LeaseMessageView w;
  CHECK(ParseLeaseMessage(out, n, &w));
  CHECK(w.version == v.version && w.state == v.state && w.expires_at_ms == v.expires_at_ms);
  return 0;
}
