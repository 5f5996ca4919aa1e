/**
 * One leased scope as the Gateway knows it: metadata in JS, keys only in
 * the native store. Binding a lease and zeroizing a scope happen here, so
 * the rules that keep a forged, replayed, revoked or expired key from being
 * used sit in one place: a reply is verified (src/protocol/lease.ts: the
 * Core's signature over this Gateway's own request, its nonce, the issue
 * time) before anything of it is opened, held or bound.
 */
import { KryptonError, errors, fromNative } from '../errors.js';
import { openLease, scopeRef, scopes, type HpkeRecipient, type ScopeRef, type VersionState } from '../native/index.js';
import { verifyLeaseReply, type LeaseReply, type LeaseRequest, type LeaseTrust } from '../protocol/lease.js';

export interface ScopeEntry {
  readonly tenant: string;
  readonly service: string;
  /**
   * This cache's holder id on the native scope: another thread's cache holds its own, so one eviction never destroys
   * keys another serves.
   */
  readonly holder: number;
  /** Usable now; the same object for as long as the native scope lives, so the hot path allocates nothing. */
  ref: ScopeRef | null;
  versions: Map<number, VersionState>;
  /** Versions known revoked (events or leases); a later stale lease must not bring them back. */
  revoked: Set<number>;
  /** Highest version the last lease named: every non-revoked version from oldestIncluded up to it was in that lease. */
  maxVersion: number;
  /** From the last full lease: an older version may exist at the Core, leased on demand when a blob names it. */
  oldestIncluded: number;
  /** Older versions bound on demand, oldest-bound first; retired at the next full lease, or when too many. */
  cold: Set<number>;
  /** On-demand leases in flight, by version. */
  older: Map<number, Promise<void>>;
  /** On-demand leases that failed, by version, remembered until `until`. */
  olderFailures: Map<number, { err: KryptonError; until: number }>;
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
    oldestIncluded: 1,
    cold: new Set(),
    older: new Map(),
    olderFailures: new Map(),
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
 * Verifies a full lease (the reply to `req`) and opens every version of it
 * into the native store, recording the metadata. ACTIVE goes last so the
 * scope is never left without one while older versions are rebound.
 * Versions we held that the lease leaves out: from `oldestIncluded` up they
 * were revoked at the Core (it leases every non-revoked one), so they are
 * destroyed here even if their event never reached us; older ones only left
 * the hot set, so they are retired (leased again on demand). Returns the
 * verified lease.
 */
export function bindLease(
  recipient: HpkeRecipient,
  e: ScopeEntry,
  req: LeaseRequest,
  reply: unknown,
  trust: LeaseTrust,
  maxTtlSeconds: number,
  now: number,
): LeaseReply {
  if (req.tenant !== e.tenant || req.service !== e.service || req.versions !== undefined)
    throw errors.internal('bindLease: not a full lease request of this scope');
  // Nothing is opened, held or bound before the reply verifies (INVALID_LEASE).
  const lease = verifyLeaseReply(reply, req, trust, now);
  // Held before anything is bound, so another thread's release cannot destroy what this lease binds.
  scopes.hold(e.tenant, e.service, e.holder);
  const ttlSeconds = Math.min(lease.ttlSeconds, maxTtlSeconds);
  let expiresAt = now + ttlSeconds * 1000;
  const ordered = [...lease.versions].sort((a, b) =>
    a.state === b.state ? a.version - b.version : a.state === 'ACTIVE' ? 1 : -1,
  );
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
  for (const old of [...e.versions.keys()]) {
    if (versions.has(old)) continue;
    if (old >= lease.oldestIncluded) revokeVersion(e, old);
    else retireVersion(e, old);
  }
  e.versions = versions;
  e.cold.clear();
  e.oldestIncluded = lease.oldestIncluded;
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
  return lease;
}

/**
 * Verifies a lease for named versions (older than the full lease's
 * oldestIncluded: a blob names one) and binds them as cold versions of a
 * scope this cache holds now; at most `maxCold` stay, the oldest-bound
 * retired first. They go at the next full lease (which is earlier than
 * their own expiry: same TTL, issued later). Returns the verified lease.
 */
export function bindNamed(
  recipient: HpkeRecipient,
  e: ScopeEntry,
  req: LeaseRequest,
  reply: unknown,
  trust: LeaseTrust,
  maxCold: number,
  now: number,
): LeaseReply {
  if (req.tenant !== e.tenant || req.service !== e.service || req.versions === undefined)
    throw errors.internal('bindNamed: not a request for named versions of this scope');
  const lease = verifyLeaseReply(reply, req, trust, now);
  if (e.ref === null || !isLive(e, now)) throw errors.keyUnavailable('the scope is no longer leased');
  for (const v of lease.versions) {
    if (e.revoked.has(v.version)) continue;
    let opened;
    try {
      opened = openLease(recipient, { tenant: e.tenant, service: e.service, enc: v.enc, sealed: v.sealed });
    } catch (err) {
      const k = fromNative(err);
      if (k.code !== 'KEY_REVOKED') throw k;
      e.revoked.add(v.version);
      continue;
    }
    // It must not outlive its own lease: the scope's expiry is what ends it.
    if (opened.expiresAt < e.expiresAt) {
      retireVersion(e, opened.version);
      throw errors.keyUnavailable("a lease for an older version ends before the scope's");
    }
    // hot already (a full lease overtook it)
    if (e.versions.get(opened.version) !== undefined && !e.cold.has(opened.version)) continue;
    e.versions.set(opened.version, opened.state);
    e.cold.delete(opened.version);
    e.cold.add(opened.version);
  }
  for (const v of e.cold) {
    if (e.cold.size <= maxCold) break;
    retireVersion(e, v);
  }
  return lease;
}

/**
 * Lets an old version go without revoking it (it left the hot set): its key
 * is destroyed and a later lease may bind it again. Never throws (a version
 * the store will not retire, such as the ACTIVE one, is left alone).
 */
export function retireVersion(e: ScopeEntry, version: number): void {
  try {
    scopes.retire(e.tenant, e.service, version);
  } catch {
    return;
  }
  e.versions.delete(version);
  e.cold.delete(version);
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
  e.cold.clear();
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
