/**
 * Verifying the Core's audit chain (review L4) through its admin API:
 * `GET /v1/admin/audit?head=<seq>:<link>`. The audit key never leaves the
 * addon, so the unsealed Core checks its own KSI: every keyed link with the
 * key derived from the MasterKey, every signed link (rows written while
 * sealed) with its signing key's public half, and, given the head last
 * published in a State.Manifest (as the Registry or the CMK Server
 * recorded it), that the chain still reaches that head with the same link.
 * `krypton core audit` calls it.
 */
import { errors } from '../errors.js';
import type { Route } from '../http/index.js';
import type { AuditHead } from '../protocol/orbital-events.js';
import { verifyAudit, type AuditVerdict } from '../storage/ksi/audit-hash.js';
import type { Core } from './core.js';
import { sealedError } from './master-key.js';

/** `<seq>:<link>` as `krypton registry status` shows it (auditHead.arg). */
export function parseAuditHead(text: string): AuditHead {
  const m = /^(\d{1,16}):([A-Za-z0-9:+/=]{1,200})$/.exec(text.trim());
  const seq = m === null ? NaN : Number(m[1]);
  if (m === null || !Number.isSafeInteger(seq) || seq < 1)
    throw errors.badRequest('head must be <seq>:<link>, e.g. 42:m1:9f2c...');
  return { seq, hash: m[2]! };
}

/** Verifies the Core's whole chain with its keys (unsealed only), against `head` if given. */
export function verifyCoreAudit(core: Core, head?: AuditHead): Promise<AuditVerdict> {
  const macKey = core.master.auditKey();
  if (macKey === null) throw sealedError();
  return verifyAudit(core.ksi, { macKey, publicKey: core.signer.publicKey, ...(head !== undefined ? { head } : {}) });
}

export function auditRoutes(core: Core, admins: ReadonlySet<string>): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/admin/audit',
      allow: (id) => admins.has(id),
      handler: async (ctx) => {
        const head = ctx.query.head === undefined ? undefined : parseAuditHead(ctx.query.head);
        return verifyCoreAudit(core, head);
      },
    },
  ];
}
