// N-API surface of L4 blobs. The hot calls return a status number instead
// of throwing (a throw costs microseconds); src/native turns it into an
// error. Output buffers are allocated by the caller.
#include "bindings.h"
#include "blob_ops.h"
#include "napi_util.h"

namespace krypton {

namespace {

// blobCreate(scopeId, context|null, count, out) -> version (> 0) or -status
Napi::Value BlobCreateJs(const Napi::CallbackInfo& info) {
  const uint32_t scope = ArgU32(info, 0);
  const Bytes context = ArgBytesOrEmpty(info, 1);
  const uint32_t count = ArgU32(info, 2);
  const MutBytes out = ArgOut(info, 3);
  uint32_t version = 0;
  const Status s = BlobCreate(scope, context, count, out.p, out.n, &version);
  return Napi::Number::New(info.Env(), s == kOk ? static_cast<double>(version) : -static_cast<double>(s));
}

// blobOpen(tenant, blob, context|null, out32) -> status
Napi::Value BlobOpenJs(const Napi::CallbackInfo& info) {
  const Bytes tenant = ArgBytes(info, 0);
  const Bytes blob = ArgBytes(info, 1);
  const Bytes context = ArgBytesOrEmpty(info, 2);
  const MutBytes out = ArgOut(info, 3);
  if (out.n != kL4Bytes) ThrowStatus(info.Env(), kInvalidArgument);
  return Napi::Number::New(info.Env(), BlobOpen(tenant, blob, context, out.p));
}

Napi::Array ArgArray(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsArray()) throw Napi::TypeError::New(info.Env(), "argument must be an array of Uint8Array");
  return info[i].As<Napi::Array>();
}

Bytes ElementBytes(Napi::Env env, const Napi::Array& a, uint32_t i) {
  const Napi::Value v = a.Get(i);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, "every element must be a Uint8Array");
  }
  auto u = v.As<Napi::Uint8Array>();
  return Bytes{u.Data(), u.ByteLength()};
}

// blobOpenBatch(tenant, blobs[], context|null, out(32*n), statuses(n)) -> failures
Napi::Value BlobOpenBatchJs(const Napi::CallbackInfo& info) {
  const Bytes tenant = ArgBytes(info, 0);
  const Napi::Array blobs = ArgArray(info, 1);
  const Bytes context = ArgBytesOrEmpty(info, 2);
  const MutBytes out = ArgOut(info, 3);
  const MutBytes statuses = ArgOut(info, 4);
  const uint32_t n = blobs.Length();
  if (out.n != static_cast<size_t>(n) * kL4Bytes || statuses.n != n) ThrowStatus(info.Env(), kInvalidArgument);
  uint32_t failures = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const Status s = BlobOpen(tenant, ElementBytes(info.Env(), blobs, i), context, out.p + i * kL4Bytes);
    statuses.p[i] = static_cast<uint8_t>(s);
    if (s != kOk) ++failures;
  }
  return Napi::Number::New(info.Env(), failures);
}

// blobRewrap(tenant, blob, context|null, out) -> version (> 0) or -status
Napi::Value BlobRewrapJs(const Napi::CallbackInfo& info) {
  const Bytes tenant = ArgBytes(info, 0);
  const Bytes blob = ArgBytes(info, 1);
  const Bytes context = ArgBytesOrEmpty(info, 2);
  const MutBytes out = ArgOut(info, 3);
  if (out.n != blob.n) ThrowStatus(info.Env(), kInvalidArgument);
  uint32_t version = 0;
  const Status s = BlobRewrap(tenant, blob, context, out.p, &version);
  return Napi::Number::New(info.Env(), s == kOk ? static_cast<double>(version) : -static_cast<double>(s));
}

// blobRewrapBatch(tenant, blobs[], context|null, out(sum of sizes), statuses(n)) -> failures
Napi::Value BlobRewrapBatchJs(const Napi::CallbackInfo& info) {
  const Bytes tenant = ArgBytes(info, 0);
  const Napi::Array blobs = ArgArray(info, 1);
  const Bytes context = ArgBytesOrEmpty(info, 2);
  const MutBytes out = ArgOut(info, 3);
  const MutBytes statuses = ArgOut(info, 4);
  const uint32_t n = blobs.Length();
  if (statuses.n != n) ThrowStatus(info.Env(), kInvalidArgument);
  size_t offset = 0;
  uint32_t failures = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const Bytes b = ElementBytes(info.Env(), blobs, i);
    if (offset + b.n > out.n) ThrowStatus(info.Env(), kInvalidArgument);
    uint32_t version = 0;
    const Status s = BlobRewrap(tenant, b, context, out.p + offset, &version);
    statuses.p[i] = static_cast<uint8_t>(s);
    if (s != kOk) ++failures;
    offset += b.n;
  }
  if (offset != out.n) ThrowStatus(info.Env(), kInvalidArgument);
  return Napi::Number::New(info.Env(), failures);
}

// blobInfo(blob) -> {tenant, service, version} or null (not a valid blob)
Napi::Value BlobInfoJs(const Napi::CallbackInfo& info) {
  const Bytes blob = ArgBytes(info, 0);
  BlobView v;
  if (!ParseBlob(blob.p, blob.n, &v)) return info.Env().Null();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("tenant", Napi::String::New(info.Env(), reinterpret_cast<const char*>(v.tenant), v.tenant_len));
  o.Set("service", Napi::String::New(info.Env(), reinterpret_cast<const char*>(v.service), v.service_len));
  o.Set("version", Napi::Number::New(info.Env(), v.version));
  return o;
}

}  // namespace

void RegisterBlob(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "blobCreate", BlobCreateJs);
  Export(env, exports, "blobOpen", BlobOpenJs);
  Export(env, exports, "blobOpenBatch", BlobOpenBatchJs);
  Export(env, exports, "blobRewrap", BlobRewrapJs);
  Export(env, exports, "blobRewrapBatch", BlobRewrapBatchJs);
  Export(env, exports, "blobInfo", BlobInfoJs);
  exports.Set("L4_BYTES", Napi::Number::New(env, kL4Bytes));
  exports.Set("BLOB_FIXED_BYTES", Napi::Number::New(env, kBlobFixedBytes));
}

}  // namespace krypton
