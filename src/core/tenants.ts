/**
 * Tenants and their L1 links. Linking gives a tenant's L2 its sovereign
 * binding; unlinking makes the L2 (and every L3 under it) unusable at once:
 * the hot keys are zeroized, the IVK-side binding of a sovereign-bound L2 is
 * destroyed (only the L1 can recover it), the tenant is marked REVOKED and
 * an event goes out so Gateways drop its leases.
 */
import { errors } from '../errors.js';
import { isValidId } from '../native/index.js';
import type { Ksi, TenantRow } from '../storage/ksi/ksi.js';
import type { Clock } from './clock.js';
import type { EventLog } from './event-log.js';
import { openL1Provider } from './l1/open.js';
import type { L1Kind, L1Provider } from './l1/provider.js';
import type { L2Manager } from './l2-manager.js';
import type { L3Manager } from './l3-manager.js';

export interface L1Link {
  kind: L1Kind;
  ref: string;
}

/** Open L1 providers by tenant, opened on first use. */
export class L1Links {
  private readonly open = new Map<string, L1Provider>();

  constructor(private readonly pin?: string) {}

  async forTenant(row: TenantRow): Promise<L1Provider | null> {
    if (row.l1Provider === null || row.l1Ref === null) return null;
    const cached = this.open.get(row.tenant);
    if (cached !== undefined && cached.kind === row.l1Provider && cached.ref === row.l1Ref) return cached;
    await this.close(row.tenant);
    const p = await openL1Provider(
      row.l1Provider as L1Kind,
      row.l1Ref,
      this.pin !== undefined ? { pin: this.pin } : {},
    );
    this.open.set(row.tenant, p);
    return p;
  }

  async close(tenant: string): Promise<void> {
    const p = this.open.get(tenant);
    this.open.delete(tenant);
    await p?.close();
  }

  async closeAll(): Promise<void> {
    for (const t of [...this.open.keys()]) await this.close(t);
  }
}

export class Tenants {
  constructor(
    private readonly ksi: Ksi,
    private readonly l1: L1Links,
    private readonly l2: L2Manager,
    private readonly l3: L3Manager,
    private readonly events: EventLog,
    private readonly clock: Clock,
  ) {}

