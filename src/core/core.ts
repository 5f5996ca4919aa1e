/**
 * The Core: the regional control plane. It composes the MasterKey, the IVK
 * manager, tenants with their L1 links, L2 and L3 keys, the event log and
 * lease issuance over one KSI. Every key above L4 lives in the addon's
 * arena; this object holds handles. A sealed Core serves only unseal and
 * status (SEALED for the rest).
 */
import { randomBytes } from 'node:crypto';
import { errors, KryptonError } from '../errors.js';
import { SigningKey } from '../native/index.js';
import { openKsi } from '../storage/ksi/open.js';
import { coreLinker } from '../storage/ksi/audit-hash.js';
import type { AuditEntry, Ksi } from '../storage/ksi/ksi.js';
import { AuditWriter } from './audit-writer.js';
import { systemClock, type Clock } from './clock.js';
import { EventLog } from './event-log.js';
import { DEFAULT_IVK_POLICY, IvkManager, type IvkPolicy, type TamperReport } from './ivk-manager.js';
import { L2Manager } from './l2-manager.js';
import { L3Manager, type CrashPoint } from './l3-manager.js';
import { gatewayPolicy, LeaseIssuer, type GatewayPolicy } from './leases.js';
import {
  DEFAULT_MAX_HOT_VERSIONS,
  MAX_HOT_VERSIONS_LIMIT,
  MAX_LEASE_TTL_SECONDS,
  type LeaseReply,
} from '../protocol/lease.js';
import { MasterKey, sealedError, type SealStatus } from './master-key.js';
import { L1Links, Tenants, type L1Link } from './tenants.js';

export interface CoreOptions {
  /** `sqlite:<path>`, a path, or a postgres:// URL. */
  ksiUrl: string;
  /** Directory of the tier-2 IVK cache. */
  tier2Dir: string;
  /** SPIFFE ID -> tenants it may lease ('*' for all). */
  gateways: Record<string, string[]>;
  leaseTtlSeconds?: number;
  /** DECRYPT_ONLY versions kept hot and leased per scope (default 32); older ones are leased on demand. */
  maxHotVersions?: number;
  ivkPolicy?: Partial<IvkPolicy>;
  l1Pin?: string;
  clock?: Clock;
  crashPoint?: CrashPoint;
  onTamper?: (r: TamperReport) => void;
  /**
   * The Core's signing key (leases, Orbital events). Absent: a fresh one
   * for this process (tests), which no Gateway or actor has pinned.
   */
  signer?: SigningKey;
}

export { MAX_LEASE_TTL_SECONDS };

function ephemeralSigner(): SigningKey {
  const seed = randomBytes(32);
  try {
    return SigningKey.fromSeed(seed);
  } finally {
    seed.fill(0);
  }
}

/** Something that can pause key serving (the sovereign deadman switch). */
export interface ServingGate {
  /** Throws (KEY_UNAVAILABLE with the reason) while key serving is paused. */
  assertServing(): void;
}

export class Core {
  readonly master: MasterKey;
  /** Signs what the Core sends: leases to Gateways, events on Orbital. */
  readonly signer: SigningKey;
  readonly ivk: IvkManager;
  readonly l2: L2Manager;
  readonly l3: L3Manager;
  readonly events: EventLog;
  readonly tenants: Tenants;
  readonly leases: LeaseIssuer;
  /** Which Gateway identities may lease (and follow the events of) which tenants. */
  readonly gatewayPolicy: GatewayPolicy;
  private readonly auditor: AuditWriter;
  private readonly l1: L1Links;
  private readonly tamper: TamperReport[] = [];
  private readonly unsealListeners: Array<() => void> = [];
  private gate: ServingGate | null = null;

