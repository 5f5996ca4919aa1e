/**
 * The authenticated IVK header (ADR-304, docs/design.md section 10): the HMAC
 * covers version, state, creation, grace end and hard expiry, and the
 * wrapped key, so no field can be changed in the KSI or on disk unnoticed.
 */
import { timingSafeEqual } from 'node:crypto';
import { hmacSha256, type KeyHandle } from '../native/index.js';
import type { IvkRow, IvkState } from '../storage/ksi/ksi.js';

const STATES: Record<IvkState, number> = { ACTIVE: 1, GRACE: 2, DEPRECATED: 3, REVOKED: 4 };

export function headerBytes(row: Omit<IvkRow, 'mac' | 'wrapCount'>): Buffer {
  const b = Buffer.alloc(15 + 4 + 1 + 8 * 3 + row.wrapped.length);
  let at = b.write('krypton:ivk:v1\0', 0, 'latin1');
  at = b.writeUInt32BE(row.version, at);
  at = b.writeUInt8(STATES[row.state], at);
  at = b.writeBigUInt64BE(BigInt(row.createdAt), at);
  at = b.writeBigUInt64BE(BigInt(row.graceUntil ?? 0), at);
  at = b.writeBigUInt64BE(BigInt(row.hardExpiry), at);
  row.wrapped.copy(b, at);
  return b;
}

export function macHeader(macKey: KeyHandle, row: Omit<IvkRow, 'mac' | 'wrapCount'>): Buffer {
  return hmacSha256(macKey, headerBytes(row));
}

export function headerIntact(macKey: KeyHandle, row: IvkRow): boolean {
  const expected = macHeader(macKey, row);
  return row.mac.length === expected.length && timingSafeEqual(row.mac, expected);
}

/** The AAD an IVK is wrapped with under the MasterKey: it names the version. */
export const ivkAad = (version: number): Buffer => Buffer.from(`krypton:ivk:${version}`);
