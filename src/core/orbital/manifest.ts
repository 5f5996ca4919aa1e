/**
 * The State.Manifest a Core emits (ACD-402 drift detection): the tenants it
 * serves (ACTIVE, with an L2) and their scopes that have an ACTIVE version.
 * The Registry compares the scopes with its definitions (Key.Purge, or
 * definitions sent again); the CMK Server compares the tenants with its
 * links (L1.Revoke, or links sent again).
 */
import type { Payloads } from '../../mesh/events.js';
import type { Ksi } from '../../storage/ksi.js';

export async function buildManifest(ksi: Ksi, core: string, at: number): Promise<Payloads['State.Manifest']> {
  return ksi.read(async (tx) => {
    const tenants: string[] = [];
    const scopes: Array<{ tenant: string; service: string }> = [];
    for (const t of await tx.listTenants()) {
      if (t.state !== 'ACTIVE' || (await tx.listL2(t.tenant)).length === 0) continue;
      tenants.push(t.tenant);
      for (const s of await tx.listScopes(t.tenant)) {
        if (!s.deleted && (await tx.listL3(t.tenant, s.service)).some((v) => v.state === 'ACTIVE')) scopes.push({ tenant: t.tenant, service: s.service });
      }
    }
    return { core, tenants, scopes, at };
  });
}
