/**
 * The CMK Server's operations (ACD-402 "The Sovereign Anchor"): link and
 * unlink a tenant's L1 reference. Each is one transaction that writes the
 * link and its events through the outbox. Unlinking also emits L1.Revoke,
 * the high-priority event that makes every Core stop serving the tenant.
 */
import { errors } from '../errors.js';
import { makeEvent, type EventType, type OrbitalEvent, type Payloads } from '../protocol/orbital-events.js';
import type { ManifestView } from '../mesh/actor-runtime.js';
import type { Outbox } from '../mesh/outbox.js';
import { parsePkcs11Uri } from '../core/l1/pkcs11-uri.js';
import { requireId } from '../native/ids.js';
import type { Store } from '../storage/store.js';
import type { CmkTx, KnownTenant, L1Kind, LinkRow } from './store.js';

export const MAX_REF = 2048;

/**
 * A reference travels on the mesh and sits in two databases, so it must
 * never carry a secret: a pkcs11 URI with a pin-value is refused (the Core
 * takes its PIN from its own environment).
 */
export function checkReference(kind: unknown, ref: unknown): { kind: L1Kind; ref: string } {
  if (kind !== 'soft' && kind !== 'pkcs11') throw errors.badRequest('kind must be soft or pkcs11');
  if (typeof ref !== 'string' || ref.length === 0 || ref.length > MAX_REF)
    throw errors.badRequest(`ref must be a non-empty string of at most ${MAX_REF} characters`);
  if (kind === 'pkcs11') {
    // Checked before parsing, so that no error path could echo the PIN.
    if (/pin-value=/i.test(ref) || /pin%2dvalue/i.test(ref))
      throw errors.badRequest('a pkcs11 ref must not carry a pin-value');
    parsePkcs11Uri(ref);
  }
  return { kind, ref };
}

export class LinkManager {
  constructor(
    private readonly store: Store<CmkTx>,
    private readonly outbox: Outbox<CmkTx>,
    /** The event source: the CMK Server's id. */
    readonly source: string,
    private readonly now: () => number = Date.now,
  ) {}

  event<T extends EventType>(type: T, payload: Payloads[T]): OrbitalEvent {
    return makeEvent(type, this.source, payload, { at: this.now() }) as OrbitalEvent;
  }

  /** Links (or re-points) a tenant's L1; linking the same reference again emits nothing. */
  async link(tenantId: string, kind: unknown, ref: unknown): Promise<LinkRow & { changed: boolean }> {
    const tenant = requireId(tenantId, 'tenant');
    const r = checkReference(kind, ref);
    return this.outbox.transact<LinkRow & { changed: boolean }>(async (tx) => {
      const row = await tx.getLink(tenant);
      if (row?.state === 'LINKED' && row.kind === r.kind && row.ref === r.ref)
        return { result: { ...row, changed: false }, events: [] };
      const next: LinkRow = { tenant, ...r, state: 'LINKED', updatedAt: this.now() };
      await tx.putLink(next);
      return {
        result: { ...next, changed: true },
        events: [this.event('L1.Reference', { tenant, action: 'link', kind: r.kind, ref: r.ref })],
      };
    });
  }

  async unlink(tenantId: string): Promise<LinkRow> {
    const tenant = requireId(tenantId, 'tenant');
    return this.outbox.transact(async (tx) => {
      const row = await tx.getLink(tenant);
      if (row?.state !== 'LINKED') throw errors.notFound(`tenant ${tenant} has no linked L1`);
      const next: LinkRow = { ...row, state: 'UNLINKED', updatedAt: this.now() };
      await tx.putLink(next);
      return {
        result: next,
        events: [
          this.event('L1.Reference', { tenant, action: 'unlink' }),
          this.event('L1.Revoke', { tenant, reason: 'L1 unlinked' }),
        ],
      };
    });
  }

  links(): Promise<Array<LinkRow & { registry: KnownTenant['state'] | null }>> {
    return this.store.read(async (tx) => {
      const known = new Map((await tx.listTenants()).map((t) => [t.tenant, t.state]));
      return (await tx.listLinks()).map((l) => ({ ...l, registry: known.get(l.tenant) ?? null }));
    });
  }

  /** The last manifest of each Core, with the last audit head it published. */
  manifests(): Promise<ManifestView[]> {
    return this.store.read((tx) => tx.listManifests());
  }
}
