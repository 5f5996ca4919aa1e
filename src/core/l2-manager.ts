/**
 * L2 tenant keys. Each has two bindings: active (wrapped under an IVK) and
 * sovereign (wrapped under the tenant's L1). Hydration is lazy, and a key
 * found under an older IVK is re-wrapped onto the newest one when it is
 * hydrated. A tenant whose L1 is unlinked has no usable L2.
 */
import { errors, KryptonError } from '../errors.js';
import { destroyKey, generateKey, type KeyHandle } from '../native/index.js';
import type { Ksi, L2Row, TenantRow } from '../storage/ksi/ksi.js';
import type { Clock } from './clock.js';
import type { IvkManager } from './ivk-manager.js';
import type { L1Provider } from './l1/provider.js';

export const l2Aad = (tenant: string, version: number): Buffer => Buffer.from(`krypton:l2:${tenant}@${version}`);

/** Opens the L1 a tenant row points at; null when none is linked. */
export type L1Resolver = (tenant: TenantRow) => Promise<L1Provider | null>;

export class L2Manager {
  private readonly hot = new Map<string, { version: number; handle: KeyHandle }>();
  private readonly inflight = new Map<string, Promise<{ version: number; handle: KeyHandle }>>();
  /**
   * Cache generations: every eviction stamps its tenant with the next value
   * of one counter, and a wipe stamps them all. A hydration that sees its
   * tenant's generation change across its awaits caches nothing (review H3).
   */
  private evictions = 0;
  private readonly evictedAt = new Map<string, number>();
  private wipedAt = 0;

  constructor(
    private readonly ksi: Ksi,
    private readonly ivk: IvkManager,
    private readonly l1: L1Resolver,
    private readonly clock: Clock,
  ) {}

  /** Creates the tenant's L2 v1 (bound to its L1 when one is linked); idempotent. */
  async ensure(tenant: TenantRow): Promise<void> {
    if ((await this.ksi.read((tx) => tx.listL2(tenant.tenant))).length > 0) return;
    const provider = await this.l1(tenant);
    const aad = l2Aad(tenant.tenant, 1);
    let handle: KeyHandle;
    let wrappedSovereign: Buffer | null = null;
    if (provider !== null) {
      ({ handle, wrapped: wrappedSovereign } = await provider.generateWrapped(aad));
    } else {
      handle = generateKey(32);
    }
    try {
      const { ivkVersion, wrapped } = await this.ivk.wrap(handle, aad);
      const row: L2Row = {
        tenant: tenant.tenant,
        version: 1,
        ivkVersion,
        wrappedActive: wrapped,
        wrappedSovereign,
        createdAt: this.clock.now(),
      };
      await this.ksi.tx(async (tx) => {
        if ((await tx.listL2(tenant.tenant)).length > 0) return;
        await tx.insertL2(row);
        await tx.appendAudit({
          actor: 'system',
          action: 'l2.create',
          target: tenant.tenant,
          outcome: 'ok',
          details: { sovereign: provider !== null },
        });
      });
    } finally {
      destroyKey(handle);
    }
  }

  /** The tenant's current L2 in the store (hydrated once, single-flight). */
  async get(tenant: string): Promise<{ version: number; handle: KeyHandle }> {
    const hot = this.hot.get(tenant);
    if (hot !== undefined) return hot;
    let p = this.inflight.get(tenant);
    if (p === undefined) {
      p = this.hydrate(tenant).finally(() => this.inflight.delete(tenant));
      this.inflight.set(tenant, p);
    }
    return p;
  }

  /**
   * Recovers the L2 through its sovereign binding (the IVK chain is lost, or
   * the tenant's L1 was relinked) and re-binds it under the newest IVK.
   */
  async recoverFromSovereign(tenant: TenantRow): Promise<void> {
    const provider = await this.l1(tenant);
    if (provider === null) throw errors.keyUnavailable(`tenant ${tenant.tenant} has no linked L1`);
    const rows = await this.ksi.read((tx) => tx.listL2(tenant.tenant));
    for (const row of rows) {
      if (row.wrappedSovereign === null) continue;
      const aad = l2Aad(row.tenant, row.version);
      const handle = await provider.unwrap(row.wrappedSovereign, aad);
      try {
        const { ivkVersion, wrapped } = await this.ivk.wrap(handle, aad);
        await this.ksi.tx(async (tx) => {
          await tx.updateL2({ ...row, ivkVersion, wrappedActive: wrapped });
          await tx.appendAudit({
            actor: 'system',
            action: 'l2.recover',
            target: `${row.tenant}@${row.version}`,
            outcome: 'ok',
          });
        });
      } finally {
        destroyKey(handle);
      }
    }
    this.evict(tenant.tenant);
  }

