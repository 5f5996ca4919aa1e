/**
 * The State.Manifest a Core emits (ACD-402 drift detection): the tenants it
 * serves (ACTIVE, with an L2) and their scopes that have an ACTIVE version.
 * The Registry compares the scopes with its definitions (Key.Purge, or
 * definitions sent again); the CMK Server compares the tenants with its
 * links (L1.Revoke, or links sent again). It carries the head of the
 * Core's audit chain (seq and keyed link of the last row), which the
 * receivers record: the anchor a truncated or rewritten tail cannot reach.
 */
import type { Payloads } from '../../protocol/orbital-events.js';
import type { Ksi } from '../../storage/ksi/ksi.js';

export async function buildManifest(ksi: Ksi, core: string, at: number): Promise<Payloads['State.Manifest']> {
  return ksi.read(async (tx) => {
    const tenants: string[] = [];
    const scopes: Array<{ tenant: string; service: string }> = [];
    for (const t of await tx.listTenants()) {
      if (t.state !== 'ACTIVE' || (await tx.listL2(t.tenant)).length === 0) continue;
      tenants.push(t.tenant);
      for (const s of await tx.listScopes(t.tenant)) {
        if (!s.deleted && (await tx.listL3(t.tenant, s.service)).some((v) => v.state === 'ACTIVE'))
          scopes.push({ tenant: t.tenant, service: s.service });
      }
    }
    const head = await tx.lastAudit();
    return { core, tenants, scopes, at, ...(head !== null ? { audit: { seq: head.seq, hash: head.hash } } : {}) };
  });
}
