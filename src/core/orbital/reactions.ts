/**
 * What the Core does with each event from the Registry and the CMK Server
 * (docs/design.md section 6). Every reaction is idempotent on its own (it sets a
 * state rather than stepping one), so a redelivery that slips past the
 * handled-id check still changes nothing.
 *
 * Sovereignty: a tenant's L2 is created only once its L1 is linked, bound
 * to it from the start (the only way a pkcs11 L1 can bind it). Until then
 * the tenant and its scopes are recorded but not served; linking
 * materializes them.
 */
import type { Logger } from 'pino';
import { KryptonError } from '../../errors.js';
import type { Payloads } from '../../protocol/orbital-events.js';
import type { TenantRow } from '../../storage/ksi/ksi.js';
import type { Core } from '../core.js';

export class CoreReactions {
  constructor(
    private readonly core: Core,
    private readonly logger: Logger,
  ) {}

  async tenantDefine(p: Payloads['Tenant.Define'], actor: string): Promise<void> {
    if (p.action === 'offboard') {
      await this.core.tenants.offboard(p.tenant, actor);
      return;
    }
    const row = await this.core.tenants.recordOnboard(p.tenant, actor);
    await this.serve(row);
  }

  async keyDefine(p: Payloads['Key.Define'], actor: string): Promise<void> {
    if (p.action === 'delete') {
      await this.core.l3.remove(p.tenant, p.service, { purge: false, actor });
      return;
    }
    const rotateAfterSeconds = p.rotateAfterSeconds ?? null;
    const tenant = await this.core.tenants.get(p.tenant);
    if (tenant === null) {
      // The Registry sends Tenant.Define first; if it was lost, the next
      // manifest's drift repair sends both again.
      this.logger.warn(
        { tenant: p.tenant, service: p.service },
        'orbital: Key.Define for a tenant this Core does not know; waiting for Tenant.Define',
      );
      return;
    }
    if (await this.served(tenant)) {
      await this.core.l3.define(p.tenant, p.service, rotateAfterSeconds, actor);
      return;
    }
    // Recorded now, given keys when the tenant is served (see serve()).
    const now = this.core.clock.now();
    await this.core.ksi.tx(async (tx) => {
      const existing = await tx.getScope(p.tenant, p.service);
      await tx.putScope({
        tenant: p.tenant,
        service: p.service,
        rotateAfterSeconds,
        createdAt: existing?.createdAt ?? now,
        deleted: false,
      });
      await tx.appendAudit({
        actor,
        action: 'scope.define',
        target: `${p.tenant}/${p.service}`,
        outcome: 'ok',
        details: { rotateAfterSeconds, pending: true },
      });
    });
  }

  async keyPurge(p: Payloads['Key.Purge'], actor: string): Promise<void> {
    await this.core.l3.remove(p.tenant, p.service, { purge: true, actor });
  }

  async l1Reference(p: Payloads['L1.Reference'], actor: string): Promise<void> {
    if (p.action === 'unlink') {
      await this.revoke(p.tenant, 'L1 unlinked', actor);
      return;
    }
    // validateEvent guarantees kind and ref on a link.
    const { row, change } = await this.core.tenants.recordLink(p.tenant, { kind: p.kind!, ref: p.ref! }, actor);
    if (row.state !== 'ACTIVE') return;
    if (change === 'relinked') await this.core.l2.recoverFromSovereign(row);
    await this.serve(row);
  }

  async l1Revoke(p: Payloads['L1.Revoke'], actor: string): Promise<void> {
    await this.revoke(p.tenant, p.reason, actor);
  }

  private async revoke(tenant: string, reason: string, actor: string): Promise<void> {
    const row = await this.core.tenants.get(tenant);
    if (row === null || (row.state === 'REVOKED' && row.l1Provider === null)) return;
    await this.core.tenants.unlinkL1(tenant, actor, reason);
  }

  private async served(tenant: TenantRow): Promise<boolean> {
    if (tenant.state !== 'ACTIVE') return false;
    return (await this.core.ksi.read((tx) => tx.listL2(tenant.tenant))).length > 0;
  }

  /**
   * Makes an ACTIVE, linked tenant served: its L2 (bound to the L1, or an
   * older unbound L2 given its sovereign binding now) and an ACTIVE version
   * for every scope recorded for it.
   */
  private async serve(row: TenantRow): Promise<void> {
    if (row.state !== 'ACTIVE' || row.l1Provider === null) return;
    const l2 = await this.core.ksi.read((tx) => tx.listL2(row.tenant));
    if (l2.length === 0) await this.core.l2.ensure(row);
    else if (l2.some((r) => r.wrappedSovereign === null)) {
      try {
        await this.core.l2.bindSovereign(row);
      } catch (err) {
        // A pkcs11 L1 cannot bind an L2 that already exists (nothing leaves
        // the store); failing the event would only dead-letter it.
        if (!(err instanceof KryptonError && err.code === 'BAD_REQUEST')) throw err;
        this.logger.warn(
          { tenant: row.tenant, l1: row.l1Provider },
          'orbital: this L1 cannot bind the existing L2; it stays without a sovereign binding',
        );
      }
    }
    const scopes = await this.core.ksi.read(async (tx) => {
      const out = [];
      for (const s of await tx.listScopes(row.tenant)) {
        if (!s.deleted && !(await tx.listL3(s.tenant, s.service)).some((v) => v.state === 'ACTIVE')) out.push(s);
      }
      return out;
    });
    for (const s of scopes) await this.core.l3.define(s.tenant, s.service, s.rotateAfterSeconds, 'system');
  }
}
