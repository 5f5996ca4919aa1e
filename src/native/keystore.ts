/**
 * The process-wide key store: keys live in the addon's locked arena and JS
 * holds only numeric handles. Leased L3 keys are also named by
 * (tenant, service, version); a key bound to a scope belongs to it.
 */
import { errors, fromNative } from '../errors.js';
import { view } from './addon.js';
import { idBytes, isValidId } from './ids.js';

/**
 * A key handle: an integer below 2^52 (a 32-bit generation per slot times
 * 2^20, plus the slot). It never repeats in a process, so a stale handle
 * never names a later key: it gets KEY_UNAVAILABLE.
 */
export type KeyHandle = number;

/** The states of a stored version, and their numbers (native/status.h): the one home of both. */
export const KeyState = { ACTIVE: 1, DECRYPT_ONLY: 2, REVOKED: 3 } as const;
export type KeyStateName = keyof typeof KeyState;
export type KeyStateValue = (typeof KeyState)[KeyStateName];
/** The states of a version that holds a key: the ones a lease carries and a scope binds (REVOKED holds none). */
export type VersionState = Exclude<KeyStateName, 'REVOKED'>;

export function isVersionState(v: unknown): v is VersionState {
  return v === 'ACTIVE' || v === 'DECRYPT_ONLY';
}

export function keyStateName(value: number): KeyStateName {
  const name = (Object.keys(KeyState) as KeyStateName[]).find((k) => KeyState[k] === value);
  if (name === undefined) throw errors.internal(`unknown key state ${value}`);
  return name;
}

export interface ArenaInfo {
  /** Address of the first usable byte (after the leading guard page). */
  base: bigint;
  size: number;
  guardBytes: number;
  used: number;
  locked: boolean;
  dontDump: boolean;
  wipeOnFork: boolean;
}

export interface ScopeVersionInfo {
  version: number;
  state: KeyStateName;
  /** Handle of the version's key; 0 once revoked. */
  handle: KeyHandle;
}

interface KeystoreNative {
  arenaInfo(): ArenaInfo;
  capabilities(): { aesNi: boolean; softwareAes: boolean };
  keyGenerate(length: number): number;
  keyImport(key: Uint8Array): number;
  keyDestroy(handle: number): void;
  keyLength(handle: number): number;
  zeroizeAll(): void;
  storeStats(): { keys: number; scopes: number };
  scopeBind(tenant: Buffer, service: Buffer, version: number, state: number, handle: number): number;
  scopeSetState(tenant: Buffer, service: Buffer, version: number, state: number): void;
  scopeEvict(tenant: Buffer, service: Buffer): boolean;
  scopeRetire(tenant: Buffer, service: Buffer, version: number): boolean;
  scopeHolder(): number;
  scopeHold(tenant: Buffer, service: Buffer, holder: number): number;
  scopeRelease(tenant: Buffer, service: Buffer, holder: number): number;
  scopeHolders(tenant: Buffer, service: Buffer): number;
  scopeLookup(tenant: Buffer, service: Buffer): number;
  scopeList(tenant: Buffer, service: Buffer): { version: number; state: number; handle: number }[];
  keyWrap(wrapping: number, target: number, aad: Uint8Array | null, out: Buffer): void;
  keyUnwrap(wrapping: number, wrapped: Uint8Array, aad: Uint8Array | null): number;
  xaesSeal(handle: number, aad: Uint8Array | null, plaintext: Uint8Array, out: Buffer): void;
  xaesOpen(handle: number, aad: Uint8Array | null, sealed: Uint8Array, out: Buffer): void;
  sweepCryptoContexts(): number;
  wipeCryptoContexts(): number;
  WRAP_OVERHEAD: number;
  XAES_OVERHEAD: number;
}

const native = view<KeystoreNative>();

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

function checkVersion(version: number): void {
  if (!Number.isInteger(version) || version < 1 || version > 0xffffffff) {
    throw errors.badRequest('version must be an integer from 1 to 4294967295');
  }
}

export const arenaInfo = (): ArenaInfo => native.arenaInfo();
export const capabilities = (): { aesNi: boolean; softwareAes: boolean } => native.capabilities();
export const storeStats = (): { keys: number; scopes: number } => native.storeStats();

/** A fresh random key of `length` bytes (16..64) in the arena. */
export function generateKey(length = 32): KeyHandle {
  return call(() => native.keyGenerate(length));
}

/** Copies key bytes into the arena. The caller should wipe its copy (`fill(0)`). */
export function importKey(key: Uint8Array): KeyHandle {
  return call(() => native.keyImport(key));
}

export function destroyKey(handle: KeyHandle): void {
  call(() => native.keyDestroy(handle));
}

export function keyLength(handle: KeyHandle): number {
  return call(() => native.keyLength(handle));
}

/** Zeroizes every key and scope of the process (seal, SIGTERM). */
export function zeroizeAll(): void {
  native.zeroizeAll();
}