  /** Onboards a tenant (idempotent) and creates its L2, bound to its L1 when given. */
  async onboard(tenant: string, link: L1Link | null, actor = 'system'): Promise<TenantRow> {
    if (!isValidId(tenant)) throw errors.badRequest('tenant must be 1-64 characters of [A-Za-z0-9._~-]');
    const now = this.clock.now();
    const row = await this.ksi.tx(async (tx) => {
      const existing = await tx.getTenant(tenant);
      if (existing !== null && existing.state === 'ACTIVE') return existing;
      const next: TenantRow = {
        tenant,
        state: 'ACTIVE',
        l1Provider: link?.kind ?? existing?.l1Provider ?? null,
        l1Ref: link?.ref ?? existing?.l1Ref ?? null,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      await tx.putTenant(next);
      await tx.appendAudit({
        actor,
        action: 'tenant.onboard',
        target: tenant,
        outcome: 'ok',
        details: { l1: next.l1Provider },
      });
      return next;
    });
    if (link !== null) await (await this.l1.forTenant(row))?.check();
    await this.l2.ensure(row);
    return row;
  }

  /**
   * Re-links a tenant's L1 and recovers its L2 through the sovereign
   * binding (the L1 must be the one the L2 was bound to).
   */
  async linkL1(tenant: string, link: L1Link, actor = 'system'): Promise<void> {
    const now = this.clock.now();
    const { row, event } = await this.ksi.tx(async (tx) => {
      const existing = await tx.getTenant(tenant);
      if (existing === null) throw errors.badRequest(`unknown tenant ${tenant}`);
      const next: TenantRow = { ...existing, state: 'ACTIVE', l1Provider: link.kind, l1Ref: link.ref, updatedAt: now };
      await tx.putTenant(next);
      await tx.appendAudit({ actor, action: 'l1.link', target: tenant, outcome: 'ok', details: { kind: link.kind } });
      const restored =
        existing.state === 'REVOKED'
          ? await this.events.append(tx, { type: 'tenant.restored', tenant, at: now })
          : null;
      return { row: next, event: restored };
    });
    await this.l2.recoverFromSovereign(row);
    if (event !== null) this.events.publish([event]);
  }

  /** Unlinks the tenant's L1: its keys become unusable now, everywhere. */
  async unlinkL1(tenant: string, actor = 'system', reason = 'L1 unlinked'): Promise<void> {
    const now = this.clock.now();
    const event = await this.ksi.tx(async (tx) => {
      const existing = await tx.getTenant(tenant);
      if (existing === null) throw errors.badRequest(`unknown tenant ${tenant}`);
      await tx.putTenant({ ...existing, state: 'REVOKED', l1Provider: null, l1Ref: null, updatedAt: now });
      // Crypto-shred the IVK-side binding of every L2 the L1 also binds:
      // from now on only the customer's L1 can bring it back (a relink
      // recovers it through the sovereign binding). An L2 that never had a
      // sovereign binding keeps its only copy: destroying it would destroy
      // the tenant's data on a word that may be a mistake.
      let shredded = 0;
      for (const row of await tx.listL2(tenant)) {
        if (row.wrappedSovereign === null || row.wrappedActive.length === 0) continue;
        await tx.updateL2({ ...row, wrappedActive: Buffer.alloc(0) });
        shredded++;
      }
      await tx.appendAudit({
        actor,
        action: 'l1.unlink',
        target: tenant,
        outcome: 'ok',
        details: { reason, shredded },
      });
      return this.events.append(tx, { type: 'tenant.revoked', tenant, at: now, details: { reason } });
    });
    this.l3.evict(tenant);
    this.l2.evict(tenant);
    await this.l1.close(tenant);
    this.events.publish([event]);
  }

  /**
   * Offboards a tenant (the Registry's word): it is no longer served, its hot
   * keys are zeroized and Gateways drop its leases. Its keys stay in the KSI,
   * so onboarding it again serves the same versions. Idempotent.
   */
  async offboard(tenant: string, actor = 'system'): Promise<boolean> {
    const now = this.clock.now();
    const event = await this.ksi.tx(async (tx) => {
      const existing = await tx.getTenant(tenant);
      if (existing === null || existing.state === 'OFFBOARDED') return null;
      await tx.putTenant({ ...existing, state: 'OFFBOARDED', updatedAt: now });
      await tx.appendAudit({ actor, action: 'tenant.offboard', target: tenant, outcome: 'ok' });
      return this.events.append(tx, { type: 'tenant.revoked', tenant, at: now, details: { reason: 'offboarded' } });
    });
    if (event === null) return false;
    this.l3.evict(tenant);
    this.l2.evict(tenant);
    await this.l1.close(tenant);
    this.events.publish([event]);
    return true;
  }

  /**
   * Records the L1 the CMK Server links a tenant to, whatever the order the
   * events arrive in: a tenant the Registry has not onboarded yet is kept
   * OFFBOARDED (known, not served) with its link, until Tenant.Define comes.
   * A REVOKED tenant becomes ACTIVE again (relink). Says what changed.
   */
  async recordLink(
    tenant: string,
    link: L1Link,
    actor = 'system',
  ): Promise<{ row: TenantRow; change: 'none' | 'linked' | 'relinked' }> {
    const now = this.clock.now();
    const result = await this.ksi.tx(async (tx) => {
      const existing = await tx.getTenant(tenant);
      if (
        existing !== null &&
        existing.state !== 'REVOKED' &&
        existing.l1Provider === link.kind &&
        existing.l1Ref === link.ref
      ) {
        return { row: existing, change: 'none' as const, event: null };
      }
      const next: TenantRow = {
        tenant,
        state: existing === null ? 'OFFBOARDED' : existing.state === 'REVOKED' ? 'ACTIVE' : existing.state,
        l1Provider: link.kind,
        l1Ref: link.ref,
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      await tx.putTenant(next);
      await tx.appendAudit({ actor, action: 'l1.link', target: tenant, outcome: 'ok', details: { kind: link.kind } });
      const relinked = existing?.state === 'REVOKED';
      // Gateways forget the refusals they cached for it, so it is served at once.
      const event = relinked ? await this.events.append(tx, { type: 'tenant.restored', tenant, at: now }) : null;
      return { row: next, change: relinked ? ('relinked' as const) : ('linked' as const), event };
    });
    if (result.event !== null) this.events.publish([result.event]);
    return { row: result.row, change: result.change };
  }

  /** Onboards on the Registry's word without touching the L1 link; says whether it is now ACTIVE. */
  async recordOnboard(tenant: string, actor = 'system'): Promise<TenantRow> {
    const now = this.clock.now();
    return this.ksi.tx(async (tx) => {
      const existing = await tx.getTenant(tenant);
      // REVOKED stays REVOKED: only the CMK Server (a relink) lifts it.
      if (existing !== null && existing.state !== 'OFFBOARDED') return existing;
      const next: TenantRow =
        existing === null
          ? { tenant, state: 'ACTIVE', l1Provider: null, l1Ref: null, createdAt: now, updatedAt: now }
          : { ...existing, state: 'ACTIVE', updatedAt: now };
      await tx.putTenant(next);
      await tx.appendAudit({
        actor,
        action: 'tenant.onboard',
        target: tenant,
        outcome: 'ok',
        details: { l1: next.l1Provider },
      });
      return next;
    });
  }

  get(tenant: string): Promise<TenantRow | null> {
    return this.ksi.read((tx) => tx.getTenant(tenant));
  }

  list(): Promise<TenantRow[]> {
    return this.ksi.read((tx) => tx.listTenants());
  }
}
