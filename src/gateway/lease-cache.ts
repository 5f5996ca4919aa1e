/**
 * The Gateway's lease cache (docs/design.md section 4, ADR-602): per
 * (tenant, service), the L3 versions the Core leases (the ACTIVE one and
 * its hot DECRYPT_ONLY ones; an older version only when a blob names it),
 * with the keys only in the native store. Every lease is verified before it
 * is bound (the Core's signature over this cache's own request: see
 * scope-entry.ts). One Core call per scope however many requests miss; leases
 * refreshed ahead of expiry; a Core outage ridden out until the lease
 * expires, then the scope is zeroized and requests fail closed; revocations
 * from the event stream applied within a second.
 *
 * Bounded against hostile names: ids are checked before anything is cached
 * or fetched; the table holds only scopes that are leased or being fetched
 * (a failed fetch leaves no entry), at most `maxScopesPerTenant` per tenant;
 * failures are remembered per (tenant, service) for a short while, so a
 * flood of misses on unknown services is not a flood of Core calls.
 */
import { pino, type Logger } from 'pino';
import { errors, KryptonError } from '../errors.js';
import { requireId } from '../native/ids.js';
import { HpkeRecipient, scopes, type ScopeRef } from '../native/index.js';
import { SINCE_NOW } from '../protocol/core-events.js';
import { newLeaseRequest } from '../protocol/lease.js';
import type { CoreClient, CoreEvent, EventFollower } from './core-client.js';
import { applyEvent, type EventTarget } from './lease-events.js';
import { MissCache } from './miss-cache.js';
import {
  asKrypton,
  bindLease,
  bindNamed,
  evictEntry,
  hasActive,
  isLive,
  newEntry,
  revokeVersion,
  type ScopeEntry,
} from './scope-entry.js';

export interface LeaseCacheOptions {
  core: CoreClient;
  /** Cap on the Core's lease TTL (default 300 s, at most 3600 s). */
  maxTtlSeconds?: number;
  /**
   * Refresh when this fraction of the TTL has passed (default 0.8), minus up to `refreshJitter` of it (default 0.1).
   */
  refreshAt?: number;
  refreshJitter?: number;
  /** While the Core is down, retry a refresh this often (default 2 s, jittered), until the lease expires. */
  retryRefreshMs?: number;
  /**
   * A failed fetch is answered from memory for this long (default 1 s): a flood of misses is not a flood of Core calls.
   */
  failureTtlMs?: number;
  /** An UNKNOWN_SERVICE answer is remembered for this long (default 5 s). */
  unknownServiceTtlMs?: number;
  /** Scopes leased or being fetched per tenant (default 1024); a request for one more gets OVERLOADED. */
  maxScopesPerTenant?: number;
  /** Failures remembered per tenant (default 1024); the oldest goes first. */
  maxMissesPerTenant?: number;
  /** A version newer than the lease is looked up at the Core at most this often per scope (default 1 s). */
  probeIntervalMs?: number;
  /**
   * How long a lease's newer epoch may wait for the stream to deliver its events before the stream is replayed
   * (default 1 s).
   */
  epochGraceMs?: number;
  /**
   * Versions older than the Core's hot set, leased on demand, kept per scope (default 32); the oldest-bound one goes
   * first.
   */
  maxColdVersions?: number;
  logger?: Logger;
}

/** On-demand failures remembered per scope, at most. */
const MAX_OLDER_FAILURES = 256;

export interface Readiness {
  ready: boolean;
  /** Why not (or what is degraded); never names a tenant or service: /readyz is unauthenticated. */
  reasons: string[];
}

export interface ScopeStats {
  tenant: string;
  service: string;
  versions: number[];
  activeVersion: number | null;
  leaseAgeMs: number;
  ttlLeftMs: number;
  held: boolean;
}

export interface LeaseCacheStats {
  scopes: ScopeStats[];
  revocationDelayMs: { count: number; last: number | null; max: number | null };
  circuit: ReturnType<CoreClient['circuitState']>;
  lastEpoch: number | null;
  connected: boolean;
  leaseFetches: number;
  leaseFailures: number;
  /** Tenants served nothing because an event for them failed to apply (fail closed until it does). */
  failedClosed: string[];
}

/** Marks every tenant in the fail-closed set (an event about all of them failed). */
const ALL_TENANTS = '*';

const jitter = (ms: number, fraction: number): number => ms * (1 - fraction * Math.random());

