/**
 * L3 service keys per (tenant, service), versioned: ACTIVE (one per scope),
 * DECRYPT_ONLY, REVOKED. Keys are wrapped under the tenant's L2 in the KSI
 * and, once hydrated, held in the addon's scope table (the same one the
 * Gateway uses), so the Core can also make and open blobs. Rotation and
 * revocation are single KSI transactions that also append their event; the
 * in-memory state follows only after commit, and leases never wait on a
 * rotation: they read whatever is committed.
 */
import { errors, KryptonError } from '../errors.js';
import { destroyKey, generateKey, scopes, unwrapKey, wrapKey } from '../native/index.js';
import type { KeyHandle, VersionState } from '../native/index.js';
import { requireId } from '../native/ids.js';
import type { Ksi, KsiTx, L3Row, ScopeRow } from '../storage/ksi/ksi.js';
import type { Clock } from './clock.js';
import type { CoreEvent, EventLog } from './event-log.js';
import type { L2Manager } from './l2-manager.js';
import { DEFAULT_MAX_HOT_VERSIONS } from '../protocol/lease.js';

export const l3Aad = (tenant: string, service: string, version: number): Buffer =>
  Buffer.from(`krypton:l3:${tenant}/${service}@${version}`);

export interface L3Version {
  version: number;
  state: VersionState;
  handle: KeyHandle;
}

/** Test hook: called at named points of a rotation, to crash there on purpose. */
export type CrashPoint = (point: 'rotate:before-tx' | 'rotate:in-tx' | 'rotate:after-tx') => void | Promise<void>;

export class L3Manager {
  private readonly hydrated = new Set<string>();
  /**
   * Per hydrated scope, the newest non-revoked version left out of the hot
   * set (0: none). The hot set is the ACTIVE version and the newest
   * `maxHotVersions` DECRYPT_ONLY ones; older ones stay in the KSI and are
   * leased on demand (review L7), so fast rotation cannot fill the arena.
   */
  private readonly coldMax = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<L3Version[]>>();
  /**
   * Cache generations, as in L2Manager: every eviction stamps its tenant or
   * scope with the next value of one counter, a wipe stamps them all. A
   * hydration whose stamp changed across its awaits binds nothing (H3).
   */
  private evictions = 0;
  private readonly evictedAt = new Map<string, number>();
  private wipedAt = 0;

  constructor(
    private readonly ksi: Ksi,
    private readonly l2: L2Manager,
    private readonly events: EventLog,
    private readonly clock: Clock,
    private readonly crashPoint: CrashPoint = () => {},
    private readonly maxHotVersions: number = DEFAULT_MAX_HOT_VERSIONS,
  ) {}

  /**
   * Defines a scope, or redefines one (its rotation policy; a deleted scope
   * comes back), and makes sure it has an ACTIVE version: v1, or the next
   * one when every version was revoked (a purge). Every call leaves an audit
   * row: `scope.define` for a new scope, `scope.redefine` with what it
   * changed for an existing one.
   */
  async define(tenant: string, service: string, rotateAfterSeconds: number | null, actor = 'system'): Promise<void> {
    requireId(tenant, 'tenant');
    requireId(service, 'service');
    const now = this.clock.now();
    const l2 = await this.l2.get(tenant);
    const key = generateKey(32);
    try {
      await this.ksi.tx(async (tx) => {
        const existing = await tx.getScope(tenant, service);
        const row: ScopeRow = {
          tenant,
          service,
          rotateAfterSeconds,
          createdAt: existing?.createdAt ?? now,
          deleted: false,
        };
        await tx.putScope(row);
        const versions = await tx.listL3(tenant, service);
        let created: number | null = null;
        if (!versions.some((v) => v.state === 'ACTIVE')) {
          created = versions.reduce((m, v) => Math.max(m, v.version), 0) + 1;
          await tx.insertL3(this.row(tenant, service, created, l2, key, now));
        }
        const target = `${tenant}/${service}`;
        const made = created !== null ? { version: created } : {};
        if (existing === null) {
          await tx.appendAudit({
            actor,
            action: 'scope.define',
            target,
            outcome: 'ok',
            details: { rotateAfterSeconds, ...made },
          });
        } else {
          const details = {
            rotateAfterSeconds,
            previousRotateAfterSeconds: existing.rotateAfterSeconds,
            undeleted: existing.deleted,
            ...made,
          };
          await tx.appendAudit({ actor, action: 'scope.redefine', target, outcome: 'ok', details });
        }
      });
    } finally {
      destroyKey(key);
    }
  }

