/**
 * The IVK manager (ADR-304). IVKs are the region's internal versioned keys,
 * wrapped under the MasterKey, each with an authenticated header.
 *
 * - Tier 1: ACTIVE and GRACE versions as handles in the addon's arena.
 * - Tier 2: DEPRECATED versions as files on local disk (still wrapped),
 *   faulted in on demand and dropped again after a short while.
 * - Tier 3: the KSI, the source of truth.
 *
 * Rotation happens on schedule, on demand and after a wrap count; a rotated
 * version stays in GRACE (24 h by default) and is then evicted to tier 2.
 * A header whose HMAC does not verify is refused and reported, never used.
 */
import { errors } from '../errors.js';
import { destroyKey, generateKey, unwrapKey, wrapKey, type KeyHandle } from '../native/index.js';
import type { IvkRow, Ksi } from '../storage/ksi/ksi.js';
import { DAY_MS, type Clock } from './clock.js';
import { headerIntact, ivkAad, macHeader } from './ivk-header.js';
import { IvkTier2 } from './ivk-tier2.js';
import type { MasterKey } from './master-key.js';

export interface IvkPolicy {
  graceMs: number;
  /** Rotate when the ACTIVE version is this old; null: never on schedule. */
  rotationPeriodMs: number | null;
  /** Rotate after this many wraps under the ACTIVE version; null: no limit. */
  maxWraps: number | null;
  /** Hard expiry after creation: the version is revoked and purged then. */
  lifetimeMs: number;
  /** How long a faulted-in DEPRECATED version stays in memory. */
  faultTtlMs: number;
}

export const DEFAULT_IVK_POLICY: IvkPolicy = {
  graceMs: DAY_MS,
  rotationPeriodMs: 30 * DAY_MS,
  maxWraps: 1_000_000,
  lifetimeMs: 2 * 365 * DAY_MS,
  faultTtlMs: 60_000,
};

export type TamperReport = { source: 'ksi' | 'tier2'; version: number };

export interface IvkStatus {
  version: number;
  state: IvkRow['state'];
  tier: 1 | 2 | 3;
  createdAt: number;
  graceUntil: number | null;
  hardExpiry: number;
  wrapCount: number;
}

export class IvkManager {
  private readonly tier1 = new Map<number, KeyHandle>();
  private readonly faulted = new Map<number, { handle: KeyHandle; until: number }>();
  private readonly tier2: IvkTier2;
  private activeVersion = 0;

  constructor(
    private readonly ksi: Ksi,
    private readonly master: MasterKey,
    private readonly clock: Clock,
    private readonly policy: IvkPolicy,
    tier2Dir: string,
    private readonly onTamper: (r: TamperReport) => void,
  ) {
    this.tier2 = new IvkTier2(tier2Dir);
    master.onSeal(() => this.wipe());
  }

  /** After unseal: verifies every header, loads tier 1, writes tier 2, creates v1 if there is none. */
  async bootstrap(): Promise<void> {
    const rows = await this.ksi.read((tx) => tx.listIvks());
    for (const row of rows) {
      if (!this.intact(row, 'ksi')) continue;
      if (row.state === 'ACTIVE' || row.state === 'GRACE') {
        this.load(row);
        if (row.state === 'ACTIVE') this.activeVersion = row.version;
      } else if (row.state === 'DEPRECATED' && this.tier2.read(row.version) === null) {
        this.tier2.write(row);
      }
    }
    if (this.activeVersion === 0 && !rows.some((r) => r.state === 'ACTIVE')) await this.rotate('bootstrap');
  }

  get active(): number {
    return this.activeVersion;
  }

  /** Wraps `target` under the ACTIVE IVK and counts the wrap. */
  async wrap(target: KeyHandle, aad: Uint8Array): Promise<{ ivkVersion: number; wrapped: Buffer }> {
    const version = this.activeVersion;
    const handle = this.tier1.get(version);
    if (handle === undefined) throw errors.keyUnavailable('no usable ACTIVE IVK');
    const wrapped = wrapKey(handle, target, aad);
    await this.ksi.tx(async (tx) => {
      const row = await tx.getIvk(version);
      if (row !== null) await tx.updateIvk({ ...row, wrapCount: row.wrapCount + 1 });
    });
    return { ivkVersion: version, wrapped };
  }

  /** Unwraps a key wrapped under IVK `version`, faulting that version in if needed. */
  async unwrap(version: number, wrapped: Uint8Array, aad: Uint8Array): Promise<KeyHandle> {
    return unwrapKey(await this.handleFor(version), wrapped, aad);
  }

  /** Adds a new ACTIVE version; the previous ACTIVE enters GRACE. */
  async rotate(reason: string): Promise<number> {
    const mac = this.master.headerMacKey();
    const masterKey = this.master.key();
    const now = this.clock.now();
    const key = generateKey(32);
    let version: number;
    try {
      version = await this.ksi.tx(async (tx) => {
        const rows = await tx.listIvks();
        const next = rows.reduce((m, r) => Math.max(m, r.version), 0) + 1;
        const current = rows.find((r) => r.state === 'ACTIVE');
        if (current !== undefined) {
          await tx.updateIvk(this.seal(mac, { ...current, state: 'GRACE', graceUntil: now + this.policy.graceMs }));
        }
        await tx.insertIvk(
          this.seal(mac, {
            version: next,
            state: 'ACTIVE',
            createdAt: now,
            graceUntil: null,
            hardExpiry: now + this.policy.lifetimeMs,
            wrapped: wrapKey(masterKey, key, ivkAad(next)),
            mac: Buffer.alloc(0),
            wrapCount: 0,
          }),
        );
        await tx.appendAudit({
          actor: 'system',
          action: 'ivk.rotate',
          target: `ivk@${next}`,
          outcome: 'ok',
          details: { reason },
        });
        return next;
      });
    } catch (err) {
      destroyKey(key);
      throw err;
    }
    this.tier1.set(version, key);
    this.activeVersion = version;
    return version;
  }