  /**
   * Gives every L2 of the tenant that has no sovereign binding one under its
   * (newly linked) L1, so unlinking that L1 later makes them unrecoverable.
   * The L2 is unwrapped from its active binding into the store and wrapped
   * there: it never leaves the store. A pkcs11 L1 cannot do this (no export
   * from the store) and says so (BAD_REQUEST).
   */
  async bindSovereign(tenant: TenantRow): Promise<number> {
    const provider = await this.l1(tenant);
    if (provider === null) throw errors.keyUnavailable(`tenant ${tenant.tenant} has no linked L1`);
    const rows = (await this.ksi.read((tx) => tx.listL2(tenant.tenant))).filter((r) => r.wrappedSovereign === null);
    for (const row of rows) {
      const aad = l2Aad(row.tenant, row.version);
      const handle = await this.ivk.unwrap(row.ivkVersion, row.wrappedActive, aad);
      try {
        const wrappedSovereign = await provider.wrap(handle, aad);
        await this.ksi.tx(async (tx) => {
          await tx.updateL2({ ...row, wrappedSovereign });
          await tx.appendAudit({
            actor: 'system',
            action: 'l2.bind',
            target: `${row.tenant}@${row.version}`,
            outcome: 'ok',
            details: { l1: provider.kind },
          });
        });
      } finally {
        destroyKey(handle);
      }
    }
    return rows.length;
  }

  evict(tenant: string): void {
    this.evictedAt.set(tenant, ++this.evictions);
    const hot = this.hot.get(tenant);
    if (hot !== undefined) destroyKey(hot.handle);
    this.hot.delete(tenant);
  }

  wipe(): void {
    for (const t of [...this.hot.keys()]) this.evict(t);
    // One stamp newer than every tenant's stands for them all.
    this.evictedAt.clear();
    this.wipedAt = ++this.evictions;
  }

  /**
   * The tenant's cache generation: it changes whenever the tenant's L2 is
   * evicted (unlink, offboard, relink) or every key is wiped (seal). Work
   * that read the tenant's state before an await compares it after.
   */
  generation(tenant: string): number {
    return Math.max(this.evictedAt.get(tenant) ?? 0, this.wipedAt);
  }

  /** Whether the tenant's L2 is in memory now. */
  isHot(tenant: string): boolean {
    return this.hot.has(tenant);
  }

  /**
   * Loads the L2 and caches it, unless the tenant was evicted while it
   * loaded: an unlink or offboard that commits inside the awaits evicts
   * nothing (the key is not cached yet), so caching afterwards would serve a
   * revoked tenant. Then the key is destroyed and loaded again, and the
   * tenant's state as it is now decides.
   */
  private async hydrate(tenant: string): Promise<{ version: number; handle: KeyHandle }> {
    for (let attempt = 1; ; attempt++) {
      const generation = this.generation(tenant);
      const entry = await this.load(tenant);
      if (this.generation(tenant) === generation) {
        this.hot.set(tenant, entry);
        return entry;
      }
      destroyKey(entry.handle);
      if (attempt >= MAX_LOADS)
        throw errors.keyUnavailable(`tenant ${tenant}'s key changed while it was loading; try again`);
    }
  }

  /** The tenant's current L2 from the KSI into the store (not cached): KEY_REVOKED unless the tenant is ACTIVE. */
  private async load(tenant: string): Promise<{ version: number; handle: KeyHandle }> {
    const { row, rows } = await this.ksi.read(async (tx) => ({
      row: await tx.getTenant(tenant),
      rows: await tx.listL2(tenant),
    }));
    if (row === null) throw errors.keyUnavailable(`unknown tenant ${tenant}`);
    assertServed(row);
    const latest = rows.at(-1);
    if (latest === undefined) throw errors.keyUnavailable(`tenant ${tenant} has no L2`);
    if (latest.wrappedActive.length === 0)
      throw new KryptonError(
        'KEY_REVOKED',
        `tenant ${tenant}'s L2 is held only under its L1: relink the L1 to recover it`,
      );
    const aad = l2Aad(tenant, latest.version);
    const handle = await this.ivk.unwrap(latest.ivkVersion, latest.wrappedActive, aad);
    try {
      if (latest.ivkVersion !== this.ivk.active) {
        // Lazy re-wrap onto the newest IVK, so old IVKs can retire.
        const { ivkVersion, wrapped } = await this.ivk.wrap(handle, aad);
        await this.ksi.tx(async (tx) => {
          // Read again under the transaction: an unlink that committed since
          // shredded this binding, and writing it back would undo the shred.
          const now = await tx.getTenant(tenant);
          if (now === null) throw errors.keyUnavailable(`unknown tenant ${tenant}`);
          assertServed(now);
          const current = (await tx.listL2(tenant)).find((r) => r.version === latest.version);
          // Changed meanwhile (another Core re-wrapped it, a recovery re-bound it): theirs stands.
          if (
            current === undefined ||
            current.ivkVersion !== latest.ivkVersion ||
            !current.wrappedActive.equals(latest.wrappedActive)
          )
            return;
          await tx.updateL2({ ...current, ivkVersion, wrappedActive: wrapped });
        });
      }
    } catch (err) {
      destroyKey(handle);
      throw err;
    }
    return { version: latest.version, handle };
  }
}

/** How often a hydration starts over after an eviction raced it, before giving up (KEY_UNAVAILABLE, transient). */
const MAX_LOADS = 3;

function assertServed(row: TenantRow): void {
  // Final, not transient: a Gateway must not retry it (nor count it
  // against its circuit breaker, which guards every tenant's leases).
  if (row.state !== 'ACTIVE')
    throw new KryptonError(
      'KEY_REVOKED',
      `tenant ${row.tenant} is ${row.state.toLowerCase()}: its keys are not served`,
    );
}