export const scopes = {
  /**
   * Binds a key to (tenant, service, version); returns the scope id. An
   * ACTIVE binding demotes the previous ACTIVE. States only move forward
   * (ACTIVE, DECRYPT_ONLY, REVOKED): ACTIVE for a version the scope holds as
   * DECRYPT_ONLY, or below any version it knows (tombstones included), binds
   * DECRYPT_ONLY, so a stale lease never demotes the current ACTIVE version.
   */
  bind(tenant: string, service: string, version: number, state: VersionState, handle: KeyHandle): number {
    checkVersion(version);
    return call(() => native.scopeBind(idBytes(tenant), idBytes(service), version, KeyState[state], handle));
  },
  /**
   * Changes a version's state; REVOKED destroys its key at once and stays
   * revoked. Forward only: ACTIVE for a version that is not ACTIVE is BAD_REQUEST.
   */
  setState(tenant: string, service: string, version: number, state: KeyStateName): void {
    checkVersion(version);
    call(() => native.scopeSetState(idBytes(tenant), idBytes(service), version, KeyState[state]));
  },
  /**
   * Forgets an old DECRYPT_ONLY version without revoking it (it left the
   * hot set): its key is destroyed at once and a later lease may bind it
   * again. False when the version is not held, or is revoked (the
   * revocation stays); the ACTIVE version cannot be retired (BAD_REQUEST).
   */
  retire(tenant: string, service: string, version: number): boolean {
    checkVersion(version);
    return call(() => native.scopeRetire(idBytes(tenant), idBytes(service), version));
  },
  /**
   * Forced: destroys every key of the scope whoever holds it; false if
   * there was none. Holders release with {@link scopes.release} instead.
   */
  evict(tenant: string, service: string): boolean {
    return call(() => native.scopeEvict(idBytes(tenant), idBytes(service)));
  },
  /**
   * A fresh holder id, unique in the process (never 0). Each user of the
   * shared store that leases scopes independently (one lease cache per
   * Gateway thread) takes one and holds the scopes it serves.
   */
  newHolder(): number {
    return call(() => native.scopeHolder());
  },
  /**
   * Adds `holder` to the scope, creating it (empty) if absent; returns the
   * scope id. Idempotent. Keys bound to a held scope stay until its last
   * holder releases it, a forced evict, or their revocation.
   */
  hold(tenant: string, service: string, holder: number): number {
    return call(() => native.scopeHold(idBytes(tenant, 'tenant'), idBytes(service, 'service'), holder));
  },
  /**
   * Removes `holder`; when no holder remains, destroys the scope's keys and
   * forgets it (tombstones included) and returns true. A scope nobody held
   * goes on any release. Never throws, whatever the arguments (invalid ids
   * or holder: false): cleanup loops call it and must not stop halfway.
   */
  release(tenant: string, service: string, holder: number): boolean {
    try {
      if (!isValidId(tenant) || !isValidId(service)) return false;
      return native.scopeRelease(idBytes(tenant), idBytes(service), holder) === 1;
    } catch {
      return false;
    }
  },
  /** How many holders the scope has (0 when there is no scope). */
  holders(tenant: string, service: string): number {
    return call(() => native.scopeHolders(idBytes(tenant, 'tenant'), idBytes(service, 'service')));
  },
  /** The scope id, or 0 when nothing is leased for it. */
  lookup(tenant: string, service: string): number {
    return native.scopeLookup(idBytes(tenant), idBytes(service));
  },
  list(tenant: string, service: string): ScopeVersionInfo[] {
    return native
      .scopeList(idBytes(tenant), idBytes(service))
      .map((v) => ({ version: v.version, state: keyStateName(v.state), handle: v.handle }));
  },
};

/** Wraps `target` under `wrapping` (XAES-256-GCM); `aad` names what the key is. */
export function wrapKey(wrapping: KeyHandle, target: KeyHandle, aad?: Uint8Array): Buffer {
  const out = Buffer.alloc(native.WRAP_OVERHEAD + keyLength(target));
  call(() => native.keyWrap(wrapping, target, aad ?? null, out));
  return out;
}

/** Unwraps straight into the store; the key never reaches JS. */
export function unwrapKey(wrapping: KeyHandle, wrapped: Uint8Array, aad?: Uint8Array): KeyHandle {
  return call(() => native.keyUnwrap(wrapping, wrapped, aad ?? null));
}

/** XAES-256-GCM under a stored key: nonce (24) || ciphertext || tag (16). */
export function sealWithKey(handle: KeyHandle, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  const out = Buffer.alloc(plaintext.length + native.XAES_OVERHEAD);
  call(() => native.xaesSeal(handle, aad ?? null, plaintext, out));
  return out;
}

export function openWithKey(handle: KeyHandle, sealed: Uint8Array, aad?: Uint8Array): Buffer {
  if (sealed.length < native.XAES_OVERHEAD) throw errors.invalidBlob();
  const out = Buffer.alloc(sealed.length - native.XAES_OVERHEAD);
  call(() => native.xaesOpen(handle, aad ?? null, sealed, out));
  return out;
}

/**
 * Wipes this thread's keyed GCM contexts whose nonce epoch (1 s) has ended,
 * so an idle thread keeps no subkey. Returns how many were wiped.
 */
export function sweepCryptoContexts(): number {
  return native.sweepCryptoContexts();
}

/**
 * Wipes every keyed GCM context of this thread, whatever its epoch, so the
 * thread keeps no XAES subkey in OpenSSL's heap (which is neither locked
 * nor kept out of core dumps). For threads that go idle after a task (the
 * Piscina bulk task ends with it). Returns how many held a key.
 */
export function wipeCryptoContexts(): number {
  return native.wipeCryptoContexts();
}

/** Sweeps this thread's contexts every second; the timer does not keep the process alive. */
export function startContextSweeper(intervalMs = 1000): { stop(): void } {
  const timer = setInterval(() => native.sweepCryptoContexts(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
