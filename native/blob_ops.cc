#include "blob_ops.h"

#include <cstring>

#include "keystore.h"
#include "random_pool.h"
#include "secure_memory.h"
#include "xaes.h"

namespace krypton {

namespace {

bool SameTenant(Bytes tenant, const BlobView& v) {
  return tenant.n == v.tenant_len && std::memcmp(tenant.p, v.tenant, tenant.n) == 0;
}

// Resolves the key a blob names, or the status that explains why not.
Status KeyForBlob(const KeyStore::Reader& r, Bytes tenant, const BlobView& v, const KeyMaterial** key) {
  // The tenant check comes before any lookup or crypto.
  if (!SameTenant(tenant, v)) return kInvalidBlob;
  const Scope* sc = r.ScopeByName(std::string_view(reinterpret_cast<const char*>(v.tenant), v.tenant_len),
                                  std::string_view(reinterpret_cast<const char*>(v.service), v.service_len));
  // A scope or version this store does not hold is, to the caller, one more
  // blob it cannot open: the same INVALID_BLOB as a bad tag. (The Gateway
  // checks its lease cache on that path to decide whether to fetch.)
  if (sc == nullptr) return kInvalidBlob;
  const ScopeVersion* sv = sc->Find(v.version);
  if (sv == nullptr) return kInvalidBlob;
  if (sv->state == KeyState::kRevoked) return kKeyRevoked;
  const KeyMaterial* km = r.Key(sv->handle);
  if (km == nullptr) return kInvalidBlob;
  *key = km;
  return kOk;
}

Status SealL4(const KeyMaterial& key, const uint8_t* l4, Bytes context, uint8_t* blob, size_t header_len) {
  const Aad aad{blob, header_len, context.p, context.n};
  uint8_t* nonce = blob + header_len;
  return XaesSealFresh(key, aad, l4, kL4Bytes, nonce, nonce + 24, nonce + 56);
}

}  // namespace

Status BlobCreate(uint32_t scope_id, Bytes context, uint32_t count, uint8_t* out, size_t out_len,
                  const RecordLayout* layout, uint32_t* version) {
  KeyStore::Reader r(KeyStore::Instance());
  if (!r.ok()) return kKeyUnavailable;
  const Scope* sc = r.ScopeById(scope_id);
  if (sc == nullptr) return kKeyUnavailable;
  const ScopeVersion* active = sc->Active();
  if (active == nullptr) return kKeyUnavailable;
  const KeyMaterial* key = r.Key(active->handle);
  if (key == nullptr) return kKeyUnavailable;

  const size_t blob_len = BlobSize(sc->tenant.size(), sc->service.size());
  const RecordLayout plain{kL4Bytes + blob_len, 0, kL4Bytes};
  const RecordLayout& at = layout != nullptr ? *layout : plain;
  const bool laid_out =
      at.l4_at + kL4Bytes <= at.blob_at && at.blob_at + blob_len <= at.stride && at.stride <= kMaxRecordStride;
  if (count == 0 || !laid_out || out_len != static_cast<size_t>(count) * at.stride) return kInvalidArgument;
  const size_t rec = at.stride;
  // The caller's framing around the L4 and the blob, from record 0 to the others.
  const size_t gap_at = at.l4_at + kL4Bytes;
  const size_t tail_at = at.blob_at + blob_len;
  for (uint32_t i = 1; layout != nullptr && i < count; ++i) {
    uint8_t* r = out + i * rec;
    std::memcpy(r, out, at.l4_at);
    std::memcpy(r + gap_at, out + gap_at, at.blob_at - gap_at);
    std::memcpy(r + tail_at, out + tail_at, rec - tail_at);
  }

  // One header, written once and copied: it is the same for every record.
  uint8_t header[10 + 2 * kIdMaxBytes];
  const size_t header_len =
      WriteBlobHeader(header, reinterpret_cast<const uint8_t*>(sc->tenant.data()), sc->tenant.size(),
                      reinterpret_cast<const uint8_t*>(sc->service.data()), sc->service.size(), active->version);
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t* l4 = out + i * rec + at.l4_at;
    uint8_t* blob = out + i * rec + at.blob_at;
    std::memcpy(blob, header, header_len);
    if (!RandomBytes(l4, kL4Bytes)) {
      SecureZero(out, out_len);
      return kInternal;
    }
    const Status s = SealL4(*key, l4, context, blob, header_len);
    if (s != kOk) {
      SecureZero(out, out_len);
      return s;
    }
  }
  *version = active->version;
  return kOk;
}

Status BlobOpen(Bytes tenant, Bytes blob, Bytes context, uint8_t* out) {
  BlobView v;
  if (!ParseBlob(blob.p, blob.n, &v)) return kInvalidBlob;
  KeyStore::Reader r(KeyStore::Instance());
  if (!r.ok()) return kKeyUnavailable;
  const KeyMaterial* key = nullptr;
  const Status s = KeyForBlob(r, tenant, v, &key);
  if (s != kOk) return s;
  const Aad aad{v.header, v.header_len, context.p, context.n};
  return XaesOpen(*key, v.nonce, aad, v.wrapped, kL4Bytes, v.tag, out);
}

Status BlobRewrap(Bytes tenant, Bytes blob, Bytes context, uint8_t* out, uint32_t* version) {
  BlobView v;
  if (!ParseBlob(blob.p, blob.n, &v)) return kInvalidBlob;
  SecureBlock<kL4Bytes> l4;
  if (!l4.ok()) return kArenaExhausted;
  KeyStore::Reader r(KeyStore::Instance());
  if (!r.ok()) return kKeyUnavailable;
  const KeyMaterial* key = nullptr;
  Status s = KeyForBlob(r, tenant, v, &key);
  if (s != kOk) return s;
  const Aad aad{v.header, v.header_len, context.p, context.n};
  s = XaesOpen(*key, v.nonce, aad, v.wrapped, kL4Bytes, v.tag, l4.data());
  if (s != kOk) return s;

  const Scope* sc = r.ScopeByName(std::string_view(reinterpret_cast<const char*>(v.tenant), v.tenant_len),
                                  std::string_view(reinterpret_cast<const char*>(v.service), v.service_len));
  const ScopeVersion* active = sc->Active();
  if (active == nullptr) return kKeyUnavailable;
  const KeyMaterial* active_key = r.Key(active->handle);
  if (active_key == nullptr) return kKeyUnavailable;
  const size_t header_len = WriteBlobHeader(out, v.tenant, v.tenant_len, v.service, v.service_len, active->version);
  s = SealL4(*active_key, l4.data(), context, out, header_len);
  if (s != kOk) {
    SecureZero(out, blob.n);
    return s;
  }
  *version = active->version;
  return kOk;
}

}  // namespace krypton
