// The process-wide key store. Key bytes, AES round keys and XAES K1 live in
// the secure arena; this table holds only handles, names and states. Every
// thread (main, worker_threads, Piscina) sees the same store.
//
// Keys are named by handle, and leased L3 keys also by (tenant, service,
// version). A key bound to a scope is owned by it: revoking or evicting
// the version destroys the key.
//
// A handle is generation * 2^20 + (slot index + 1): a 32-bit generation
// per slot, compared in full, so a stale handle never names a later key of
// its slot. A slot whose generation would wrap is retired, never reused.
// Handles stay below 2^53, so JS holds them exactly as Numbers.
//
// Scopes have holders (M4): each thread's lease cache holds the scopes it
// serves, and a scope's keys go only when the last holder releases it (or
// on a forced Evict). A scope nobody ever held (made by Bind or by a
// revocation tombstone) goes on the first release or evict, as before.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aes_block.h"
#include "blob.h"
#include "status.h"

namespace krypton {

// A key handle: below 2^52, so exact as a JS Number. 0 names no key.
using KeyHandle = uint64_t;
// A scope holder id (ScopeHolder): process-unique, never 0, below 2^53.
using HolderId = uint64_t;

constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;

constexpr size_t kMinKeyBytes = 16;
constexpr size_t kMaxKeyBytes = 64;

// Lives in the arena. Only 32-byte keys have an AES-256 schedule (rk, k1).
struct KeyMaterial {
  uint8_t key[kMaxKeyBytes];
  alignas(16) uint8_t rk[kAes256RoundKeyBytes];
  uint8_t k1[16];
  uint64_t serial;  // unique for the life of the process, never 0
  uint32_t len;
};

struct ScopeVersion {
  uint32_t version;
  KeyState state;
  KeyHandle handle;  // 0 once revoked (the key is destroyed)
};

struct Scope {
  std::string tenant;
  std::string service;
  std::vector<ScopeVersion> versions;  // ascending by version
  std::vector<HolderId> holders;       // distinct; a handful (one per thread)
  uint32_t id = 0;

  const ScopeVersion* Find(uint32_t version) const;
  const ScopeVersion* Active() const;
};

struct StoreStats {
  size_t keys;
  size_t scopes;
};

class KeyStore {
 public:
  static KeyStore& Instance();

  // Shared lock for crypto on stored keys; check ok() first: a forked child
  // (whose arena was wiped) gets no key.
  class Reader {
   public:
    explicit Reader(const KeyStore& s);
    bool ok() const { return ok_; }
    const KeyMaterial* Key(KeyHandle handle) const { return store_.KeyLocked(handle); }
    const Scope* ScopeById(uint32_t id) const { return store_.ScopeByIdLocked(id); }
    const Scope* ScopeByName(std::string_view tenant, std::string_view service) const {
      return store_.ScopeByNameLocked(tenant, service);
    }

   private:
    const KeyStore& store_;
    std::shared_lock<std::shared_mutex> lock_;
    bool ok_;
  };

  Status Generate(size_t len, KeyHandle* handle);
  Status Import(const uint8_t* key, size_t len, KeyHandle* handle);
  // Fills a fresh key from fill(key, len) inside the arena (unwrap, HPKE
  // open, Shamir combine): plaintext never passes through ordinary memory.
  template <typename Fill>
  Status ImportWith(size_t len, Fill fill, KeyHandle* handle);
  Status Destroy(KeyHandle handle);
  void ZeroizeAll();
  StoreStats Stats() const;

