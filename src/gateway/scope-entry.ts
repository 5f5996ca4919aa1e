/**
 * One leased scope as the Gateway knows it: metadata in JS, keys only in
 * the native store. Binding a lease and zeroizing a scope happen here, so
 * the rules that keep a revoked or expired key from being used sit in one
 * place.
 */
import { KryptonError, errors, fromNative } from '../errors.js';
import { openLease, scopeRef, scopes, type HpkeRecipient, type ScopeRef } from '../native/index.js';
import type { LeaseReply } from './core-client.js';

export type VersionState = 'ACTIVE' | 'DECRYPT_ONLY';

export interface ScopeEntry {
  readonly tenant: string;
  readonly service: string;
  /** This cache's holder id on the native scope: another thread's cache holds its own, so one eviction never destroys keys another serves. */
  readonly holder: number;
  /** Usable now; the same object for as long as the native scope lives, so the hot path allocates nothing. */
  ref: ScopeRef | null;
  versions: Map<number, VersionState>;
  /** Versions known revoked (events or leases); a later stale lease must not bring them back. */
  revoked: Set<number>;
  /** Highest version the last lease named: every non-revoked version up to it was in that lease. */
  maxVersion: number;
  ttlSeconds: number;
  fetchedAt: number;
  expiresAt: number;
  /** The Core's event epoch when it issued the lease we hold. */
  epoch: number;
  /** A rotation at this epoch was announced: a lease older than it must be fetched again. */
  wantEpoch: number;
  inflight: Promise<ScopeRef> | null;
  /** The last failed fetch, served to callers for a short while so a flood of misses is not a flood of Core calls. */
  failure: KryptonError | null;
  failedAt: number;
  refreshTimer: NodeJS.Timeout | null;
  expiryTimer: NodeJS.Timeout | null;
}

export function newEntry(tenant: string, service: string, holder: number): ScopeEntry {
  return {
    tenant,
    service,
    holder,
    ref: null,
    versions: new Map(),
    revoked: new Set(),
    maxVersion: 0,
    ttlSeconds: 0,
    fetchedAt: 0,
    expiresAt: 0,
    epoch: 0,
    wantEpoch: 0,
    inflight: null,
    failure: null,
    failedAt: 0,
    refreshTimer: null,
    expiryTimer: null,
  };
}

/**
 * Opens every version of a lease into the native store and records the
 * metadata. ACTIVE goes last so the scope is never left without one while
 * older versions are rebound. Versions we held that the lease leaves out
 * were revoked at the Core (it leases every non-revoked version), so they
 * are destroyed here even if their event never reached us.
 */
export function bindLease(recipient: HpkeRecipient, e: ScopeEntry, lease: LeaseReply, maxTtlSeconds: number, now: number): void {
  // Held before anything is bound, so another thread's release cannot destroy what this lease binds.
  scopes.hold(e.tenant, e.service, e.holder);
  const ttlSeconds = Math.min(lease.ttlSeconds, maxTtlSeconds);
  let expiresAt = now + ttlSeconds * 1000;
  const ordered = [...lease.versions].sort((a, b) => (a.state === b.state ? a.version - b.version : a.state === 'ACTIVE' ? 1 : -1));
  const versions = new Map<number, VersionState>();
  let maxVersion = 0;
  for (const v of ordered) {
    maxVersion = Math.max(maxVersion, v.version);
    if (e.revoked.has(v.version)) continue;
    try {
      // The version, state and expiry that count are the ones the Core sealed, not the envelope's.
      const opened = openLease(recipient, { tenant: e.tenant, service: e.service, enc: v.enc, sealed: v.sealed });
      versions.set(opened.version, opened.state);
      maxVersion = Math.max(maxVersion, opened.version);
      expiresAt = Math.min(expiresAt, opened.expiresAt);
    } catch (err) {
      const k = fromNative(err);
      // Revoked here after the Core issued this lease (the event overtook the reply).
      if (k.code === 'KEY_REVOKED') {
        e.revoked.add(v.version);
        continue;
      }
      throw k;
    }
  }
  for (const old of e.versions.keys()) {
    if (!versions.has(old)) revokeVersion(e, old);
  }
  e.versions = versions;
  e.maxVersion = Math.max(e.maxVersion, maxVersion);
  e.ttlSeconds = ttlSeconds;
  e.fetchedAt = now;
  e.expiresAt = expiresAt;
  e.epoch = lease.epoch;
  if (expiresAt <= now) {
    // The Core's clock says this lease is already over: holding it would be serving past expiry.
    evictEntry(e);
    throw errors.keyUnavailable('the lease expired on arrival (clock skew between Gateway and Core?)');
  }
  const ref = scopeRef(e.tenant, e.service);
  if (ref === null || versions.size === 0) {
    evictEntry(e);
    throw errors.keyUnavailable('the lease held no usable version');
  }
  if (e.ref === null || e.ref.id !== ref.id) e.ref = ref;
}

/** Destroys one version's key at once; the store remembers it as revoked. */
export function revokeVersion(e: ScopeEntry, version: number): void {
  e.revoked.add(version);
  e.versions.delete(version);
  scopes.setState(e.tenant, e.service, version, 'REVOKED');
}

/**
 * True when the scope holds an ACTIVE version. Without one it cannot
 * create keys, so the hot path misses and fetches the lease that carries
 * the new ACTIVE version (after a revocation of the ACTIVE one).
 */
export function hasActive(e: ScopeEntry): boolean {
  for (const state of e.versions.values()) if (state === 'ACTIVE') return true;
  return false;
}

/**
 * Lets go of the native scope: its keys are zeroized once no other cache
 * of the process holds it. Never throws (revocation and shutdown call it in
 * loops that must reach every entry).
 */
export function evictEntry(e: ScopeEntry): void {
  e.ref = null;
  e.versions.clear();
  scopes.release(e.tenant, e.service, e.holder);
}

/** Whether the lease is still good at `now`. */
export function isLive(e: ScopeEntry, now: number): boolean {
  return e.ref !== null && now < e.expiresAt;
}

/** Any thrown value as a KryptonError. */
export function asKrypton(err: unknown): KryptonError {
  return err instanceof KryptonError ? err : fromNative(err);
}
