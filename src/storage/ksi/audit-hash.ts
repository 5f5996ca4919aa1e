import { createHash, timingSafeEqual } from 'node:crypto';
import { hmacSha256 } from '../../native/hmac.js';
import type { KeyHandle } from '../../native/keystore.js';
import { verifySignature, type SigningKey } from '../../native/signing.js';
import { canonicalJson } from '../../protocol/canonical-json.js';
import type { AuditHead } from '../../protocol/orbital-events.js';
import type { AuditEntry, AuditRow, Ksi } from './ksi.js';

export { canonicalJson };

/**
 * The audit chain (review L4), shared by both engines so that a chain
 * written by one verifies identically anywhere. Each row's `hash` is a link
 * over the previous row's link and this row's canonical content:
 *
 *   input = prevHash + '\n' + canonicalJson({seq, ts, actor, action, target, outcome, details})
 *
 * with prevHash '' for seq 1 and details null when absent. Three kinds:
 *
 * - `m1:<hex>`: HMAC-SHA256(audit key, input). The audit key is derived
 *   from the MasterKey inside the addon (MasterKey.auditKey()), so only an
 *   unsealed Core can make or check one. Every row a Core writes while
 *   unsealed is linked this way.
 * - `s1:<base64>`: Ed25519 signature by the Core's signing key over
 *   'krypton/audit-link/v1\n' + input. A sealed Core has no audit key, yet
 *   it still audits (unseal attempts, seals, refused requests): those rows
 *   are signed, so they cannot be rewritten without a key either, and
 *   anyone with the Core's public key can check them.
 * - `<hex>` (no prefix): SHA-256(input), unkeyed: chains written before
 *   links were keyed, and KSIs opened without a Core (tools, tests). A
 *   verifier refuses an unkeyed link after a keyed or signed one (that is a
 *   rewrite by someone without the key), and refuses unkeyed links at all
 *   unless told the chain began unkeyed (allowUnkeyedPrefix).
 *
 * Keys make a rewritten row detectable; the published head (the last seq
 * and link, sent with every State.Manifest and recorded by the Registry and
 * the CMK Server) makes a deleted tail detectable: a chain that no longer
 * reaches it, or reaches it with another link, was truncated or rewritten.
 * Rows written after the last published head are protected by the keys
 * only: deleting them is detectable once the next head is published.
 */

/**
 * details as they will read back from the store: a plain JSON value (Dates
 * become strings, undefined members disappear), or null when absent. Hashing
 * this form, not the caller's object, keeps append and verify in agreement.
 */