  // Scopes. Binding moves ownership of handle into the scope; binding an
  // ACTIVE version demotes any other ACTIVE version to DECRYPT_ONLY. A
  // version's state only moves forward (ACTIVE -> DECRYPT_ONLY -> REVOKED):
  // ACTIVE for a version the scope holds as DECRYPT_ONLY, or below any
  // version the scope knows (tombstones included), binds DECRYPT_ONLY, so a
  // stale lease never demotes the current ACTIVE version; *bound_state (if
  // given) says which state was bound. A revoked version is kKeyRevoked.
  Status Bind(std::string_view tenant, std::string_view service, uint32_t version, KeyState state, KeyHandle handle,
              uint32_t* scope_id, KeyState* bound_state = nullptr);
  // REVOKED destroys the key and stays; ACTIVE is refused (kInvalidArgument)
  // for a version that is not ACTIVE already: states never move back.
  Status SetState(std::string_view tenant, std::string_view service, uint32_t version, KeyState state);
  // Forgets a DECRYPT_ONLY version without a tombstone (an old version
  // leaving the hot set): its key is destroyed and a later lease may bind it
  // again. kKeyUnavailable when not held, kKeyRevoked for a tombstone (kept),
  // kInvalidArgument for the ACTIVE version.
  Status Retire(std::string_view tenant, std::string_view service, uint32_t version);
  // Forced: destroys the scope and its keys whoever holds it (the Core's
  // own scopes, deletes and purges).
  Status Evict(std::string_view tenant, std::string_view service);

  // Holders. NewHolder issues a fresh id (kInternal once 2^53 - 1 ids were
  // issued). Hold creates the scope if absent (no versions) and adds the
  // holder; holder must be an issued id. Release removes the holder and,
  // when none remains (or the scope never had one), destroys the scope's
  // keys and forgets it, tombstones included: *destroyed tells which.
  Status NewHolder(HolderId* holder);
  Status Hold(std::string_view tenant, std::string_view service, HolderId holder, uint32_t* scope_id);
  Status Release(std::string_view tenant, std::string_view service, HolderId holder, bool* destroyed);
  size_t Holders(std::string_view tenant, std::string_view service) const;

  Status Lookup(std::string_view tenant, std::string_view service, uint32_t* scope_id) const;
  Status List(std::string_view tenant, std::string_view service, std::vector<ScopeVersion>* out) const;

  // Bumped whenever a key is destroyed: threads drop their keyed contexts.
  uint64_t Generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  KeyStore() = default;

  struct Slot {
    KeyMaterial* km = nullptr;
    uint32_t gen = 0;  // of the key in the slot, or of the next one
    bool bound = false;
  };

  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  static std::string ScopeKey(std::string_view tenant, std::string_view service);
  const KeyMaterial* KeyLocked(KeyHandle handle) const;
  Slot& SlotOf(KeyHandle handle) { return slots_[SlotIndex(handle)]; }
  static uint32_t SlotIndex(KeyHandle handle);
  const Scope* ScopeByIdLocked(uint32_t id) const;
  const Scope* ScopeByNameLocked(std::string_view tenant, std::string_view service) const;
  Scope* MutableScopeLocked(std::string_view tenant, std::string_view service);
  Scope* ScopeForWriteLocked(std::string_view tenant, std::string_view service);
  Status NewSlotLocked(KeyMaterial* km, KeyHandle* handle);
  KeyMaterial* NewMaterial(size_t len);
  void FreeMaterial(KeyMaterial* km);
  void FreeSlotLocked(uint32_t index);
  void DestroyLocked(KeyHandle handle);
  void DropScopeLocked(Scope* sc);
  bool Usable() const;

  mutable std::shared_mutex mu_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<Scope*> scopes_;  // by id - 1; nullptr once evicted
  std::unordered_map<std::string, uint32_t, NameHash, std::equal_to<>> scope_index_;
  size_t live_keys_ = 0;
  std::atomic<uint64_t> next_serial_{1};
  std::atomic<uint64_t> next_holder_{1};
  std::atomic<uint64_t> generation_{1};
};

// Derives the AES-256 schedule and XAES K1 of a 32-byte key in place.
void PrepareKeyMaterial(KeyMaterial* km);

template <typename Fill>
Status KeyStore::ImportWith(size_t len, Fill fill, KeyHandle* handle) {
  if (len < kMinKeyBytes || len > kMaxKeyBytes) return kInvalidArgument;
  KeyMaterial* km = NewMaterial(len);
  if (km == nullptr) return kArenaExhausted;
  Status s = fill(km->key, len);
  if (s != kOk) {
    FreeMaterial(km);
    return s;
  }
  PrepareKeyMaterial(km);
  std::unique_lock<std::shared_mutex> lock(mu_);
  s = NewSlotLocked(km, handle);
  if (s != kOk) FreeMaterial(km);
  return s;
}

}  // namespace krypton