export class LeaseCache {
  private readonly core: CoreClient;
  private readonly recipient: HpkeRecipient;
  private readonly log: Logger;
  /** This cache's holder id on native scopes (one per cache, so one per thread). */
  private readonly holder: number;
  private readonly maxTtlSeconds: number;
  private readonly refreshAt: number;
  private readonly refreshJitter: number;
  private readonly retryRefreshMs: number;
  private readonly failureTtlMs: number;
  private readonly unknownServiceTtlMs: number;
  private readonly maxScopesPerTenant: number;
  private readonly probeIntervalMs: number;
  private readonly epochGraceMs: number;
  private readonly maxColdVersions: number;
  /**
   * tenant -> service -> entry, leased or being fetched; nested so the hot path looks up without building a key string.
   */
  private readonly table = new Map<string, Map<string, ScopeEntry>>();
  private readonly misses: MissCache;
  /** Tenants whose L1 was unlinked: fail closed with KEY_REVOKED until a lease succeeds again. */
  private readonly revokedTenants = new Set<string>();
  /** Tenants (or ALL_TENANTS) for which an event failed to apply: nothing is served until it applies. */
  private readonly failedClosed = new Set<string>();
  private follower: EventFollower | null = null;
  private epochCheck: NodeJS.Timeout | null = null;
  private stopped = false;
  private lastCoreOk = false;
  private readonly revocations = { count: 0, last: null as number | null, max: null as number | null };
  private readonly counters = { fetches: 0, failures: 0 };