  /** Every non-revoked version in the store, hydrating the scope once (single-flight). */
  async versions(tenant: string, service: string): Promise<L3Version[]> {
    const id = `${tenant}/${service}`;
    if (this.hydrated.has(id)) return this.fromStore(tenant, service);
    let p = this.inflight.get(id);
    if (p === undefined) {
      p = this.hydrate(tenant, service).finally(() => this.inflight.delete(id));
      this.inflight.set(id, p);
    }
    return p;
  }

  /** Adds a new ACTIVE version; the previous one becomes DECRYPT_ONLY. */
  async rotate(tenant: string, service: string, actor = 'system', reason = 'on-demand'): Promise<number> {
    await this.versions(tenant, service);
    const l2 = await this.l2.get(tenant);
    const key = generateKey(32);
    const now = this.clock.now();
    await this.crashPoint('rotate:before-tx');
    let result: { version: number; event: CoreEvent };
    try {
      result = await this.ksi.tx(async (tx) => {
        const rows = await this.scopeRows(tx, tenant, service);
        const version = rows.reduce((m, r) => Math.max(m, r.version), 0) + 1;
        for (const r of rows)
          if (r.state === 'ACTIVE') await tx.updateL3({ ...r, state: 'DECRYPT_ONLY', updatedAt: now });
        await this.crashPoint('rotate:in-tx');
        await tx.insertL3(this.row(tenant, service, version, l2, key, now));
        const event = await this.events.append(tx, {
          type: 'rotation',
          tenant,
          service,
          version,
          at: now,
          details: { reason },
        });
        await tx.appendAudit({
          actor,
          action: 'l3.rotate',
          target: `${tenant}/${service}@${version}`,
          outcome: 'ok',
          details: { reason },
        });
        return { version, event };
      });
    } catch (err) {
      destroyKey(key);
      throw err;
    }
    await this.crashPoint('rotate:after-tx');
    if (this.hydrated.has(`${tenant}/${service}`)) {
      scopes.bind(tenant, service, result.version, 'ACTIVE', key);
      this.retireOld(tenant, service);
    } else {
      destroyKey(key);
    }
    this.events.publish([result.event]);
    return result.version;
  }

  /**
   * Revokes a version: its key is destroyed at once and an event goes out.
   * Revoking the ACTIVE version also makes a new ACTIVE one, in the same
   * transaction, so the scope is never left without one.
   */
  async revoke(tenant: string, service: string, version: number, actor = 'system'): Promise<void> {
    await this.versions(tenant, service);
    const l2 = await this.l2.get(tenant);
    const key = generateKey(32);
    const now = this.clock.now();
    let outcome: { events: CoreEvent[]; replacement: number | null };
    try {
      outcome = await this.ksi.tx(async (tx) => {
        const rows = await this.scopeRows(tx, tenant, service);
        const target = rows.find((r) => r.version === version);
        if (target === undefined) throw errors.badRequest(`no version ${version} of ${tenant}/${service}`);
        if (target.state === 'REVOKED') return { events: [], replacement: null };
        await tx.updateL3({ ...target, state: 'REVOKED', updatedAt: now });
        const events = [await this.events.append(tx, { type: 'revocation', tenant, service, version, at: now })];
        let replacement: number | null = null;
        if (target.state === 'ACTIVE') {
          replacement = rows.reduce((m, r) => Math.max(m, r.version), 0) + 1;
          await tx.insertL3(this.row(tenant, service, replacement, l2, key, now));
          events.push(
            await this.events.append(tx, {
              type: 'rotation',
              tenant,
              service,
              version: replacement,
              at: now,
              details: { reason: 'revocation' },
            }),
          );
        }
        await tx.appendAudit({ actor, action: 'l3.revoke', target: `${tenant}/${service}@${version}`, outcome: 'ok' });
        return { events, replacement };
      });
    } catch (err) {
      destroyKey(key);
      throw err;
    }
    scopes.setState(tenant, service, version, 'REVOKED');
    if (outcome.replacement !== null && this.hydrated.has(`${tenant}/${service}`)) {
      scopes.bind(tenant, service, outcome.replacement, 'ACTIVE', key);
      this.retireOld(tenant, service);
    } else {
      destroyKey(key);
    }
    this.events.publish(outcome.events);
  }

