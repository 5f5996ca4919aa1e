/**
 * The [L4 || blob] record (native/blob.h, docs/design.md section 3), in one
 * place: the addon writes new data keys as records, each the 32-byte L4
 * then its blob, one after another at `recordBytes`; a batch open writes
 * the L4s one after another. Whatever sizes, slices or frames records reads
 * the offsets here. The sizes come from the addon, their one home.
 */
import { view } from '../native/addon.js';
import { MAX_ID_BYTES } from '../native/ids.js';

const sizes = view<{ L4_BYTES: number; BLOB_FIXED_BYTES: number }>();
/** A data key (L4). */
export const L4_BYTES = sizes.L4_BYTES;
/** A blob without its tenant and service names. */
export const BLOB_FIXED_BYTES = sizes.BLOB_FIXED_BYTES;
/** Largest blob: the fixed bytes and a tenant and a service of MAX_ID_BYTES each. */
export const MAX_BLOB_BYTES = BLOB_FIXED_BYTES + 2 * MAX_ID_BYTES;

/** Where a record's L4 and its blob start, within the record. */
export const RECORD_L4_AT = 0;
export const RECORD_BLOB_AT = L4_BYTES;

/**
 * Where each record goes in a caller's buffer: record i at i * stride, its
 * L4 at l4At and its blob at blobAt within it. The caller writes its own
 * framing around them in record 0; the addon copies it to the others.
 */
export interface RecordLayout {
  stride: number;
  l4At: number;
  blobAt: number;
}

/** Bytes of a blob of the scope (tenant, service). */
export function blobSize(tenant: string, service: string): number {
  return BLOB_FIXED_BYTES + tenant.length + service.length;
}

/** Bytes of one record of the scope (tenant, service). */
export function recordSize(tenant: string, service: string): number {
  return L4_BYTES + blobSize(tenant, service);
}

/** Bytes of the blob in a record of `recordBytes`. */
export function recordBlobBytes(recordBytes: number): number {
  return recordBytes - RECORD_BLOB_AT;
}

/** Offset of record `i` in a buffer of records of `recordBytes`. */
export function recordAt(i: number, recordBytes: number): number {
  return i * recordBytes;
}

/** The L4 of record `i` (a view, not a copy). */
export function recordL4(records: Buffer, i: number, recordBytes: number): Buffer {
  const at = i * recordBytes + RECORD_L4_AT;
  return records.subarray(at, at + L4_BYTES);
}

/** The blob of record `i` (a view, not a copy). */
export function recordBlob(records: Buffer, i: number, recordBytes: number): Buffer {
  const at = i * recordBytes;
  return records.subarray(at + RECORD_BLOB_AT, at + recordBytes);
}

/** Bytes of the output of a batch open of `n` blobs: their L4s, one after another. */
export function openedBytes(n: number): number {
  return n * L4_BYTES;
}

/** The L4 of blob `i` in the output of a batch open (a view, not a copy). */
export function openedL4(out: Buffer, i: number): Buffer {
  return out.subarray(i * L4_BYTES, (i + 1) * L4_BYTES);
}