  /**
   * Time-driven work: GRACE past its end goes to DEPRECATED (tier 1 -> tier
   * 2), scheduled and wrap-count rotation, hard expiry, and dropping
   * faulted-in versions whose time is up.
   */
  async tick(): Promise<void> {
    const now = this.clock.now();
    for (const [v, f] of this.faulted) {
      if (f.until <= now) {
        destroyKey(f.handle);
        this.faulted.delete(v);
      }
    }
    const rows = await this.ksi.read((tx) => tx.listIvks());
    for (const row of rows) {
      if (!this.intact(row, 'ksi')) continue;
      if (row.state === 'GRACE' && row.graceUntil !== null && row.graceUntil <= now) await this.deprecate(row);
      else if (row.state !== 'REVOKED' && row.hardExpiry <= now) await this.expire(row);
    }
    const active = rows.find((r) => r.state === 'ACTIVE');
    if (active === undefined || this.master.sealed) return;
    const old = this.policy.rotationPeriodMs !== null && now - active.createdAt >= this.policy.rotationPeriodMs;
    const worn = this.policy.maxWraps !== null && active.wrapCount >= this.policy.maxWraps;
    if (old || worn) await this.rotate(old ? 'schedule' : 'wrap-count');
  }

  status(): Promise<IvkStatus[]> {
    return this.ksi.read(async (tx) =>
      (await tx.listIvks()).map((r) => ({
        version: r.version,
        state: r.state,
        tier: this.tier1.has(r.version) ? 1 : this.tier2.read(r.version) !== null ? 2 : 3,
        createdAt: r.createdAt,
        graceUntil: r.graceUntil,
        hardExpiry: r.hardExpiry,
        wrapCount: r.wrapCount,
      })),
    );
  }

  /** Zeroizes tier 1 and faulted-in versions (MasterKey wipe). */
  wipe(): void {
    for (const h of this.tier1.values()) destroyKey(h);
    for (const f of this.faulted.values()) destroyKey(f.handle);
    this.tier1.clear();
    this.faulted.clear();
    this.activeVersion = 0;
  }

  private async handleFor(version: number): Promise<KeyHandle> {
    const hot = this.tier1.get(version) ?? this.faulted.get(version)?.handle;
    if (hot !== undefined) return hot;
    // Tier 2, then tier 3 (a deep fetch); both verified before use.
    let row = this.tier2.read(version);
    if (row !== null && !this.intact(row, 'tier2')) row = null;
    if (row === null) {
      row = await this.ksi.read((tx) => tx.getIvk(version));
      if (row === null || !this.intact(row, 'ksi')) throw errors.keyUnavailable(`IVK version ${version} is not usable`);
      if (row.state === 'DEPRECATED') this.tier2.write(row);
    }
    if (row.state === 'REVOKED') throw errors.keyRevoked();
    const handle = unwrapKey(this.master.key(), row.wrapped, ivkAad(version));
    this.faulted.set(version, { handle, until: this.clock.now() + this.policy.faultTtlMs });
    return handle;
  }

  private async deprecate(row: IvkRow): Promise<void> {
    const updated = this.seal(this.master.headerMacKey(), { ...row, state: 'DEPRECATED', graceUntil: null });
    await this.ksi.tx(async (tx) => {
      await tx.updateIvk(updated);
      await tx.appendAudit({ actor: 'system', action: 'ivk.deprecate', target: `ivk@${row.version}`, outcome: 'ok' });
    });
    this.tier2.write(updated);
    const h = this.tier1.get(row.version);
    if (h !== undefined) destroyKey(h);
    this.tier1.delete(row.version);
  }

  private async expire(row: IvkRow): Promise<void> {
    const updated = this.seal(this.master.headerMacKey(), { ...row, state: 'REVOKED', graceUntil: null });
    await this.ksi.tx(async (tx) => {
      await tx.updateIvk(updated);
      await tx.appendAudit({ actor: 'system', action: 'ivk.expire', target: `ivk@${row.version}`, outcome: 'ok' });
    });
    this.tier2.remove(row.version);
    const hot = this.tier1.get(row.version) ?? this.faulted.get(row.version)?.handle;
    if (hot !== undefined) destroyKey(hot);
    this.tier1.delete(row.version);
    this.faulted.delete(row.version);
  }

  private load(row: IvkRow): void {
    if (!this.tier1.has(row.version))
      this.tier1.set(row.version, unwrapKey(this.master.key(), row.wrapped, ivkAad(row.version)));
  }

  private seal(macKey: KeyHandle, row: IvkRow): IvkRow {
    return { ...row, mac: macHeader(macKey, row) };
  }

  private intact(row: IvkRow, source: TamperReport['source']): boolean {
    if (headerIntact(this.master.headerMacKey(), row)) return true;
    this.onTamper({ source, version: row.version });
    return false;
  }
}