  /**
   * Deletes a scope: no lease is issued for it any more and Gateways drop it
   * (`scope.deleted`). A purge also revokes every version, so its keys are
   * destroyed for good (split brain: the Registry deleted it long ago).
   * Idempotent: an absent or already deleted (and purged) scope is left alone.
   */
  async remove(tenant: string, service: string, opts: { purge: boolean; actor?: string }): Promise<boolean> {
    const now = this.clock.now();
    const event = await this.ksi.tx(async (tx) => {
      const scope = await tx.getScope(tenant, service);
      if (scope === null) return null;
      const live = (await tx.listL3(tenant, service)).filter((r) => r.state !== 'REVOKED');
      if (scope.deleted && (!opts.purge || live.length === 0)) return null;
      await tx.putScope({ ...scope, deleted: true });
      if (opts.purge) for (const r of live) await tx.updateL3({ ...r, state: 'REVOKED', updatedAt: now });
      const action = opts.purge ? 'scope.purge' : 'scope.delete';
      await tx.appendAudit({
        actor: opts.actor ?? 'system',
        action,
        target: `${tenant}/${service}`,
        outcome: 'ok',
        details: { revoked: opts.purge ? live.length : 0 },
      });
      return this.events.append(tx, {
        type: 'scope.deleted',
        tenant,
        service,
        at: now,
        details: { purged: opts.purge },
      });
    });
    if (event === null) return false;
    this.evict(tenant, service);
    this.events.publish([event]);
    return true;
  }

  /** Rotates every scope whose ACTIVE version is older than its period. */
  async tick(): Promise<void> {
    const now = this.clock.now();
    const due = await this.ksi.read(async (tx) => {
      const out: ScopeRow[] = [];
      for (const s of await tx.listScopes()) {
        if (s.deleted || s.rotateAfterSeconds === null) continue;
        const active = (await tx.listL3(s.tenant, s.service)).find((r) => r.state === 'ACTIVE');
        if (active !== undefined && now - active.createdAt >= s.rotateAfterSeconds * 1000) out.push(s);
      }
      return out;
    });
    for (const s of due) await this.rotate(s.tenant, s.service, 'system', 'schedule');
  }

  /** Drops a scope (or all of a tenant's scopes) from memory; keys are zeroized. */
  evict(tenant: string, service?: string): void {
    this.evictedAt.set(service === undefined ? tenant : `${tenant}/${service}`, ++this.evictions);
    for (const id of [...this.hydrated]) {
      const [t, s] = id.split('/') as [string, string];
      if (t !== tenant || (service !== undefined && s !== service)) continue;
      scopes.evict(t, s);
      this.hydrated.delete(id);
      this.coldMax.delete(id);
    }
  }

  wipe(): void {
    for (const id of [...this.hydrated]) {
      const [t, s] = id.split('/') as [string, string];
      scopes.evict(t, s);
    }
    this.hydrated.clear();
    this.coldMax.clear();
    this.evictedAt.clear();
    this.wipedAt = ++this.evictions;
  }

  /** Whether the scope's keys are in memory now. */
  isHydrated(tenant: string, service: string): boolean {
    return this.hydrated.has(`${tenant}/${service}`);
  }

  /**
   * Loads the scope's versions into the store, unless the tenant or the
   * scope was evicted while it read (an unlink, offboard, delete or seal that
   * committed inside the awaits finds nothing to evict, so binding
   * afterwards would serve what it removed). Then nothing is bound and the
   * scope is read again: its state as it is now decides.
   */
  private async hydrate(tenant: string, service: string): Promise<L3Version[]> {
    for (let attempt = 1; ; attempt++) {
      const stamp = this.generation(tenant, service);
      const l2Stamp = this.l2.generation(tenant);
      const rows = await this.ksi.read((tx) => this.scopeRows(tx, tenant, service));
      const l2 = await this.l2.get(tenant);
      // Nothing below awaits: the check and the binding are one step.
      if (this.generation(tenant, service) === stamp && this.l2.generation(tenant) === l2Stamp)
        return this.bindAll(tenant, service, rows, l2);
      if (attempt >= 3) throw errors.keyUnavailable(`${tenant}/${service} changed while it was loading; try again`);
    }
  }

