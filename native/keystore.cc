#include "keystore.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "random_pool.h"
#include "secure_memory.h"

namespace krypton {

namespace {

constexpr uint32_t kIndexBits = 20;
constexpr uint32_t kIndexMask = (1u << kIndexBits) - 1;
constexpr uint32_t kLastGen = UINT32_MAX;  // a slot that reaches it is retired when freed

// generation * 2^20 + (index + 1): at most (2^32 - 1) * 2^20 + 2^20 - 1 = 2^52 - 1.
KeyHandle MakeHandle(uint32_t index, uint32_t gen) {
  return (static_cast<uint64_t>(gen) << kIndexBits) | (static_cast<uint64_t>(index) + 1);
}

static_assert((static_cast<uint64_t>(kLastGen) << kIndexBits | kIndexMask) <= kMaxSafeInteger,
              "every handle must be exact as a JS Number");

}  // namespace

const ScopeVersion* Scope::Find(uint32_t version) const {
  auto it = std::lower_bound(versions.begin(), versions.end(), version,
                             [](const ScopeVersion& v, uint32_t x) { return v.version < x; });
  if (it == versions.end() || it->version != version) return nullptr;
  return &*it;
}

const ScopeVersion* Scope::Active() const {
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->state == KeyState::kActive) return &*it;
  }
  return nullptr;
}

void PrepareKeyMaterial(KeyMaterial* km) {
  if (km->len != 32) return;
  Aes256Expand(km->key, km->rk);
  // XAES-256-GCM (C2SP): L = AES-256_K(0^128); K1 = L << 1, xor 0x87 into
  // the last byte when the top bit of L was set (constant time).
  uint8_t zero[16] = {0};
  uint8_t l[16];
  Aes256Encrypt1(km->rk, zero, l);
  const uint8_t msb_mask = static_cast<uint8_t>(0 - (l[0] >> 7));
  for (int i = 0; i < 15; ++i) km->k1[i] = static_cast<uint8_t>((l[i] << 1) | (l[i + 1] >> 7));
  km->k1[15] = static_cast<uint8_t>((l[15] << 1) ^ (0x87 & msb_mask));
  SecureZero(l, sizeof(l));
}

KeyStore& KeyStore::Instance() {
  static KeyStore store;
  return store;
}

KeyStore::Reader::Reader(const KeyStore& s) : store_(s), lock_(s.mu_), ok_(s.Usable()) {}

bool KeyStore::Usable() const {
  return !SecureArena::Instance().Forked();
}

std::string KeyStore::ScopeKey(std::string_view tenant, std::string_view service) {
  std::string k;
  k.reserve(tenant.size() + 1 + service.size());
  k.append(tenant).push_back('\0');  // '\0' is outside the id alphabet
  k.append(service);
  return k;
}

KeyMaterial* KeyStore::NewMaterial(size_t len) {
  auto* km = static_cast<KeyMaterial*>(SecureArena::Instance().Allocate(sizeof(KeyMaterial)));
  if (km == nullptr) return nullptr;
  km->len = static_cast<uint32_t>(len);
  km->serial = next_serial_.fetch_add(1, std::memory_order_relaxed);
  return km;
}

void KeyStore::FreeMaterial(KeyMaterial* km) {
  SecureArena::Instance().Release(km, sizeof(KeyMaterial));
}

