/**
 * Lease issuance (the contract: src/protocol/lease.ts). A full lease seals
 * the scope's ACTIVE version and its hot DECRYPT_ONLY ones (at most
 * `maxHotVersions`, review L7) with HPKE to the Gateway's recipient key
 * inside the addon; a lease for named versions seals just those (a blob of
 * an older version), unwrapped for this lease only. Every reply is signed
 * by the Core over the request it answers (review M1). The lease carries
 * the current event epoch, so a Gateway that missed a revocation event
 * still drops the version at its next lease.
 */
import { KryptonError } from '../errors.js';
import { sealLease, type SigningKey } from '../native/index.js';
import { checkLeaseRequest, signLeaseReply, type LeaseReply, type LeaseVersion } from '../protocol/lease.js';
import type { Ksi, KsiTx } from '../storage/ksi/ksi.js';
import { AuditWriter, type AuditGate } from './audit-writer.js';
import type { Clock } from './clock.js';
import type { EventLog } from './event-log.js';
import type { L3Manager, L3Version } from './l3-manager.js';

/** Which gateway identities (SPIFFE IDs) may lease which tenants' keys. */
export interface GatewayPolicy {
  allows(identity: string, tenant: string): boolean;
}

/** Policy from a map of SPIFFE ID to tenant list ('*' for every tenant). */
export function gatewayPolicy(map: Record<string, string[]>): GatewayPolicy {
  return {
    allows: (identity, tenant) => {
      const tenants = map[identity];
      return tenants !== undefined && (tenants.includes('*') || tenants.includes(tenant));
    },
  };
}

export class LeaseIssuer {
  private readonly auditor: AuditWriter;

  constructor(
    ksi: Ksi,
    private readonly l3: L3Manager,
    private readonly events: EventLog,
    private readonly policy: GatewayPolicy,
    private readonly clock: Clock,
    private readonly ttlSeconds: number,
    private readonly signer: SigningKey,
  ) {
    this.auditor = new AuditWriter(ksi);
  }

  /** A signed reply to the request (checked here whoever calls: BAD_REQUEST naming the field). */
  async issue(identity: string, request: unknown): Promise<LeaseReply> {
    const req = checkLeaseRequest(request);
    const target = `${req.tenant}/${req.service}`;
    if (!this.policy.allows(identity, req.tenant)) {
      await this.audit(identity, target, 'denied');
      throw new KryptonError('FORBIDDEN', 'this gateway may not lease keys of this tenant');
    }
    // The epoch is read before the versions: an event after it is replayed
    // by the event stream, never lost between the two reads.
    const epoch = await this.events.lastEpoch();
    let versions: L3Version[];
    let release = (): void => {};
    if (req.versions === undefined) {
      versions = await this.l3.versions(req.tenant, req.service);
    } else {
      const named = await this.l3.namedVersions(req.tenant, req.service, req.versions);
      versions = named.versions;
      release = () => named.release();
    }
    let reply: LeaseReply;
    try {
      const issuedAt = this.clock.now();
      const expiresAt = issuedAt + this.ttlSeconds * 1000;
      const sealed = versions
        .slice()
        .sort((a, b) => a.version - b.version)
        .map((v): LeaseVersion => ({
          version: v.version,
          state: v.state,
          ...sealLease({
            recipientPublicKey: req.recipientKey,
            key: v.handle,
            tenant: req.tenant,
            service: req.service,
            version: v.version,
            state: v.state,
            expiresAt,
          }),
        }));
      const oldestIncluded = req.versions === undefined ? this.l3.oldestIncluded(req.tenant, req.service) : 0;
      reply = signLeaseReply(this.signer, req, {
        nonce: Buffer.from(req.nonce),
        issuedAt,
        ttlSeconds: this.ttlSeconds,
        epoch,
        oldestIncluded,
        versions: sealed,
      });
    } finally {
      release();
    }
    // On every lease, whatever is cached (review H3): a tenant that is not
    // ACTIVE gets nothing. Its state is read in the transaction that commits
    // the lease's audit row, after the keys were sealed: a reply leaves only
    // if the tenant was ACTIVE when its row committed, and a revocation
    // committed later follows the lease as an event (its epoch is older).
    const details = {
      versions: versions.map((v) => v.version),
      epoch,
      ...(req.versions !== undefined ? { named: true } : {}),
    };
    await this.audit(identity, target, 'ok', details, (tx) => tenantRefusal(tx, req.tenant));
    return reply;
  }

  private audit(
    actor: string,
    target: string,
    outcome: 'ok' | 'denied',
    details?: Record<string, unknown>,
    gate?: AuditGate,
  ): Promise<void> {
    // A lease that cannot be audited is not issued: this throws, and so does the request.
    return this.auditor.append(
      { actor, action: 'lease.issue', target, outcome, ...(details ? { details } : {}) },
      gate,
    );
  }
}

/** Why a tenant's keys are not leased now, or null when it is ACTIVE. */
async function tenantRefusal(tx: KsiTx, tenant: string): Promise<KryptonError | null> {
  const row = await tx.getTenant(tenant);
  if (row === null) return new KryptonError('UNKNOWN_SERVICE', `unknown tenant ${tenant}`);
  if (row.state !== 'ACTIVE')
    return new KryptonError('KEY_REVOKED', `tenant ${tenant} is ${row.state.toLowerCase()}: its keys are not leased`);
  return null;
}
