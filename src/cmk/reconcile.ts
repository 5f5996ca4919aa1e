/**
 * What the CMK Server consumes, each event inside handleOnce (so what it
 * emits commits with the mark that the event was handled):
 * - Tenant.Define: records the tenant's state as the Registry says it;
 * - State.Manifest (sovereign reconciliation, ACD-402): a tenant the Core
 *   serves whose L1 is not LINKED here (unlinked, or never linked) gets
 *   L1.Revoke; a LINKED tenant missing from the manifest gets its
 *   L1.Reference link again (drift repair: a fresh Core hydrates from it),
 *   at most once per repair period to one Core (drift-repair.ts).
 *   A manifest older than one already reconciled for that Core is ignored;
 *   a fresh one's audit head is recorded, as the Registry does.
 */
import type { Logger } from 'pino';
import { recordAuditHead } from '../mesh/actor-runtime.js';
import { repairDue } from '../mesh/drift-repair.js';
import type { OrbitalEvent } from '../protocol/orbital-events.js';
import type { LinkManager } from './links.js';
import type { CmkTx } from './store.js';

export const REVOKE_UNLINKED = 'served without a linked L1';

export function cmkHandler(links: LinkManager, logger: Logger, now: () => number) {
  return async (tx: CmkTx, event: OrbitalEvent): Promise<OrbitalEvent[]> => {
    if (event.type === 'Tenant.Define') {
      const { tenant, action } = event.payload;
      await tx.putTenant({ tenant, state: action === 'onboard' ? 'ACTIVE' : 'OFFBOARDED', updatedAt: now() });
      return [];
    }
    if (event.type !== 'State.Manifest') return [];
    const m = event.payload;
    if (
      !(await tx.putManifest({
        core: m.core,
        at: m.at,
        receivedAt: now(),
        tenants: m.tenants.length,
        scopes: m.scopes.length,
      }))
    ) {
      logger.info({ core: m.core, at: m.at }, 'cmk: stale manifest ignored');
      return [];
    }
    await recordAuditHead(tx, m.core, m.audit, m.at, now(), logger, 'cmk');
    const out: OrbitalEvent[] = [];
    const served = new Set(m.tenants);
    for (const tenant of [...served].sort()) {
      const link = await tx.getLink(tenant);
      if (link?.state !== 'LINKED') out.push(links.event('L1.Revoke', { tenant, reason: REVOKE_UNLINKED }));
    }
    for (const l of await tx.listLinks('LINKED')) {
      if (served.has(l.tenant) || !(await repairDue(tx, m.core, `link:${l.tenant}`, now()))) continue;
      out.push(links.event('L1.Reference', { tenant: l.tenant, action: 'link', kind: l.kind, ref: l.ref }));
    }
    if (out.length > 0) logger.info({ core: m.core, events: out.length }, 'cmk: manifest reconciled');
    return out;
  };
}