Status KeyStore::NewSlotLocked(KeyMaterial* km, KeyHandle* handle) {
  if (!Usable()) return kKeyUnavailable;
  uint32_t index;
  if (!free_slots_.empty()) {
    index = free_slots_.back();
    free_slots_.pop_back();
  } else {
    if (slots_.size() >= kIndexMask) return kArenaExhausted;
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[index];
  s.km = km;
  s.bound = false;
  ++live_keys_;
  *handle = MakeHandle(index, s.gen);
  return kOk;
}

uint32_t KeyStore::SlotIndex(KeyHandle handle) {
  return static_cast<uint32_t>(handle & kIndexMask) - 1;
}

const KeyMaterial* KeyStore::KeyLocked(KeyHandle handle) const {
  const uint64_t low = handle & kIndexMask;
  if (low == 0 || low > slots_.size()) return nullptr;
  const Slot& s = slots_[low - 1];
  // The whole generation, as a 64-bit value: a handle whose upper bits do
  // not equal the slot's 32-bit generation exactly names no key.
  if (s.km == nullptr || static_cast<uint64_t>(s.gen) != (handle >> kIndexBits)) return nullptr;
  return s.km;
}

Status KeyStore::Generate(size_t len, KeyHandle* handle) {
  return ImportWith(
      len, [](uint8_t* key, size_t n) { return RandomBytes(key, n) ? kOk : kInternal; }, handle);
}

Status KeyStore::Import(const uint8_t* key, size_t len, KeyHandle* handle) {
  return ImportWith(
      len,
      [key](uint8_t* dst, size_t n) {
        std::memcpy(dst, key, n);
        return kOk;
      },
      handle);
}

// Frees the key in slot index (zeroized by the arena) and moves the slot to
// its next generation. A slot at the last generation is retired instead:
// it stays empty for good, so no handle value is ever issued twice.
void KeyStore::FreeSlotLocked(uint32_t index) {
  Slot& s = slots_[index];
  FreeMaterial(s.km);
  s.km = nullptr;
  s.bound = false;
  if (s.gen == kLastGen) return;
  ++s.gen;
  free_slots_.push_back(index);
}

void KeyStore::DestroyLocked(KeyHandle handle) {
  FreeSlotLocked(SlotIndex(handle));
  --live_keys_;
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

Status KeyStore::Destroy(KeyHandle handle) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (KeyLocked(handle) == nullptr) return kKeyUnavailable;
  if (SlotOf(handle).bound) return kInvalidArgument;
  DestroyLocked(handle);
  return kOk;
}

void KeyStore::ZeroizeAll() {
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].km != nullptr) FreeSlotLocked(static_cast<uint32_t>(i));
  }
  live_keys_ = 0;
  for (Scope*& sc : scopes_) {
    delete sc;
    sc = nullptr;
  }
  scope_index_.clear();
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

StoreStats KeyStore::Stats() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return StoreStats{live_keys_, scope_index_.size()};
}

const Scope* KeyStore::ScopeByIdLocked(uint32_t id) const {
  if (id == 0 || id > scopes_.size()) return nullptr;
  return scopes_[id - 1];
}

const Scope* KeyStore::ScopeByNameLocked(std::string_view tenant, std::string_view service) const {
  char buf[2 * kIdMaxBytes + 1];
  if (tenant.size() > kIdMaxBytes || service.size() > kIdMaxBytes) return nullptr;
  std::memcpy(buf, tenant.data(), tenant.size());
  buf[tenant.size()] = '\0';
  std::memcpy(buf + tenant.size() + 1, service.data(), service.size());
  auto it = scope_index_.find(std::string_view(buf, tenant.size() + 1 + service.size()));
  if (it == scope_index_.end()) return nullptr;
  return ScopeByIdLocked(it->second);
}

Scope* KeyStore::MutableScopeLocked(std::string_view tenant, std::string_view service) {
  return const_cast<Scope*>(ScopeByNameLocked(tenant, service));
}

