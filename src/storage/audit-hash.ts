import { createHash } from 'node:crypto';
import type { AuditEntry, AuditRow, Ksi } from './ksi.js';

/**
 * The audit hash chain, shared by both engines so that a chain written by
 * one verifies identically anywhere:
 *
 *   hash = hex SHA-256( prevHash + '\n' + canonicalJson({seq, ts, actor, action, target, outcome, details}) )
 *
 * with prevHash '' for seq 1 and details null when absent. Canonical JSON
 * sorts object keys recursively, so the bytes hashed do not depend on the
 * order in which a caller built `details` or a driver returned columns.
 */

/** JSON with object keys sorted (by UTF-16 code units), recursively; no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // Matches JSON.stringify for primitives; undefined, functions and symbols become null.
    return JSON.stringify(value) ?? 'null';
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJson((value as { toJSON: () => unknown }).toJSON());
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    // Like JSON.stringify: keys whose value cannot be represented are left out.
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

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

export function auditHash(prevHash: string, row: AuditHashInput): string {
  const content = canonicalJson({
    seq: row.seq,
    ts: row.ts,
    actor: row.actor,
    action: row.action,
    target: row.target,
    outcome: row.outcome,
    details: row.details ?? null,
  });
  return createHash('sha256').update(`${prevHash}\n${content}`, 'utf8').digest('hex');
}

export type AuditVerdict = { ok: true; count: number } | { ok: false; brokenAt: number; reason: string };

/** Where a chain segment starts: after seq `seq`, whose hash was `hash`. */
export interface ChainAnchor {
  seq: number;
  hash: string;
}

const GENESIS: ChainAnchor = { seq: 0, hash: '' };

/**
 * Verifies rows in ascending seq order. By default they must be the whole
 * chain (starting at seq 1); pass `after` to verify a later segment.
 * Reports the first seq at which the chain breaks.
 */
export function verifyAuditChain(rows: readonly AuditRow[], after: ChainAnchor = GENESIS): AuditVerdict {
  let prev = after;
  for (const row of rows) {
    if (row.seq !== prev.seq + 1) {
      return { ok: false, brokenAt: row.seq, reason: `expected seq ${prev.seq + 1}, found ${row.seq}` };
    }
    if (row.prevHash !== prev.hash) {
      return { ok: false, brokenAt: row.seq, reason: 'prevHash does not match the previous row' };
    }
    if (auditHash(row.prevHash, row) !== row.hash) {
      return { ok: false, brokenAt: row.seq, reason: 'hash does not match the row content' };
    }
    prev = { seq: row.seq, hash: row.hash };
  }
  return { ok: true, count: rows.length };
}

/** Verifies the whole audit chain of a store, page by page (each page in its own read). */
export async function verifyAudit(ksi: Ksi, pageSize = 1000): Promise<AuditVerdict> {
  let anchor = GENESIS;
  let count = 0;
  for (;;) {
    const since = anchor.seq;
    const page = await ksi.read((tx) => tx.auditSince(since, pageSize));
    if (page.length === 0) return { ok: true, count };
    const verdict = verifyAuditChain(page, anchor);
    if (!verdict.ok) return verdict;
    count += page.length;
    const last = page[page.length - 1]!;
    anchor = { seq: last.seq, hash: last.hash };
    if (page.length < pageSize) return { ok: true, count };
  }
}