  private constructor(
    readonly ksi: Ksi,
    readonly clock: Clock,
    opts: CoreOptions,
  ) {
    const ttl = opts.leaseTtlSeconds ?? 300;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_LEASE_TTL_SECONDS) {
      throw errors.badRequest(`leaseTtlSeconds must be an integer from 1 to ${MAX_LEASE_TTL_SECONDS}`);
    }
    const maxHot = opts.maxHotVersions ?? DEFAULT_MAX_HOT_VERSIONS;
    if (!Number.isInteger(maxHot) || maxHot < 1 || maxHot > MAX_HOT_VERSIONS_LIMIT) {
      throw errors.badRequest(`maxHotVersions must be an integer from 1 to ${MAX_HOT_VERSIONS_LIMIT}`);
    }
    this.signer = opts.signer ?? ephemeralSigner();
    this.gatewayPolicy = gatewayPolicy(opts.gateways);
    this.auditor = new AuditWriter(ksi);
    this.master = new MasterKey(ksi, clock);
    this.ivk = new IvkManager(
      ksi,
      this.master,
      clock,
      { ...DEFAULT_IVK_POLICY, ...opts.ivkPolicy },
      opts.tier2Dir,
      (r) => {
        this.tamper.push(r);
        opts.onTamper?.(r);
      },
    );
    this.l1 = new L1Links(opts.l1Pin);
    this.events = new EventLog(ksi);
    this.l2 = new L2Manager(ksi, this.ivk, (t) => this.l1.forTenant(t), clock);
    this.l3 = new L3Manager(ksi, this.l2, this.events, clock, opts.crashPoint, maxHot);
    this.tenants = new Tenants(ksi, this.l1, this.l2, this.l3, this.events, clock);
    this.leases = new LeaseIssuer(ksi, this.l3, this.events, gatewayPolicy(opts.gateways), clock, ttl, this.signer);
    this.master.onSeal(() => {
      this.l3.wipe();
      this.l2.wipe();
    });
  }

  static async open(opts: CoreOptions): Promise<Core> {
    // Audit rows are linked with the MasterKey's audit key while unsealed, signed with the Core's key while sealed
    // (review L4).
    let core: Core | null = null;
    const ksi = await openKsi(
      opts.ksiUrl,
      coreLinker({ auditKey: () => core?.master.auditKey() ?? null, signer: () => core?.signer ?? null }),
    );
    core = new Core(ksi, opts.clock ?? systemClock, opts);
    await core.master.load();
    return core;
  }

  /** Creates the MasterKey and the first IVK; returns the MasterKey shares. */
  async init(split: { threshold?: number; shares?: number } = {}): Promise<Buffer[]> {
    const shares = await this.master.init(split);
    await this.ivk.bootstrap();
    // A freshly made MasterKey leaves the Core unsealed, as an unseal does.
    for (const fn of this.unsealListeners) fn();
    return shares;
  }

  /**
   * Submits shares; when the MasterKey is rebuilt, loads the IVK chain.
   * Audited whether taken or refused (never the shares). An unseal that
   * cannot be audited does not stand: the Core seals again and this throws.
   */
  async unseal(shares: Uint8Array[], actor = 'system'): Promise<SealStatus> {
    const wasSealed = this.master.sealed;
    let status: SealStatus;
    try {
      status = this.master.unseal(shares);
      if (wasSealed && !status.sealed) {
        try {
          await this.ivk.bootstrap();
        } catch (err) {
          this.master.seal();
          throw err;
        }
      }
    } catch (err) {
      const code = err instanceof KryptonError ? err.code : 'INTERNAL';
      // The refusal is what the caller must hear, so an audit failure here does not replace it.
      await this.audit({
        actor,
        action: 'master.unseal',
        target: 'master',
        outcome: code === 'INTERNAL' ? 'error' : 'denied',
        details: { code, submitted: shares.length },
      }).catch(() => undefined);
      throw err;
    }
    const unsealedNow = wasSealed && !status.sealed;
    try {
      await this.audit({
        actor,
        action: 'master.unseal',
        target: 'master',
        outcome: 'ok',
        details: { submitted: shares.length, sealed: status.sealed, progress: status.progress },
      });
    } catch (err) {
      if (unsealedNow) this.master.seal();
      throw err;
    }
    if (unsealedNow) for (const fn of this.unsealListeners) fn();
    return status;
  }

  /** Seals: the MasterKey and every key under it are zeroized. Not audited (tests, shutdown): see sealBy. */
  seal(): void {
    this.master.seal();
  }

  /**
   * An operator's seal: zeroizes at once, then audits. The seal stands even
   * when the audit cannot be written; the call then fails, to say so.
   */
  async sealBy(actor: string): Promise<void> {
    const wasSealed = this.master.sealed;
    this.master.seal();
    await this.audit({ actor, action: 'master.seal', target: 'master', outcome: 'ok', details: { wasSealed } });
  }

  /** Appends an audit row (group commit); throws when it cannot be written. */
  audit(entry: AuditEntry): Promise<void> {
    return this.auditor.append(entry);
  }

  /** Calls fn after every unseal that loaded the key chain (and after init). */
  onUnsealed(fn: () => void): void {
    this.unsealListeners.push(fn);
  }

  /** Calls fn when the Core seals (keys zeroized). */
  onSealed(fn: () => void): void {
    this.master.onSeal(fn);
  }

  /** Installs what may pause key serving (one at a time). */
  setServingGate(gate: ServingGate | null): void {
    this.gate = gate;
  }

  sealStatus(): SealStatus {
    return this.master.status();
  }

  /** Throws SEALED unless the Core is unsealed. */
  requireUnsealed(): void {
    if (this.master.sealed) throw sealedError();
  }

  async onboardTenant(tenant: string, link: L1Link | null = null, actor?: string): Promise<void> {
    this.requireUnsealed();
    await this.tenants.onboard(tenant, link, actor);
  }

  async defineScope(
    tenant: string,
    service: string,
    rotateAfterSeconds: number | null = null,
    actor?: string,
  ): Promise<void> {
    this.requireUnsealed();
    await this.l3.define(tenant, service, rotateAfterSeconds, actor);
  }

  async rotate(tenant: string, service: string, actor?: string): Promise<number> {
    this.requireUnsealed();
    return this.l3.rotate(tenant, service, actor);
  }

  async revoke(tenant: string, service: string, version: number, actor?: string): Promise<void> {
    this.requireUnsealed();
    await this.l3.revoke(tenant, service, version, actor);
  }

  /**
   * A signed lease reply to `req`, a lease request as received: checked once, by the issuer (src/protocol/lease.ts).
   */
  async issueLease(identity: string, req: unknown): Promise<LeaseReply> {
    this.requireUnsealed();
    this.gate?.assertServing();
    return this.leases.issue(identity, req);
  }

  /** Periodic work: IVK grace and rotation, L3 rotation by period. */
  async tick(): Promise<void> {
    if (this.master.sealed) return;
    await this.ivk.tick();
    await this.l3.tick();
  }

  /** Header tampering seen since start (reported, never used). */
  tamperReports(): readonly TamperReport[] {
    return this.tamper;
  }

  async status(): Promise<Record<string, unknown>> {
    const seal = this.master.status();
    if (seal.sealed) return { seal };
    return {
      seal,
      ivk: await this.ivk.status(),
      tenants: (await this.tenants.list()).map((t) => ({ tenant: t.tenant, state: t.state, l1: t.l1Provider })),
      epoch: await this.events.lastEpoch(),
      tamper: this.tamper,
    };
  }

  async close(): Promise<void> {
    this.master.seal();
    this.signer.destroy();
    await this.l1.closeAll();
    await this.ksi.close();
  }
}
