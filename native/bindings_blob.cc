// N-API surface of L4 blobs. The hot calls return a status number instead
// of throwing (a throw costs microseconds); src/native turns it into an
// error. Output buffers are allocated by the caller.
#include <cstdint>
#include <vector>

#include "bindings.h"
#include "blob_ops.h"
#include "napi_util.h"
#include "secure_memory.h"

namespace krypton {

namespace {

// blobCreate(scopeId, context|null, count, out[, stride, l4At, blobAt]) -> version (> 0) or -status
Napi::Value BlobCreateJs(const Napi::CallbackInfo& info) {
  const uint32_t scope = ArgU32(info, 0);
  const Bytes context = ArgBytesOrEmpty(info, 1);
  const uint32_t count = ArgU32(info, 2);
  // Optional layout: stride, l4At, blobAt (numbers; read before out's pointer is taken).
  RecordLayout layout{};
  const bool laid_out = info.Length() > 4 && !info[4].IsUndefined();
  if (laid_out) layout = RecordLayout{ArgU32(info, 4), ArgU32(info, 5), ArgU32(info, 6)};
  const MutBytes out = ArgOut(info, 3);
  if (Overlaps(out.p, out.n, context.p, context.n)) ThrowStatus(info.Env(), kInvalidArgument);
  uint32_t version = 0;
  const Status s = BlobCreate(scope, context, count, out.p, out.n, laid_out ? &layout : nullptr, &version);
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

// The output buffers of a batch must not overlap each other, nor any
// input the batch reads while it writes (the tenant, the context, a blob).
bool OutputsDisjoint(MutBytes out, MutBytes statuses, const std::vector<Bytes>& inputs) {
  if (Overlaps(out.p, out.n, statuses.p, statuses.n)) return false;
  for (const Bytes& in : inputs) {
    if (Overlaps(out.p, out.n, in.p, in.n) || Overlaps(statuses.p, statuses.n, in.p, in.n)) return false;
  }
  return true;
}

// What every batch reads before writing anything. The array elements are
// read first (that may run JS, see napi_util.h); every data pointer after.
struct Batch {
  std::vector<Bytes> blobs;
  Bytes tenant;
  Bytes context;
  MutBytes out;
  MutBytes statuses;
};

Batch ReadBatch(const Napi::CallbackInfo& info) {
  const std::vector<Napi::Value> elements = ArgElements(info, 1, UINT32_MAX);
  // No JS runs from here until the batch returns.
  Batch b{ElementBytes(info.Env(), elements, 1), ArgBytes(info, 0), ArgBytesOrEmpty(info, 2), ArgOut(info, 3),
          ArgOut(info, 4)};
  std::vector<Bytes> inputs = b.blobs;
  inputs.push_back(b.tenant);
  inputs.push_back(b.context);
  if (b.statuses.n != b.blobs.size() || !OutputsDisjoint(b.out, b.statuses, inputs)) {
    ThrowStatus(info.Env(), kInvalidArgument);
  }
  return b;
}

// blobOpenBatch(tenant, blobs[], context|null, out(32*n), statuses(n)) -> failures
// A failed entry's 32 bytes of out are zero.
Napi::Value BlobOpenBatchJs(const Napi::CallbackInfo& info) {
  const Batch b = ReadBatch(info);
  const size_t n = b.blobs.size();
  if (b.out.n != n * kL4Bytes) ThrowStatus(info.Env(), kInvalidArgument);
  uint32_t failures = 0;
  for (size_t i = 0; i < n; ++i) {
    uint8_t* l4 = b.out.p + i * kL4Bytes;
    const Status s = BlobOpen(b.tenant, b.blobs[i], b.context, l4);
    b.statuses.p[i] = static_cast<uint8_t>(s);
    if (s != kOk) {
      SecureZero(l4, kL4Bytes);
      ++failures;
    }
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
// Each new blob takes its input's size; a failed entry's bytes are zero.
Napi::Value BlobRewrapBatchJs(const Napi::CallbackInfo& info) {
  const Batch b = ReadBatch(info);
  size_t total = 0;
  for (const Bytes& blob : b.blobs) total += blob.n;
  if (total != b.out.n) ThrowStatus(info.Env(), kInvalidArgument);  // before anything is written
  size_t offset = 0;
  uint32_t failures = 0;
  for (size_t i = 0; i < b.blobs.size(); ++i) {
    const Bytes& blob = b.blobs[i];
    uint32_t version = 0;
    const Status s = BlobRewrap(b.tenant, blob, b.context, b.out.p + offset, &version);
    b.statuses.p[i] = static_cast<uint8_t>(s);
    if (s != kOk) {
      SecureZero(b.out.p + offset, blob.n);
      ++failures;
    }
    offset += blob.n;
  }
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