  constructor(opts: LeaseCacheOptions) {
    const ttl = opts.maxTtlSeconds ?? 300;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 3600)
      throw errors.badRequest('maxTtlSeconds must be an integer from 1 to 3600');
    this.core = opts.core;
    this.maxTtlSeconds = ttl;
    this.refreshAt = opts.refreshAt ?? 0.8;
    this.refreshJitter = opts.refreshJitter ?? 0.1;
    this.retryRefreshMs = opts.retryRefreshMs ?? 2_000;
    this.failureTtlMs = opts.failureTtlMs ?? 1_000;
    this.unknownServiceTtlMs = opts.unknownServiceTtlMs ?? 5_000;
    this.maxScopesPerTenant = opts.maxScopesPerTenant ?? 1024;
    this.probeIntervalMs = opts.probeIntervalMs ?? 1_000;
    this.epochGraceMs = opts.epochGraceMs ?? 1_000;
    this.maxColdVersions = opts.maxColdVersions ?? 32;
    if (!Number.isInteger(this.maxColdVersions) || this.maxColdVersions < 1)
      throw errors.badRequest('maxColdVersions must be a positive integer');
    this.misses = new MissCache(opts.maxMissesPerTenant ?? 1024);
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.holder = scopes.newHolder();
    // One recipient key for the life of the Gateway; its private half never leaves the addon.
    this.recipient = HpkeRecipient.generate();
  }

  /**
   * Connects to the Core's event stream now, before any lease: the Gateway
   * is ready (the Core reachable) without waiting for a first request.
   */
  start(): void {
    if (this.stopped || this.follower !== null) return;
    this.follow(SINCE_NOW);
  }

  /** The hot path: the leased scope, or null on a miss (then call scope()). No promise, no allocation. */
  scopeSync(tenant: string, service: string): ScopeRef | null {
    const e = this.table.get(tenant)?.get(service);
    if (e === undefined || e.ref === null) return null;
    if (Date.now() < e.expiresAt) return hasActive(e) ? e.ref : null;
    // The expiry timer is late (busy event loop): expire now rather than serve past the lease.
    this.expire(e);
    return null;
  }

  /** The leased scope, fetching a lease on a miss; every concurrent miss shares one Core call. */
  scope(tenant: string, service: string): Promise<ScopeRef> {
    try {
      const ref = this.scopeSync(tenant, service);
      if (ref !== null) return Promise.resolve(ref);
      const e = this.entryToFetch(tenant, service);
      return e instanceof KryptonError ? Promise.reject(e) : this.fetch(e);
    } catch (err) {
      return Promise.reject(asKrypton(err));
    }
  }

  /**
   * For the decrypt path after the native open said INVALID_BLOB: is the
   * blob's version one we hold, one that is revoked, or neither? A version
   * we cannot place is looked up at the Core once (single-flight), so a
   * blob from a new version or a cold scope opens after one fetch; one
   * older than the lease's hot versions is leased on its own, on demand
   * (review L7), so it is never taken for absent.
   */
  async ensureVersion(tenant: string, service: string, version: number): Promise<'held' | 'revoked' | 'absent'> {
    let e = this.table.get(tenant)?.get(service);
    let place = e === undefined ? null : this.placeVersion(e, version);
    if (place === null) {
      try {
        const next = this.entryToFetch(tenant, service);
        if (next instanceof KryptonError) throw next;
        e = next;
        await this.fetch(e);
      } catch (err) {
        // A blob naming a service that does not exist is simply not a blob we can open.
        if (err instanceof KryptonError && err.code === 'UNKNOWN_SERVICE') return 'absent';
        throw err;
      }
      place = this.placeVersion(e, version) ?? 'absent';
    }
    if (place !== 'older') return place;
    await this.fetchOlder(e!, version);
    const now = this.placeVersion(e!, version);
    return now === 'held' || now === 'revoked' ? now : 'absent';
  }

  /** Why nothing may be served for this tenant now (an event for it failed to apply), or null. */
  refusal(tenant: string): KryptonError | null {
    if (this.failedClosed.size === 0) return null;
    if (!this.failedClosed.has(tenant) && !this.failedClosed.has(ALL_TENANTS)) return null;
    return errors.keyUnavailable('a revocation for this tenant has not been applied yet: failing closed');
  }

  /** Ready when the Core is reachable, or when every lease we hold is still within its TTL. */
  readiness(): Readiness {
    const reasons: string[] = [];
    const now = Date.now();
    const reachable = this.follower?.connected() === true || (this.lastCoreOk && this.core.circuitState() === 'closed');
    if (!reachable) reasons.push('the Core is not reachable');
    let held = 0;
    let expired = 0;
    for (const e of this.entries()) {
      if (e.ref === null) continue;
      held++;
      if (!isLive(e, now)) expired++;
    }
    if (expired > 0) reasons.push(`${expired} held lease(s) expired`);
    if (!reachable && held === 0) reasons.push('no lease held');
    if (this.failedClosed.size > 0) reasons.push('an event has not been applied: some tenants fail closed');
    if (this.stopped) reasons.push('stopped');
    // Within lease the Gateway serves through a Core outage; with no lease at all it can serve nothing.
    const withinLeases = held > 0 && expired === 0;
    return { ready: !this.stopped && (reachable || withinLeases), reasons };
  }

  stats(): LeaseCacheStats {
    const now = Date.now();
    const scopeStats: ScopeStats[] = [];
    for (const e of this.entries()) {
      let active: number | null = null;
      for (const [v, s] of e.versions) if (s === 'ACTIVE') active = v;
      scopeStats.push({
        tenant: e.tenant,
        service: e.service,
        versions: [...e.versions.keys()].sort((a, b) => a - b),
        activeVersion: active,
        leaseAgeMs: e.fetchedAt === 0 ? 0 : now - e.fetchedAt,
        ttlLeftMs: e.ref === null ? 0 : Math.max(0, e.expiresAt - now),
        held: isLive(e, now),
      });
    }
    return {
      scopes: scopeStats,
      revocationDelayMs: { ...this.revocations },
      circuit: this.core.circuitState(),
      lastEpoch: this.follower?.lastEpoch() ?? null,
      connected: this.follower?.connected() ?? false,
      leaseFetches: this.counters.fetches,
      leaseFailures: this.counters.failures,
      failedClosed: [...this.failedClosed],
    };
  }

  /**
   * Stops timers and the follower, lets go of every held scope (zeroized
   * unless another thread's cache still holds it) and destroys the
   * recipient key. Every step runs whatever the others do.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    const steps: (() => void)[] = [
      () => this.follower?.close(),
      () => {
        if (this.epochCheck) clearTimeout(this.epochCheck);
      },
      ...[...this.entries()].map((e) => () => this.remove(e)),
      () => this.table.clear(),
      () => this.recipient.destroy(),
    ];
    for (const step of steps) {
      try {
        step();
      } catch (err) {
        this.log.error({ err }, 'lease cache: a shutdown step failed; the others still run');
      }
    }
    this.follower = null;
  }

  // --- internals ---

  private *entries(): Iterable<ScopeEntry> {
    for (const services of this.table.values()) yield* services.values();
  }

  /**
   * The entry to fetch for (tenant, service), made if absent; or the
   * remembered failure of a recent fetch. Ids are checked first, so a bad
   * name never reaches the table, the native store or the Core.
   */
  private entryToFetch(tenant: string, service: string): ScopeEntry | KryptonError {
    if (this.stopped) return errors.keyUnavailable('the lease cache is stopped');
    requireId(tenant, 'tenant');
    requireId(service, 'service');
    let services = this.table.get(tenant);
    const e = services?.get(service);
    if (e !== undefined) return e;
    const miss = this.misses.get(tenant, service, Date.now());
    if (miss !== null) return miss;
    if (services === undefined) this.table.set(tenant, (services = new Map<string, ScopeEntry>()));
    if (services.size >= this.maxScopesPerTenant) {
      return new KryptonError(
        'OVERLOADED',
        `this Gateway already holds ${this.maxScopesPerTenant} scopes of the tenant`,
      );
    }
    const made = newEntry(tenant, service, this.holder);
    services.set(service, made);
    return made;
  }

  private isCurrent(e: ScopeEntry): boolean {
    return this.table.get(e.tenant)?.get(e.service) === e;
  }

  /**
   * Forgets an entry: timers stopped, native scope let go, table entry
   * removed. An entry no longer in the table was let go when it was removed
   * (its native scope may belong to a newer entry now). Never throws.
   */
  private remove(e: ScopeEntry): void {
    this.clearTimers(e);
    if (!this.isCurrent(e)) return;
    evictEntry(e);
    const services = this.table.get(e.tenant)!;
    services.delete(e.service);
    if (services.size === 0) this.table.delete(e.tenant);
  }

  /**
   * What we can say about a version without asking the Core; null when
   * only a full lease can tell, 'older' when only a lease of that version can.
   */
  private placeVersion(e: ScopeEntry, version: number): 'held' | 'revoked' | 'absent' | 'older' | null {
    if (e.revoked.has(version)) return 'revoked';
    if (!isLive(e, Date.now())) return null;
    if (e.versions.has(version)) {
      // Another thread's cache may have retired it from the shared store since (its lease is newer): ask again.
      if (scopes.list(e.tenant, e.service).some((v) => v.version === version && v.state !== 'REVOKED')) return 'held';
      e.versions.delete(version);
      e.cold.delete(version);
      return null;
    }
    // Older than the hot versions: it may exist at the Core, which leases it on its own.
    if (version < e.oldestIncluded) return 'older';
    // The lease named every non-revoked version from oldestIncluded up to maxVersion, so one we lack is not real.
    if (version <= e.maxVersion) return 'absent';
    if (e.inflight !== null) return null;
    // Newer than our lease: worth one look at the Core, but not once per bogus blob.
    return Date.now() - e.fetchedAt < this.probeIntervalMs ? 'absent' : null;
  }

  /** Single-flight fetch. */
  private fetch(e: ScopeEntry): Promise<ScopeRef> {
    if (e.inflight !== null) return e.inflight;
    const p = this.load(e);
    e.inflight = p;
    const clear = (): void => {
      if (e.inflight === p) e.inflight = null;
    };
    p.then(clear, clear);
    return p;
  }

  private async load(e: ScopeEntry): Promise<ScopeRef> {
    this.counters.fetches++;
    // A fresh nonce per request: only the Core's signed reply to this very request is bound.
    const req = newLeaseRequest(e.tenant, e.service, this.recipient.publicKey);
    let reply;
    try {
      reply = await this.core.lease(req);
      this.lastCoreOk = true;
    } catch (err) {
      return this.failed(e, asKrypton(err));
    }
    if (this.stopped) throw errors.keyUnavailable('the lease cache is stopped');
    // Dropped while the call was out (tenant revoked, scope deleted): binding it now would leave keys nobody expires.
    if (!this.isCurrent(e)) throw errors.keyUnavailable('the scope was dropped while its lease was fetched');
    let lease;
    try {
      lease = bindLease(this.recipient, e, req, reply, this.core.leaseTrust, this.maxTtlSeconds, Date.now());
    } catch (err) {
      const k = asKrypton(err);
      if (k.code !== 'INVALID_LEASE') return this.failed(e, k);
      // Not the app's problem to name: it fails closed like any other missing lease, and nothing of it was bound.
      this.log.error(
        { event: 'lease.invalid', tenant: e.tenant, service: e.service, err: k.message },
        'a lease reply was refused',
      );
      return this.failed(e, new KryptonError('KEY_UNAVAILABLE', 'no usable lease from the Core', { cause: k }));
    }
    this.revokedTenants.delete(e.tenant);
    this.schedule(e);
    this.noteLeaseEpoch(lease.epoch);
    // A rotation announced while this lease was in flight is not in it: fetch again.
    if (lease.epoch < e.wantEpoch) queueMicrotask(() => this.refresh(e));
    this.log.debug(
      {
        event: 'lease.bound',
        tenant: e.tenant,
        service: e.service,
        versions: [...e.versions.keys()],
        epoch: lease.epoch,
      },
      'lease bound',
    );
    return e.ref!;
  }

  /**
   * Leases one version older than the hot ones (a blob names it) and binds
   * it as a cold version of the held scope: single-flight per version, a
   * failure remembered for failureTtlMs. Throws what the Core said
   * (KEY_REVOKED for a revoked version), or KEY_UNAVAILABLE.
   */
  private fetchOlder(e: ScopeEntry, version: number): Promise<void> {
    const inflight = e.older.get(version);
    if (inflight !== undefined) return inflight;
    const failure = e.olderFailures.get(version);
    if (failure !== undefined) {
      if (Date.now() < failure.until) return Promise.reject(failure.err);
      e.olderFailures.delete(version);
    }
    const p = this.loadOlder(e, version).catch((err: unknown) => {
      const k = asKrypton(err);
      if (e.olderFailures.size >= MAX_OLDER_FAILURES) e.olderFailures.delete(e.olderFailures.keys().next().value!);
      e.olderFailures.set(version, { err: k, until: Date.now() + this.failureTtlMs });
      throw k;
    });
    e.older.set(version, p);
    const clear = (): void => {
      if (e.older.get(version) === p) e.older.delete(version);
    };
    p.then(clear, clear);
    return p;
  }

  private async loadOlder(e: ScopeEntry, version: number): Promise<void> {
    this.counters.fetches++;
    const req = newLeaseRequest(e.tenant, e.service, this.recipient.publicKey, [version]);
    let reply;
    try {
      reply = await this.core.lease(req);
      this.lastCoreOk = true;
    } catch (err) {
      this.counters.failures++;
      throw asKrypton(err);
    }
    if (this.stopped || !this.isCurrent(e))
      throw errors.keyUnavailable('the scope was dropped while a lease of an older version was fetched');
    try {
      bindNamed(this.recipient, e, req, reply, this.core.leaseTrust, this.maxColdVersions, Date.now());
    } catch (err) {
      this.counters.failures++;
      const k = asKrypton(err);
      if (k.code !== 'INVALID_LEASE') throw k;
      this.log.error(
        { event: 'lease.invalid', tenant: e.tenant, service: e.service, version, err: k.message },
        'a lease reply was refused',
      );
      throw new KryptonError('KEY_UNAVAILABLE', 'no usable lease from the Core', { cause: k });
    }
  }

  /**
   * A fetch failed. A scope we hold keeps serving until its lease ends (the
   * refresh tries again); one we never held leaves no entry behind, only the
   * failure, remembered for a short while.
   */
  private failed(e: ScopeEntry, err: KryptonError): never {
    this.counters.failures++;
    if (err.status === 503 || err.code === 'INTERNAL') this.lastCoreOk = false;
    const shown = this.revokedTenants.has(e.tenant)
      ? new KryptonError('KEY_REVOKED', "the tenant's keys are revoked", { cause: err })
      : err;
    // (An entry dropped while its call was out may have been replaced: the native scope is the newer entry's.)
    if (e.ref === null && this.isCurrent(e)) {
      this.remove(e);
      this.remember(e.tenant, e.service, shown);
    }
    throw shown;
  }

  private remember(tenant: string, service: string, err: KryptonError): void {
    const ttl = err.code === 'UNKNOWN_SERVICE' ? this.unknownServiceTtlMs : this.failureTtlMs;
    this.misses.set(tenant, service, err, Date.now() + ttl);
  }

  private schedule(e: ScopeEntry): void {
    this.clearTimers(e);
    const ttlMs = e.expiresAt - e.fetchedAt;
    const refreshIn = Math.max(0, jitter(ttlMs * this.refreshAt, this.refreshJitter));
    e.refreshTimer = setTimeout(() => this.refresh(e), refreshIn);
    e.refreshTimer.unref();
    e.expiryTimer = setTimeout(() => this.expire(e), Math.max(0, e.expiresAt - Date.now()));
    e.expiryTimer.unref();
  }

  private clearTimers(e: ScopeEntry): void {
    if (e.refreshTimer) clearTimeout(e.refreshTimer);
    if (e.expiryTimer) clearTimeout(e.expiryTimer);
    e.refreshTimer = e.expiryTimer = null;
  }

  /** Background refresh: on failure keep serving and try again, until the expiry timer ends the lease. */
  private refresh(e: ScopeEntry): void {
    if (this.stopped || e.ref === null) return;
    this.fetch(e).catch((err: unknown) => {
      if (this.stopped || e.ref === null) return;
      this.log.warn(
        { event: 'lease.refresh.failed', tenant: e.tenant, service: e.service, err: (err as Error).message },
        'lease refresh failed',
      );
      const left = e.expiresAt - Date.now();
      if (left <= 0) return;
      if (e.refreshTimer) clearTimeout(e.refreshTimer);
      e.refreshTimer = setTimeout(() => this.refresh(e), Math.min(left, jitter(this.retryRefreshMs, 0.5)));
      e.refreshTimer.unref();
    });
  }

  /** The lease ran out without a successful refresh: zeroize and fail closed until a lease arrives. */
  private expire(e: ScopeEntry): void {
    if (e.ref === null) return;
    const now = Date.now();
    if (now < e.expiresAt) {
      // Refreshed since this timer was set.
      this.schedule(e);
      return;
    }
    this.remove(e);
    this.misses.set(
      e.tenant,
      e.service,
      errors.keyUnavailable('the lease expired and the Core did not renew it'),
      now + this.failureTtlMs,
    );
    this.log.warn(
      { event: 'lease.expired', tenant: e.tenant, service: e.service },
      'lease expired: scope zeroized, failing closed',
    );
  }

  private follow(since: number | typeof SINCE_NOW): void {
    this.follower = this.core.followEvents(
      since,
      (ev) => this.onEvent(ev),
      (state, err) => {
        this.log.info({ event: `core.events.${state}`, err: err?.message }, `event stream ${state}`);
        if (state === 'connected') this.lastCoreOk = true;
      },
    );
  }

  /**
   * Leases carry the Core's epoch. The follower starts from the first one
   * (unless start() connected it already); a lease issued before the
   * follower's start is replayed from its epoch; a lease ahead of the
   * follower gets a short grace for the stream to deliver, then the stream
   * is replayed, so a missed event cannot outlive one lease.
   */
  private noteLeaseEpoch(epoch: number): void {
    if (this.stopped) return;
    if (this.follower === null) {
      this.follow(epoch);
      return;
    }
    if (epoch < this.follower.since()) {
      this.follower.replayFrom(epoch);
      return;
    }
    if (epoch <= this.follower.lastEpoch() || this.epochCheck !== null) return;
    this.epochCheck = setTimeout(() => {
      this.epochCheck = null;
      if (this.follower !== null && this.follower.lastEpoch() < epoch) this.follower.replayFrom();
    }, this.epochGraceMs);
    this.epochCheck.unref();
  }

  /**
   * Applies one event. Each scope it drops is dropped on its own, so one
   * that fails cannot keep the others serving; a failure leaves the
   * tenant (or, for a global event, every tenant) failing closed and is
   * thrown, so the follower delivers the event again instead of passing it.
   */
  private onEvent(ev: CoreEvent): void {
    if (this.stopped) return;
    const failures: unknown[] = [];
    const guard = (fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        failures.push(err);
      }
    };
    const target: EventTarget = {
      find: (t, s) => this.table.get(t)?.get(s),
      tenantEntries: (t) => [...(this.table.get(t)?.values() ?? [])],
      allEntries: () => [...this.entries()],
      refresh: (e) => guard(() => this.refresh(e)),
      drop: (e) => guard(() => this.remove(e)),
      revokeVersion: (e, v) => guard(() => revokeVersion(e, v)),
      revokeTenant: (t) => this.revokedTenants.add(t),
      restoreTenant: (t) => {
        this.revokedTenants.delete(t);
        this.misses.forgetTenant(t);
      },
      forgetFailures: (t) => (t === null ? this.misses.clear() : this.misses.forgetTenant(t)),
    };
    let tookKeys = false;
    guard(() => (tookKeys = applyEvent(target, ev)));
    const subject = ev.type === 'serving.paused' || ev.tenant === null ? ALL_TENANTS : ev.tenant;
    if (failures.length > 0) {
      this.failedClosed.add(subject);
      throw new AggregateError(failures, `event ${ev.epoch} (${ev.type}) did not fully apply`);
    }
    this.failedClosed.delete(subject);
    if (tookKeys) {
      const delay = Date.now() - ev.createdAt;
      this.revocations.count++;
      this.revocations.last = delay;
      this.revocations.max = Math.max(this.revocations.max ?? 0, delay);
    }
  }
}
