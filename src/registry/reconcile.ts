/**
 * Definition reconciliation (ACD-402): the Registry compares a Core's
 * State.Manifest with its intent and emits what brings the Core back in
 * line. It runs inside handleOnce, so the events it yields commit with the
 * mark that the manifest was handled: a redelivered manifest emits nothing.
 *
 * - a scope the Core serves that is DELETED here, or whose tenant is
 *   OFFBOARDED: Key.Purge;
 * - a tenant the Core serves that is OFFBOARDED here: Tenant.Define offboard;
 * - drift (how a fresh Core hydrates after region loss): a DEFINED scope of
 *   an ACTIVE tenant missing from the manifest, or an ACTIVE tenant missing
 *   from it: Tenant.Define onboard (once per tenant) and Key.Define define,
 *   each at most once per repair period to one Core (drift-repair.ts);
 * - a scope never defined here, or a tenant unknown here, is left alone and
 *   logged: the Registry only corrects what it has authority over.
 * A manifest older than one already reconciled for the same Core is
 * recorded as handled and ignored. A fresh one's audit head is recorded
 * (the anchor of `krypton core audit --head`); one behind the head on file
 * is kept out and logged as an error.
 */
import type { Logger } from 'pino';
import { recordAuditHead } from '../mesh/actor-runtime.js';
import { repairDue } from '../mesh/drift-repair.js';
import type { OrbitalEvent } from '../protocol/orbital-events.js';
import type { TenantRegistry } from './registry.js';
import type { RegistryTx, TenantRow } from './store.js';

const key = (tenant: string, service: string) => `${tenant}\u0000${service}`;

export function manifestHandler(registry: TenantRegistry, logger: Logger, now: () => number) {
  return async (tx: RegistryTx, event: OrbitalEvent): Promise<OrbitalEvent[]> => {
    if (event.type !== 'State.Manifest') return [];
    const m = event.payload;
    const fresh = await tx.putManifest({
      core: m.core,
      at: m.at,
      receivedAt: now(),
      tenants: m.tenants.length,
      scopes: m.scopes.length,
    });
    if (!fresh) {
      logger.info({ core: m.core, at: m.at }, 'registry: stale manifest ignored');
      return [];
    }
    await recordAuditHead(tx, m.core, m.audit, m.at, now(), logger, 'registry');
    const tenants = new Map<string, TenantRow | null>();
    const tenantOf = async (t: string) => {
      if (!tenants.has(t)) tenants.set(t, await tx.getTenant(t));
      return tenants.get(t)!;
    };
    const out: OrbitalEvent[] = [];
    const unknown: string[] = [];

    for (const s of m.scopes) {
      const scope = await tx.getScope(s.tenant, s.service);
      if (scope === null) {
        unknown.push(`${s.tenant}/${s.service}`);
        continue;
      }
      if (scope.state === 'DELETED' || (await tenantOf(s.tenant))?.state === 'OFFBOARDED') {
        out.push(registry.event('Key.Purge', { tenant: s.tenant, service: s.service }));
      }
    }
    for (const t of new Set(m.tenants)) {
      const row = await tenantOf(t);
      if (row === null) unknown.push(t);
      else if (row.state === 'OFFBOARDED') out.push(registry.event('Tenant.Define', { tenant: t, action: 'offboard' }));
    }

    const served = new Set(m.scopes.map((s) => key(s.tenant, s.service)));
    const servedTenants = new Set(m.tenants);
    const t0 = now();
    const missing = [];
    for (const s of await tx.listLiveScopes()) {
      if (!served.has(key(s.tenant, s.service)) && (await repairDue(tx, m.core, `scope:${s.tenant}/${s.service}`, t0)))
        missing.push(s);
    }
    const reonboard = new Set<string>();
    for (const t of await tx.listTenants()) {
      // A tenant whose scopes are sent again is sent too (the Core needs it first).
      const withScopes = missing.some((s) => s.tenant === t.tenant);
      if (t.state !== 'ACTIVE' || (!withScopes && servedTenants.has(t.tenant))) continue;
      if ((await repairDue(tx, m.core, `tenant:${t.tenant}`, t0)) || withScopes) reonboard.add(t.tenant);
    }
    // Tenants first: the Core needs the tenant before it can define its scopes.
    for (const t of [...reonboard].sort()) out.push(registry.event('Tenant.Define', { tenant: t, action: 'onboard' }));
    for (const s of missing) {
      out.push(
        registry.event('Key.Define', {
          tenant: s.tenant,
          service: s.service,
          action: 'define',
          rotateAfterSeconds: s.rotateAfterSeconds,
        }),
      );
    }

    if (unknown.length > 0)
      logger.warn(
        { core: m.core, unknown: unknown.slice(0, 20), count: unknown.length },
        'registry: manifest lists what was never defined here; left alone',
      );
    if (out.length > 0) logger.info({ core: m.core, events: out.length }, 'registry: manifest reconciled');
    return out;
  };
}