  private bindAll(
    tenant: string,
    service: string,
    rows: L3Row[],
    l2: { version: number; handle: KeyHandle },
  ): L3Version[] {
    const older = rows
      .filter((r) => r.state === 'DECRYPT_ONLY')
      .sort((a, b) => b.version - a.version)
      .slice(this.maxHotVersions);
    const cold = new Set(older.map((r) => r.version));
    try {
      for (const r of [...rows].sort((a, b) => (a.state === 'ACTIVE' ? 1 : 0) - (b.state === 'ACTIVE' ? 1 : 0))) {
        if (r.state === 'REVOKED') {
          scopes.setState(tenant, service, r.version, 'REVOKED');
          continue;
        }
        // Older than the hot set: stays in the KSI, leased on demand (namedVersions).
        if (cold.has(r.version)) continue;
        // L2 rotation is not implemented yet, so every L3 is under the one L2.
        if (r.l2Version !== l2.version)
          throw errors.internal(`L3 ${tenant}/${service}@${r.version} is under an unknown L2`);
        const handle = unwrapKey(l2.handle, r.wrapped, l3Aad(tenant, service, r.version));
        scopes.bind(tenant, service, r.version, r.state, handle);
      }
    } catch (err) {
      // Not hydrated, so no eviction would find what was bound: drop it now.
      scopes.evict(tenant, service);
      throw err;
    }
    this.hydrated.add(`${tenant}/${service}`);
    this.coldMax.set(`${tenant}/${service}`, older[0]?.version ?? 0);
    return this.fromStore(tenant, service);
  }

  /**
   * Of a hydrated scope: every non-revoked version from this one up is hot
   * (in versions()); an older one may exist in the KSI. 1 when none does.
   */
  oldestIncluded(tenant: string, service: string): number {
    return (this.coldMax.get(`${tenant}/${service}`) ?? 0) + 1;
  }

  /**
   * Named versions for an on-demand lease (a blob of a version older than
   * the hot set): unwrapped from the KSI into keys of their own that the
   * caller destroys with release() once it has sealed them; they never join
   * the hot set. A revoked one is KEY_REVOKED, one that does not exist
   * BAD_REQUEST.
   */
  async namedVersions(
    tenant: string,
    service: string,
    versions: readonly number[],
  ): Promise<{ versions: L3Version[]; release(): void }> {
    const rows = await this.ksi.read((tx) => this.scopeRows(tx, tenant, service));
    const picked = versions.map((v) => {
      const r = rows.find((x) => x.version === v);
      if (r === undefined) throw errors.badRequest(`no version ${v} of ${tenant}/${service}`);
      if (r.state === 'REVOKED') throw new KryptonError('KEY_REVOKED', `${tenant}/${service}@${v} is revoked`);
      return r as L3Row & { state: L3Version['state'] };
    });
    const l2 = await this.l2.get(tenant);
    const out: L3Version[] = [];
    const release = (): void => {
      for (const v of out.splice(0)) destroyKey(v.handle);
    };
    try {
      for (const r of picked) {
        if (r.l2Version !== l2.version)
          throw errors.internal(`L3 ${tenant}/${service}@${r.version} is under an unknown L2`);
        out.push({
          version: r.version,
          state: r.state,
          handle: unwrapKey(l2.handle, r.wrapped, l3Aad(tenant, service, r.version)),
        });
      }
    } catch (err) {
      release();
      throw err;
    }
    return { versions: out, release };
  }

  /**
   * Keeps the hot set at the ACTIVE version and the newest maxHotVersions DECRYPT_ONLY ones: older ones leave memory.
   */
  private retireOld(tenant: string, service: string): void {
    const id = `${tenant}/${service}`;
    const older = scopes
      .list(tenant, service)
      .filter((v) => v.state === 'DECRYPT_ONLY')
      .sort((a, b) => b.version - a.version)
      .slice(this.maxHotVersions);
    for (const v of older) {
      scopes.retire(tenant, service, v.version);
      this.coldMax.set(id, Math.max(this.coldMax.get(id) ?? 0, v.version));
    }
  }

  private generation(tenant: string, service: string): number {
    return Math.max(this.evictedAt.get(tenant) ?? 0, this.evictedAt.get(`${tenant}/${service}`) ?? 0, this.wipedAt);
  }

  private fromStore(tenant: string, service: string): L3Version[] {
    return scopes
      .list(tenant, service)
      .filter((v): v is L3Version => v.state !== 'REVOKED')
      .map(({ version, state, handle }) => ({ version, state, handle }));
  }

  private async scopeRows(tx: KsiTx, tenant: string, service: string): Promise<L3Row[]> {
    const scope = await tx.getScope(tenant, service);
    if (scope === null || scope.deleted) throw new KryptonError('UNKNOWN_SERVICE', `unknown service ${service}`);
    return tx.listL3(tenant, service);
  }

  private row(
    tenant: string,
    service: string,
    version: number,
    l2: { version: number; handle: KeyHandle },
    key: KeyHandle,
    now: number,
  ): L3Row {
    return {
      tenant,
      service,
      version,
      state: 'ACTIVE',
      l2Version: l2.version,
      wrapped: wrapKey(l2.handle, key, l3Aad(tenant, service, version)),
      createdAt: now,
      updatedAt: now,
    };
  }
}
