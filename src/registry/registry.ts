/**
 * The Registry's operations (ACD-402 "The Architect"): tenants and the
 * scopes they define. Each operation is one transaction that writes the
 * new state and its events through the outbox, so an event is sent if and
 * only if its change committed. An operation that changes nothing emits
 * nothing: repeating a command is harmless.
 */
import { errors } from '../errors.js';
import { makeEvent, type EventType, type OrbitalEvent, type Payloads } from '../protocol/orbital-events.js';
import type { Outbox } from '../mesh/outbox.js';
import type { ManifestView } from '../mesh/actor-runtime.js';
import { requireId } from '../native/ids.js';
import type { Store } from '../storage/store.js';
import type { RegistryTx, ScopeRow, TenantRow } from './store.js';

/** Shorter periods would have the Core rotating faster than gateways refresh their leases. */
export const MIN_ROTATE_AFTER_SECONDS = 60;

export function checkRotateAfter(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < MIN_ROTATE_AFTER_SECONDS) {
    throw errors.badRequest(`rotateAfterSeconds must be an integer >= ${MIN_ROTATE_AFTER_SECONDS}, or null`);
  }
  return v;
}

export interface TenantView {
  tenant: string;
  state: TenantRow['state'];
  createdAt: number;
  updatedAt: number;
  scopes: Array<Omit<ScopeRow, 'tenant'>>;
}

/** What an operation did: `changed` is false when the state already was as asked (and no event went out). */
export interface Outcome {
  changed: boolean;
}

export class TenantRegistry {
  constructor(
    private readonly store: Store<RegistryTx>,
    private readonly outbox: Outbox<RegistryTx>,
    /** The event source: the Registry's id. */
    readonly source: string,
    private readonly now: () => number = Date.now,
  ) {}

  event<T extends EventType>(type: T, payload: Payloads[T]): OrbitalEvent {
    return makeEvent(type, this.source, payload, { at: this.now() }) as OrbitalEvent;
  }

  async onboard(tenantId: string): Promise<TenantView & Outcome> {
    const tenant = requireId(tenantId, 'tenant');
    return this.outbox.transact<TenantView & Outcome>(async (tx) => {
      const t = this.now();
      const row = await tx.getTenant(tenant);
      if (row?.state === 'ACTIVE') return { result: { ...(await this.view(tx, row)), changed: false }, events: [] };
      const next: TenantRow = { tenant, state: 'ACTIVE', createdAt: row?.createdAt ?? t, updatedAt: t };
      await tx.putTenant(next);
      return {
        result: { ...(await this.view(tx, next)), changed: true },
        events: [this.event('Tenant.Define', { tenant, action: 'onboard' })],
      };
    });
  }

  async offboard(tenantId: string): Promise<TenantView & Outcome> {
    const tenant = requireId(tenantId, 'tenant');
    return this.outbox.transact<TenantView & Outcome>(async (tx) => {
      const t = this.now();
      const row = await this.tenant(tx, tenant);
      if (row.state === 'OFFBOARDED') return { result: { ...(await this.view(tx, row)), changed: false }, events: [] };
      const next: TenantRow = { ...row, state: 'OFFBOARDED', updatedAt: t };
      await tx.putTenant(next);
      // One offboard event covers the scopes: the Core drops a tenant whole.
      await tx.deleteScopesOf(tenant, t);
      return {
        result: { ...(await this.view(tx, next)), changed: true },
        events: [this.event('Tenant.Define', { tenant, action: 'offboard' })],
      };
    });
  }

  async defineScope(tenantId: string, serviceId: string, rotateAfter: unknown): Promise<ScopeRow & Outcome> {
    const tenant = requireId(tenantId, 'tenant');
    const service = requireId(serviceId, 'service');
    const rotateAfterSeconds = checkRotateAfter(rotateAfter);
    return this.outbox.transact<ScopeRow & Outcome>(async (tx) => {
      const t = this.now();
      const owner = await this.tenant(tx, tenant);
      if (owner.state !== 'ACTIVE') throw errors.badRequest(`tenant ${tenant} is offboarded; onboard it again first`);
      const row = await tx.getScope(tenant, service);
      if (row?.state === 'DEFINED' && row.rotateAfterSeconds === rotateAfterSeconds)
        return { result: { ...row, changed: false }, events: [] };
      const next: ScopeRow = {
        tenant,
        service,
        rotateAfterSeconds,
        state: 'DEFINED',
        createdAt: row?.createdAt ?? t,
        updatedAt: t,
      };
      await tx.putScope(next);
      return {
        result: { ...next, changed: true },
        events: [this.event('Key.Define', { tenant, service, action: 'define', rotateAfterSeconds })],
      };
    });
  }

  async deleteScope(tenantId: string, serviceId: string): Promise<ScopeRow & Outcome> {
    const tenant = requireId(tenantId, 'tenant');
    const service = requireId(serviceId, 'service');
    return this.outbox.transact<ScopeRow & Outcome>(async (tx) => {
      await this.tenant(tx, tenant);
      const row = await tx.getScope(tenant, service);
      if (row === null) throw errors.notFound(`scope ${tenant}/${service} is not defined`);
      if (row.state === 'DELETED') return { result: { ...row, changed: false }, events: [] };
      const next: ScopeRow = { ...row, state: 'DELETED', updatedAt: this.now() };
      await tx.putScope(next);
      return {
        result: { ...next, changed: true },
        events: [this.event('Key.Define', { tenant, service, action: 'delete' })],
      };
    });
  }

  /** Every tenant with its scopes. */
  list(): Promise<TenantView[]> {
    return this.store.read(async (tx) => {
      const scopes = await tx.listScopes();
      return (await tx.listTenants()).map((t) => ({
        ...t,
        scopes: scopes.filter((s) => s.tenant === t.tenant).map(({ tenant: _, ...s }) => s),
      }));
    });
  }

  /** The last manifest of each Core, with the last audit head it published. */
  manifests(): Promise<ManifestView[]> {
    return this.store.read((tx) => tx.listManifests());
  }

  private async tenant(tx: RegistryTx, tenant: string): Promise<TenantRow> {
    const row = await tx.getTenant(tenant);
    if (row === null) throw errors.notFound(`tenant ${tenant} is not onboarded`);
    return row;
  }

  private async view(tx: RegistryTx, t: TenantRow): Promise<TenantView> {
    return { ...t, scopes: (await tx.listScopes(t.tenant)).map(({ tenant: _, ...s }) => s) };
  }
}
