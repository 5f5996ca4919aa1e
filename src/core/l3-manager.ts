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
import { destroyKey, generateKey, scopes, unwrapKey, wrapKey, type KeyHandle } from '../native/index.js';
import type { Ksi, KsiTx, L3Row, ScopeRow } from '../storage/ksi.js';
import type { Clock } from './clock.js';
import type { CoreEvent, EventLog } from './event-log.js';
import type { L2Manager } from './l2-manager.js';

export const l3Aad = (tenant: string, service: string, version: number): Buffer =>
  Buffer.from(`krypton:l3:${tenant}/${service}@${version}`);

export interface L3Version {
  version: number;
  state: 'ACTIVE' | 'DECRYPT_ONLY';
  handle: KeyHandle;
}

/** Test hook: called at named points of a rotation, to crash there on purpose. */
export type CrashPoint = (point: 'rotate:before-tx' | 'rotate:in-tx' | 'rotate:after-tx') => void | Promise<void>;

export class L3Manager {
  private readonly hydrated = new Set<string>();
  private readonly inflight = new Map<string, Promise<L3Version[]>>();

  constructor(
    private readonly ksi: Ksi,
    private readonly l2: L2Manager,
    private readonly events: EventLog,
    private readonly clock: Clock,
    private readonly crashPoint: CrashPoint = () => {},
  ) {}

  /** Defines (or redefines the policy of) a scope and gives it an ACTIVE v1. */
  async define(tenant: string, service: string, rotateAfterSeconds: number | null, actor = 'system'): Promise<void> {
    const now = this.clock.now();
    const l2 = await this.l2.get(tenant);
    const key = generateKey(32);
    try {
      await this.ksi.tx(async (tx) => {
        const existing = await tx.getScope(tenant, service);
        const row: ScopeRow = { tenant, service, rotateAfterSeconds, createdAt: existing?.createdAt ?? now, deleted: false };
        await tx.putScope(row);
        if ((await tx.listL3(tenant, service)).some((v) => v.state === 'ACTIVE')) return;
        await tx.insertL3(this.row(tenant, service, 1, l2, key, now));
        await tx.appendAudit({ actor, action: 'scope.define', target: `${tenant}/${service}`, outcome: 'ok', details: { rotateAfterSeconds } });
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
        for (const r of rows) if (r.state === 'ACTIVE') await tx.updateL3({ ...r, state: 'DECRYPT_ONLY', updatedAt: now });
        await this.crashPoint('rotate:in-tx');
        await tx.insertL3(this.row(tenant, service, version, l2, key, now));
        const event = await this.events.append(tx, { type: 'rotation', tenant, service, version, at: now, details: { reason } });
        await tx.appendAudit({ actor, action: 'l3.rotate', target: `${tenant}/${service}@${version}`, outcome: 'ok', details: { reason } });
        return { version, event };
      });
    } catch (err) {
      destroyKey(key);
      throw err;
    }
    await this.crashPoint('rotate:after-tx');
    if (this.hydrated.has(`${tenant}/${service}`)) scopes.bind(tenant, service, result.version, 'ACTIVE', key);
    else destroyKey(key);
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
          events.push(await this.events.append(tx, { type: 'rotation', tenant, service, version: replacement, at: now, details: { reason: 'revocation' } }));
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
      await tx.appendAudit({ actor: opts.actor ?? 'system', action, target: `${tenant}/${service}`, outcome: 'ok', details: { revoked: opts.purge ? live.length : 0 } });
      return this.events.append(tx, { type: 'scope.deleted', tenant, service, at: now, details: { purged: opts.purge } });
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
    for (const id of [...this.hydrated]) {
      const [t, s] = id.split('/') as [string, string];
      if (t !== tenant || (service !== undefined && s !== service)) continue;
      scopes.evict(t, s);
      this.hydrated.delete(id);
    }
  }

  wipe(): void {
    for (const id of [...this.hydrated]) {
      const [t, s] = id.split('/') as [string, string];
      scopes.evict(t, s);
    }
    this.hydrated.clear();
  }

  private async hydrate(tenant: string, service: string): Promise<L3Version[]> {
    const rows = await this.ksi.read((tx) => this.scopeRows(tx, tenant, service));
    const l2 = await this.l2.get(tenant);
    for (const r of [...rows].sort((a, b) => (a.state === 'ACTIVE' ? 1 : 0) - (b.state === 'ACTIVE' ? 1 : 0))) {
      if (r.state === 'REVOKED') {
        scopes.setState(tenant, service, r.version, 'REVOKED');
        continue;
      }
      // L2 rotation is not implemented yet, so every L3 is under the one L2.
      if (r.l2Version !== l2.version) throw errors.internal(`L3 ${tenant}/${service}@${r.version} is under an unknown L2`);
      const handle = unwrapKey(l2.handle, r.wrapped, l3Aad(tenant, service, r.version));
      scopes.bind(tenant, service, r.version, r.state, handle);
    }
    this.hydrated.add(`${tenant}/${service}`);
    return this.fromStore(tenant, service);
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

  private row(tenant: string, service: string, version: number, l2: { version: number; handle: KeyHandle }, key: KeyHandle, now: number): L3Row {
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