Status KeyStore::Bind(std::string_view tenant, std::string_view service, uint32_t version, KeyState state,
                      KeyHandle handle, uint32_t* scope_id, KeyState* bound_state) {
  if (!ValidId(reinterpret_cast<const uint8_t*>(tenant.data()), tenant.size()) ||
      !ValidId(reinterpret_cast<const uint8_t*>(service.data()), service.size()) || version == 0 ||
      state == KeyState::kRevoked) {
    return kInvalidArgument;
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (!Usable()) return kKeyUnavailable;
  const KeyMaterial* km = KeyLocked(handle);
  if (km == nullptr) return kKeyUnavailable;
  Slot& slot = SlotOf(handle);
  if (slot.bound || km->len != 32) return kInvalidArgument;

  Scope* sc = ScopeForWriteLocked(tenant, service);
  auto it = std::lower_bound(sc->versions.begin(), sc->versions.end(), version,
                             [](const ScopeVersion& v, uint32_t x) { return v.version < x; });
  const bool known = it != sc->versions.end() && it->version == version;
  // A revoked version stays revoked: a stale lease cannot resurrect it.
  if (known && it->state == KeyState::kRevoked) return kKeyRevoked;
  // States only move forward (ACTIVE -> DECRYPT_ONLY -> REVOKED). ACTIVE for
  // a version already DECRYPT_ONLY here, or below a version known here
  // (bound or a tombstone), is stale: the version binds DECRYPT_ONLY and the
  // current ACTIVE one stays.
  if (state == KeyState::kActive && ((known && it->state == KeyState::kDecryptOnly) ||
                                     (!sc->versions.empty() && sc->versions.back().version > version))) {
    state = KeyState::kDecryptOnly;
  }
  if (known) {
    if (it->handle != 0) DestroyLocked(it->handle);
    it->handle = handle;
    it->state = state;
  } else {
    it = sc->versions.insert(it, ScopeVersion{version, state, handle});
  }
  slot.bound = true;
  if (state == KeyState::kActive) {
    for (ScopeVersion& v : sc->versions) {
      if (v.version != version && v.state == KeyState::kActive) v.state = KeyState::kDecryptOnly;
    }
  }
  *scope_id = sc->id;
  if (bound_state != nullptr) *bound_state = state;
  return kOk;
}

Status KeyStore::Retire(std::string_view tenant, std::string_view service, uint32_t version) {
  if (!ValidId(reinterpret_cast<const uint8_t*>(tenant.data()), tenant.size()) ||
      !ValidId(reinterpret_cast<const uint8_t*>(service.data()), service.size()) || version == 0) {
    return kInvalidArgument;
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  Scope* sc = MutableScopeLocked(tenant, service);
  if (sc == nullptr) return kKeyUnavailable;
  auto it = std::lower_bound(sc->versions.begin(), sc->versions.end(), version,
                             [](const ScopeVersion& v, uint32_t x) { return v.version < x; });
  if (it == sc->versions.end() || it->version != version) return kKeyUnavailable;
  if (it->state == KeyState::kRevoked) return kKeyRevoked;  // the tombstone stays
  if (it->state == KeyState::kActive) return kInvalidArgument;
  if (it->handle != 0) DestroyLocked(it->handle);
  sc->versions.erase(it);
  return kOk;
}

Scope* KeyStore::ScopeForWriteLocked(std::string_view tenant, std::string_view service) {
  Scope* sc = MutableScopeLocked(tenant, service);
  if (sc != nullptr) return sc;
  sc = new Scope();
  sc->tenant.assign(tenant);
  sc->service.assign(service);
  scopes_.push_back(sc);
  sc->id = static_cast<uint32_t>(scopes_.size());
  scope_index_.emplace(ScopeKey(tenant, service), sc->id);
  return sc;
}

Status KeyStore::SetState(std::string_view tenant, std::string_view service, uint32_t version, KeyState state) {
  if (!ValidId(reinterpret_cast<const uint8_t*>(tenant.data()), tenant.size()) ||
      !ValidId(reinterpret_cast<const uint8_t*>(service.data()), service.size()) || version == 0) {
    return kInvalidArgument;
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  Scope* sc = MutableScopeLocked(tenant, service);
  if (sc == nullptr) {
    if (state != KeyState::kRevoked) return kKeyUnavailable;
    // A revocation for a scope not held yet is remembered, so no lease
    // fetched afterwards can bring the version back.
    sc = ScopeForWriteLocked(tenant, service);
  }
  auto* v = const_cast<ScopeVersion*>(sc->Find(version));
  if (v == nullptr) {
    if (state != KeyState::kRevoked) return kKeyUnavailable;
    // Remember a revocation that arrives before (or without) the key, so a
    // lease fetched later cannot bring it back.
    auto it = std::lower_bound(sc->versions.begin(), sc->versions.end(), version,
                               [](const ScopeVersion& x, uint32_t y) { return x.version < y; });
    sc->versions.insert(it, ScopeVersion{version, KeyState::kRevoked, 0});
    return kOk;
  }
  if (v->state == KeyState::kRevoked) return state == KeyState::kRevoked ? kOk : kKeyRevoked;
  // Forward only: nothing is ever promoted back to ACTIVE.
  if (state == KeyState::kActive && v->state != KeyState::kActive) return kInvalidArgument;
  if (state == KeyState::kRevoked) {
    // Revocation is global: the key goes at once, whoever holds the scope.
    if (v->handle != 0) DestroyLocked(v->handle);
    v->handle = 0;
    v->state = KeyState::kRevoked;
    return kOk;
  }
  v->state = state;
  if (state == KeyState::kActive) {
    for (ScopeVersion& o : sc->versions) {
      if (o.version != version && o.state == KeyState::kActive) o.state = KeyState::kDecryptOnly;
    }
  }
  return kOk;
}

// Destroys every key of sc (zeroized by the arena) and forgets the scope,
// its tombstones and holders included. sc is deleted.
void KeyStore::DropScopeLocked(Scope* sc) {
  for (ScopeVersion& v : sc->versions) {
    if (v.handle != 0) DestroyLocked(v.handle);
  }
  scopes_[sc->id - 1] = nullptr;
  scope_index_.erase(ScopeKey(sc->tenant, sc->service));
  delete sc;
}

Status KeyStore::Evict(std::string_view tenant, std::string_view service) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  Scope* sc = MutableScopeLocked(tenant, service);
  if (sc == nullptr) return kKeyUnavailable;
  DropScopeLocked(sc);
  return kOk;
}

Status KeyStore::NewHolder(HolderId* holder) {
  const uint64_t id = next_holder_.fetch_add(1, std::memory_order_relaxed);
  if (id == 0 || id > kMaxSafeInteger) return kInternal;  // 2^53 ids: never in practice
  *holder = id;
  return kOk;
}

Status KeyStore::Hold(std::string_view tenant, std::string_view service, HolderId holder, uint32_t* scope_id) {
  if (!ValidId(reinterpret_cast<const uint8_t*>(tenant.data()), tenant.size()) ||
      !ValidId(reinterpret_cast<const uint8_t*>(service.data()), service.size()) || holder == 0 ||
      holder >= next_holder_.load(std::memory_order_relaxed)) {
    return kInvalidArgument;  // only issued ids: a made-up id cannot pin a scope
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (!Usable()) return kKeyUnavailable;
  Scope* sc = ScopeForWriteLocked(tenant, service);
  if (std::find(sc->holders.begin(), sc->holders.end(), holder) == sc->holders.end()) sc->holders.push_back(holder);
  *scope_id = sc->id;
  return kOk;
}

Status KeyStore::Release(std::string_view tenant, std::string_view service, HolderId holder, bool* destroyed) {
  *destroyed = false;
  if (!ValidId(reinterpret_cast<const uint8_t*>(tenant.data()), tenant.size()) ||
      !ValidId(reinterpret_cast<const uint8_t*>(service.data()), service.size()) || holder == 0) {
    return kInvalidArgument;
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  Scope* sc = MutableScopeLocked(tenant, service);
  if (sc == nullptr) return kKeyUnavailable;
  if (!sc->holders.empty()) {
    auto it = std::find(sc->holders.begin(), sc->holders.end(), holder);
    // Another holder's release (or a stale one after a forced evict and a
    // re-hold) leaves the scope alone.
    if (it == sc->holders.end()) return kOk;
    sc->holders.erase(it);
    if (!sc->holders.empty()) return kOk;
  }
  DropScopeLocked(sc);
  *destroyed = true;
  return kOk;
}

size_t KeyStore::Holders(std::string_view tenant, std::string_view service) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  const Scope* sc = ScopeByNameLocked(tenant, service);
  return sc == nullptr ? 0 : sc->holders.size();
}

Status KeyStore::Lookup(std::string_view tenant, std::string_view service, uint32_t* scope_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  const Scope* sc = ScopeByNameLocked(tenant, service);
  if (sc == nullptr) return kKeyUnavailable;
  *scope_id = sc->id;
  return kOk;
}

Status KeyStore::List(std::string_view tenant, std::string_view service, std::vector<ScopeVersion>* out) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  const Scope* sc = ScopeByNameLocked(tenant, service);
  if (sc == nullptr) return kKeyUnavailable;
  *out = sc->versions;
  return kOk;
}

}  // namespace krypton
