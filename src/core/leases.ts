/**
 * Lease issuance: every non-revoked L3 version of a scope, each sealed with
 * HPKE to the Gateway's recipient key inside the addon. The lease carries
 * the current event epoch, so a Gateway that missed a revocation event
 * still drops the version at its next lease.
 */
import { errors, KryptonError } from '../errors.js';
import { isValidId, sealLease } from '../native/index.js';
import type { Ksi } from '../storage/ksi.js';
import { AuditWriter } from './audit-writer.js';
import type { Clock } from './clock.js';
import type { EventLog } from './event-log.js';
import type { L3Manager } from './l3-manager.js';

export interface LeaseRequest {
  tenant: string;
  service: string;
  /** The Gateway's X25519 public key, 32 bytes. */
  recipientKey: Uint8Array;
}

export interface Lease {
  ttlSeconds: number;
  epoch: number;
  versions: { version: number; state: 'ACTIVE' | 'DECRYPT_ONLY'; enc: Buffer; sealed: Buffer }[];
}

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
  ) {
    this.auditor = new AuditWriter(ksi);
  }

  async issue(identity: string, req: LeaseRequest): Promise<Lease> {
    if (!isValidId(req.tenant) || !isValidId(req.service)) throw errors.badRequest('tenant and service must be valid ids');
    if (!(req.recipientKey instanceof Uint8Array) || req.recipientKey.length !== 32) {
      throw errors.badRequest('recipientKey must be 32 bytes');
    }
    const target = `${req.tenant}/${req.service}`;
    if (!this.policy.allows(identity, req.tenant)) {
      await this.audit(identity, target, 'denied');
      throw new KryptonError('FORBIDDEN', 'this gateway may not lease keys of this tenant');
    }
    // The epoch is read before the versions: an event after it is replayed
    // by the event stream, never lost between the two reads.
    const epoch = await this.events.lastEpoch();
    const versions = await this.l3.versions(req.tenant, req.service);
    const expiresAt = this.clock.now() + this.ttlSeconds * 1000;
    const lease: Lease = {
      ttlSeconds: this.ttlSeconds,
      epoch,
      versions: versions.map((v) => ({
        version: v.version,
        state: v.state,
        ...sealLease({ recipientPublicKey: req.recipientKey, key: v.handle, tenant: req.tenant, service: req.service, version: v.version, state: v.state, expiresAt }),
      })),
    };
    await this.audit(identity, target, 'ok', { versions: versions.map((v) => v.version), epoch });
    return lease;
  }

  private audit(actor: string, target: string, outcome: 'ok' | 'denied', details?: Record<string, unknown>): Promise<void> {
    // A lease that cannot be audited is not issued: this throws, and so does the request.
    return this.auditor.append({ actor, action: 'lease.issue', target, outcome, ...(details ? { details } : {}) });
  }
}