export function normalizeDetails(details: AuditEntry['details']): Record<string, unknown> | null {
  if (details === undefined || details === null) return null;
  const parsed: unknown = JSON.parse(canonicalJson(details));
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TypeError('audit details must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

export interface AuditHashInput extends AuditEntry {
  seq: number;
  ts: number;
}

/** The bytes every kind of link covers. */
export function linkInput(prevHash: string, row: AuditHashInput): Buffer {
  const content = canonicalJson({
    seq: row.seq,
    ts: row.ts,
    actor: row.actor,
    action: row.action,
    target: row.target,
    outcome: row.outcome,
    details: row.details ?? null,
  });
  return Buffer.from(`${prevHash}\n${content}`, 'utf8');
}

/** The unkeyed link: hex SHA-256. */
export function auditHash(prevHash: string, row: AuditHashInput): string {
  return createHash('sha256').update(linkInput(prevHash, row)).digest('hex');
}

export const MAC_LINK = 'm1:';
export const SIGNED_LINK = 's1:';
const SIGNED_CONTEXT = Buffer.from('krypton/audit-link/v1\n', 'utf8');

/** The keyed link: HMAC-SHA256 under the audit key (it stays in the addon). */
export function macLink(key: KeyHandle, prevHash: string, row: AuditHashInput): string {
  return MAC_LINK + hmacSha256(key, linkInput(prevHash, row)).toString('hex');
}

/** The link of a row written while sealed: an Ed25519 signature by the Core's key. */
export function signedLink(signer: SigningKey, prevHash: string, row: AuditHashInput): string {
  return SIGNED_LINK + signer.sign(Buffer.concat([SIGNED_CONTEXT, linkInput(prevHash, row)])).toString('base64');
}

/** How a store links the rows it appends. */
export interface AuditLinker {
  link(prevHash: string, row: AuditHashInput): string;
}

/** Unkeyed links: a KSI opened without a Core. */
export const UNKEYED_LINKER: AuditLinker = { link: auditHash };

/**
 * A Core's linker: keyed while the audit key is there (unsealed), signed
 * otherwise. Both are read at each append, so a seal or an unseal changes
 * the kind of the next link and nothing else.
 */
export function coreLinker(keys: { auditKey(): KeyHandle | null; signer(): SigningKey | null }): AuditLinker {
  return {
    link(prevHash, row) {
      const key = keys.auditKey();
      if (key !== null) return macLink(key, prevHash, row);
      const signer = keys.signer();
      if (signer !== null) return signedLink(signer, prevHash, row);
      throw new Error('audit: no key to link a row with');
    },
  };
}

export type AuditVerdict =
  | {
      ok: true;
      count: number;
      /** The last row checked (null for an empty chain). */
      head: AuditHead | null;
      links: { keyed: number; signed: number; unkeyed: number };
    }
  | { ok: false; brokenAt: number; reason: string };

/** Where a chain segment starts: after seq `seq`, whose hash was `hash`. */
export interface ChainAnchor {
  seq: number;
  hash: string;
}

export interface AuditVerifyOptions {
  /** Verify a later segment: the rows follow this one. */
  after?: ChainAnchor;
  /** The audit key (keyed links); without it, a keyed link cannot be checked and the verdict says so. */
  macKey?: KeyHandle;
  /** The Core's Ed25519 public key (signed links). */
  publicKey?: Uint8Array;
  /**
   * Accept unkeyed links before the first keyed or signed one (a chain begun unkeyed). Default: true only when no key
   * is given.
   */
  allowUnkeyedPrefix?: boolean;
  /** The head last published (State.Manifest): the chain must reach it, with the same link. */
  head?: AuditHead;
}

const GENESIS: ChainAnchor = { seq: 0, hash: '' };

const isKeyed = (hash: string) => hash.startsWith(MAC_LINK) || hash.startsWith(SIGNED_LINK);

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Checks one row's link; the reason it fails, or null. */
function checkLink(
  row: AuditRow,
  keyedBefore: boolean,
  opts: AuditVerifyOptions,
  allowUnkeyed: boolean,
): string | null {
  const h = row.hash;
  if (h.startsWith(MAC_LINK)) {
    if (opts.macKey === undefined)
      return 'a keyed link, and no audit key to check it (verify through the unsealed Core)';
    return sameText(macLink(opts.macKey, row.prevHash, row), h)
      ? null
      : 'the keyed link does not match the row content';
  }
  if (h.startsWith(SIGNED_LINK)) {
    if (opts.publicKey === undefined) return "a signed link, and no public key to check it (the Core's signing key)";
    const sig = Buffer.from(h.slice(SIGNED_LINK.length), 'base64');
    return verifySignature(opts.publicKey, Buffer.concat([SIGNED_CONTEXT, linkInput(row.prevHash, row)]), sig)
      ? null
      : 'the signed link does not verify';
  }
  if (keyedBefore) return 'an unkeyed link after keyed ones: rewritten by someone without the key';
  if (!allowUnkeyed) return 'an unkeyed link where a keyed one is required';
  return auditHash(row.prevHash, row) === h ? null : 'hash does not match the row content';
}

/**
 * Verifies rows in ascending seq order. By default they must be the whole
 * chain (starting at seq 1); pass `after` to verify a later segment.
 * Reports the first seq at which the chain breaks.
 */
export function verifyAuditChain(rows: readonly AuditRow[], opts: AuditVerifyOptions | ChainAnchor = {}): AuditVerdict {
  const o: AuditVerifyOptions = 'seq' in opts ? { after: opts } : opts;
  const allowUnkeyed = o.allowUnkeyedPrefix ?? (o.macKey === undefined && o.publicKey === undefined);
  let prev = o.after ?? GENESIS;
  let keyedBefore = isKeyed(prev.hash);
  const links = { keyed: 0, signed: 0, unkeyed: 0 };
  for (const row of rows) {
    if (row.seq !== prev.seq + 1) {
      return {
        ok: false,
        brokenAt: row.seq,
        reason: `expected seq ${prev.seq + 1}, found ${row.seq}: rows were deleted`,
      };
    }
    if (row.prevHash !== prev.hash) {
      return { ok: false, brokenAt: row.seq, reason: 'prevHash does not match the previous row' };
    }
    const bad = checkLink(row, keyedBefore, o, allowUnkeyed);
    if (bad !== null) return { ok: false, brokenAt: row.seq, reason: bad };
    if (row.hash.startsWith(MAC_LINK)) links.keyed++;
    else if (row.hash.startsWith(SIGNED_LINK)) links.signed++;
    else links.unkeyed++;
    keyedBefore ||= isKeyed(row.hash);
    if (o.head !== undefined && row.seq === o.head.seq && !sameText(row.hash, o.head.hash)) {
      return {
        ok: false,
        brokenAt: row.seq,
        reason: `the row at the published head (seq ${o.head.seq}) is not the one published: the log was rewritten`,
      };
    }
    prev = { seq: row.seq, hash: row.hash };
  }
  if (o.head !== undefined && prev.seq < o.head.seq) {
    return {
      ok: false,
      brokenAt: prev.seq + 1,
      reason: `the chain ends at seq ${prev.seq}, before the published head (seq ${o.head.seq}): rows were deleted`,
    };
  }
  return { ok: true, count: rows.length, head: prev.seq === 0 ? null : { seq: prev.seq, hash: prev.hash }, links };
}

export interface VerifyAuditOptions extends Omit<AuditVerifyOptions, 'after'> {
  pageSize?: number;
}

/** Verifies the whole audit chain of a store, page by page (each page in its own read). */
export async function verifyAudit(ksi: Ksi, options: VerifyAuditOptions | number = {}): Promise<AuditVerdict> {
  const o: VerifyAuditOptions = typeof options === 'number' ? { pageSize: options } : options;
  const pageSize = o.pageSize ?? 1000;
  const { head, ...keys } = o;
  let anchor = GENESIS;
  let count = 0;
  const links = { keyed: 0, signed: 0, unkeyed: 0 };
  for (;;) {
    const since = anchor.seq;
    const page = await ksi.read((tx) => tx.auditSince(since, pageSize));
    // Each page starts after the last row checked, so an unkeyed link after a keyed one is caught across pages too.
    const verdict = verifyAuditChain(page, { ...keys, after: anchor });
    if (!verdict.ok) return verdict;
    count += page.length;
    links.keyed += verdict.links.keyed;
    links.signed += verdict.links.signed;
    links.unkeyed += verdict.links.unkeyed;
    if (page.length > 0) {
      const last = page[page.length - 1]!;
      anchor = { seq: last.seq, hash: last.hash };
    }
    if (page.length < pageSize) break;
  }
  // The head is checked over the whole chain: it may lie on any page, or past the end.
  if (head !== undefined) {
    if (anchor.seq < head.seq) {
      return {
        ok: false,
        brokenAt: anchor.seq + 1,
        reason: `the chain ends at seq ${anchor.seq}, before the published head (seq ${head.seq}): rows were deleted`,
      };
    }
    const at = await ksi.read((tx) => tx.auditSince(head.seq - 1, 1));
    if (at[0]?.seq !== head.seq || !sameText(at[0].hash, head.hash)) {
      return {
        ok: false,
        brokenAt: head.seq,
        reason: `the row at the published head (seq ${head.seq}) is not the one published: the log was rewritten`,
      };
    }
  }
  return { ok: true, count, head: anchor.seq === 0 ? null : { seq: anchor.seq, hash: anchor.hash }, links };
}
