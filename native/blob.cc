#include "blob.h"

#include <cstring>

#include "wire.h"

namespace krypton {

namespace {

bool IdByte(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '~' || c == '-';
}

}  // namespace

bool ValidId(const uint8_t* p, size_t n) {
  if (n < 1 || n > kIdMaxBytes) return false;
  for (size_t i = 0; i < n; ++i) {
    if (!IdByte(p[i])) return false;
  }
  return true;
}

bool ParseBlob(const uint8_t* p, size_t n, BlobView* out) {
  if (p == nullptr || n < kBlobMinBytes || n > kBlobMaxBytes) return false;
  if (p[0] != kBlobMagic0 || p[1] != kBlobMagic1 || p[2] != kBlobFormatV1 || p[3] != kBlobAlgXaes256Gcm) {
    return false;
  }
  const size_t t = p[4];
  if (t < 1 || t > kIdMaxBytes || 5 + t >= n) return false;
  const size_t s = p[5 + t];
  if (s < 1 || s > kIdMaxBytes) return false;
  if (n != BlobSize(t, s)) return false;
  if (!ValidId(p + 5, t) || !ValidId(p + 6 + t, s)) return false;
  const uint32_t version = ReadU32(p + 6 + t + s);
  if (version == 0) return false;
  const size_t h = 10 + t + s;
  out->tenant = p + 5;
  out->tenant_len = t;
  out->service = p + 6 + t;
  out->service_len = s;
  out->version = version;
  out->header = p;
  out->header_len = h;
  out->nonce = p + h;
  out->wrapped = p + h + 24;
  out->tag = p + h + 56;
  return true;
}

size_t WriteBlobHeader(uint8_t* out, const uint8_t* tenant, size_t tenant_len, const uint8_t* service,
                       size_t service_len, uint32_t version) {
  out[0] = kBlobMagic0;
  out[1] = kBlobMagic1;
  out[2] = kBlobFormatV1;
  out[3] = kBlobAlgXaes256Gcm;
  WriteU32(WriteIdPair(out + 4, tenant, tenant_len, service, service_len), version);
  return 10 + tenant_len + service_len;
}

}  // namespace krypton
