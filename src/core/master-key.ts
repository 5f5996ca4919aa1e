/**
 * The MasterKey (L0): created once, split into Shamir shares, and held only
 * in the addon's arena while the Core is unsealed. A sealed Core knows the
 * MasterKey's key check value (KCV) and nothing else.
 */
import { timingSafeEqual } from 'node:crypto';
import { KryptonError, errors } from '../errors.js';
import {
  combineShares,
  deriveKey,
  destroyKey,
  generateKey,
  hmacSha256,
  splitKey,
  type KeyHandle,
} from '../native/index.js';
import type { Ksi, MasterRow } from '../storage/ksi/ksi.js';
import type { Clock } from './clock.js';

const KCV_LABEL = Buffer.from('krypton:kcv:v1');

export interface SealStatus {
  initialized: boolean;
  sealed: boolean;
  threshold: number;
  shares: number;
  /** Distinct shares submitted towards the next unseal. */
  progress: number;
}

export const sealedError = (): KryptonError => new KryptonError('SEALED', 'the Core is sealed');

export class MasterKey {
  private handle: KeyHandle | null = null;
  private headerMac: KeyHandle | null = null;
  private auditMac: KeyHandle | null = null;
  private row: MasterRow | null = null;
  private pending = new Map<number, Buffer>();
  private readonly onSealed: (() => void)[] = [];

  constructor(
    private readonly ksi: Ksi,
    private readonly clock: Clock,
  ) {}

  /** Loads the KCV and split parameters; the Core starts sealed. */
  async load(): Promise<void> {
    this.row = await this.ksi.read((tx) => tx.getMaster());
  }

  /**
   * Creates the MasterKey and returns its shares. Refused if one exists:
   * a second init would orphan every key wrapped under the first.
   */
  async init({ threshold = 3, shares = 5 } = {}): Promise<Buffer[]> {
    if (this.row !== null) throw errors.badRequest('the Core is already initialized');
    const handle = generateKey(32);
    try {
      const parts = splitKey(handle, { threshold, shares });
      const row: MasterRow = { kcv: hmacSha256(handle, KCV_LABEL), threshold, shares, createdAt: this.clock.now() };
      await this.ksi.tx(async (tx) => {
        if ((await tx.getMaster()) !== null) throw errors.badRequest('the Core is already initialized');
        await tx.putMaster(row);
        await tx.appendAudit({
          actor: 'system',
          action: 'master.init',
          target: 'master',
          outcome: 'ok',
          details: { threshold, shares },
        });
      });
      this.row = row;
      this.install(handle);
      return parts;
    } catch (err) {
      if (this.handle !== handle) destroyKey(handle);
      throw err;
    }
  }

  /**
   * Adds shares towards an unseal. Returns the status; when the threshold is
   * reached the shares are combined inside the addon and checked against the
   * KCV. Wrong shares reset the progress.
   */
  unseal(shares: Uint8Array[]): SealStatus {
    const row = this.requireInit();
    if (this.handle !== null) return this.status();
    // A submission is taken whole or not at all, and any refusal resets the
    // progress: an operator restarts cleanly rather than guessing which share was bad.
    // The caller's buffers are the caller's to wipe; the copies made here are
    // wiped on every path: when refused, once combined, or at seal while they
    // wait for the threshold.
    const batch = new Map<number, Buffer>();
    let kept = false;
    try {
      for (const s of shares) {
        let problem: string | null = null;
        if (!(s instanceof Uint8Array) || s.length !== 33) problem = 'a share is 33 bytes';
        else if (s[0] === 0) problem = 'a share has x = 0';
        else if (batch.has(s[0]!) || this.pending.has(s[0]!)) problem = 'the same share index was submitted twice';
        if (problem !== null) {
          this.clearPending();
          throw errors.badRequest(`${problem}; unseal progress was reset`);
        }
        // Backed by its own ArrayBuffer, off the V8 heap: a typed array this
        // small made with Buffer.alloc lives on the heap, where the GC moves
        // it (leaving stale copies) and where handing it to the addon copies it out.
        const copy = Buffer.from(new ArrayBuffer(33));
        copy.set(s);
        batch.set(s[0]!, copy);
      }
      for (const [x, b] of batch) this.pending.set(x, b);
      kept = true;
      if (this.pending.size < row.threshold) return this.status();
      let candidate: KeyHandle;
      try {
        candidate = combineShares([...this.pending.values()]);
      } finally {
        this.clearPending();
      }
      let kcv: Buffer;
      try {
        kcv = hmacSha256(candidate, KCV_LABEL);
      } catch (err) {
        destroyKey(candidate);
        throw err;
      }
      if (!timingSafeEqual(kcv, row.kcv)) {
        destroyKey(candidate);
        throw errors.badRequest('the shares do not reconstruct the MasterKey; progress was reset');
      }
      this.install(candidate);
      return this.status();
    } finally {
      if (!kept) for (const b of batch.values()) b.fill(0);
    }
  }

  /** Wipes the MasterKey and everything registered to go with it. */
  seal(): void {
    this.clearPending();
    if (this.headerMac !== null) destroyKey(this.headerMac);
    if (this.auditMac !== null) destroyKey(this.auditMac);
    this.auditMac = null;
    if (this.handle !== null) destroyKey(this.handle);
    this.headerMac = null;
    this.handle = null;
    for (const fn of this.onSealed) fn();
  }

  /** Registers a wipe to run at seal (tier 1 IVKs, hot L2 and L3 keys). */
  onSeal(fn: () => void): void {
    this.onSealed.push(fn);
  }

  get sealed(): boolean {
    return this.handle === null;
  }

  /** The MasterKey's handle; SEALED when sealed. */
  key(): KeyHandle {
    if (this.handle === null) throw sealedError();
    return this.handle;
  }

  /**
   * The key of the audit chain's links (HMAC-SHA256, storage/ksi/audit-hash.ts),
   * derived from the MasterKey inside the addon; null while sealed (rows
   * written then are signed with the Core's signing key instead).
   */
  auditKey(): KeyHandle | null {
    return this.auditMac;
  }

  /** The key that authenticates IVK headers, derived from the MasterKey. */
  headerMacKey(): KeyHandle {
    if (this.headerMac === null) throw sealedError();
    return this.headerMac;
  }

  status(): SealStatus {
    return {
      initialized: this.row !== null,
      sealed: this.handle === null,
      threshold: this.row?.threshold ?? 0,
      shares: this.row?.shares ?? 0,
      progress: this.pending.size,
    };
  }

  private install(handle: KeyHandle): void {
    this.handle = handle;
    this.headerMac = deriveKey(handle, 'ivk-header-mac');
    this.auditMac = deriveKey(handle, 'audit-chain-mac');
  }

  private requireInit(): MasterRow {
    if (this.row === null) throw errors.badRequest('the Core is not initialized: run `krypton core init`');
    return this.row;
  }

  private clearPending(): void {
    for (const s of this.pending.values()) s.fill(0);
    this.pending.clear();
  }
}
