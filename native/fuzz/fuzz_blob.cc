// libFuzzer harness for the L4 blob parser (native/blob.h). ParseBlob sees
// bytes from any client, so it must never crash, read out of bounds or hit
// undefined behaviour on any input; and whatever it accepts must be exactly
// a blob that the writer would produce: re-encoding the parsed header gives
// back the input's header bytes, and the length is BlobSize(T, S).
//
// Built and run by native/fuzz/run.sh (clang, -fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "blob.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_blob: invariant violated: %s\n", what);
  std::abort();
}

#define CHECK(cond)           \
  do {                        \
    if (!(cond)) Fail(#cond); \
  } while (0)

bool Within(const uint8_t* base, size_t n, const uint8_t* p, size_t len) {
  return p >= base && p + len <= base + n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace krypton;
  BlobView v;
  std::memset(&v, 0xA5, sizeof(v));
  if (!ParseBlob(data, size, &v)) return 0;

  // Accepted: every length is exact and every field is in range.
  CHECK(size == BlobSize(v.tenant_len, v.service_len));
  CHECK(size >= kBlobMinBytes && size <= kBlobMaxBytes);
  CHECK(ValidId(v.tenant, v.tenant_len));
  CHECK(ValidId(v.service, v.service_len));
  CHECK(v.version >= 1);
  CHECK(v.header == data);
  CHECK(v.header_len == 10 + v.tenant_len + v.service_len);
  CHECK(v.tenant == data + 5);
  CHECK(v.service == data + 6 + v.tenant_len);
  CHECK(Within(data, size, v.nonce, 24) && v.nonce == data + v.header_len);
  CHECK(Within(data, size, v.wrapped, kL4Bytes) && v.wrapped == v.nonce + 24);
  CHECK(Within(data, size, v.tag, 16) && v.tag + 16 == data + size);

  // Round trip: the writer reproduces the header byte for byte.
  uint8_t header[kBlobMaxBytes];
  const size_t h = WriteBlobHeader(header, v.tenant, v.tenant_len, v.service, v.service_len, v.version);
  CHECK(h == v.header_len);
  CHECK(std::memcmp(header, data, h) == 0);

  // And the re-encoded blob (header || nonce || wrapped || tag) parses to
  // the same fields.
  uint8_t again[kBlobMaxBytes];
  std::memcpy(again, header, h);
  std::memcpy(again + h, data + h, size - h);
  BlobView w;
  CHECK(ParseBlob(again, size, &w));
  CHECK(w.tenant_len == v.tenant_len && w.service_len == v.service_len && w.version == v.version);
  return 0;
}
