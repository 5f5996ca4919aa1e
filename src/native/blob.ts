/**
 * L4 data keys sealed in blobs (docs/design.md section 3) under the leased L3
 * keys of the store. One native call per request or per batch; output
 * buffers are allocated here, in JS, and filled by the addon.
 */
import { errors, fromNative, type KryptonError } from '../errors.js';
import { view } from './addon.js';
import { idBytes } from './ids.js';
import { statusError } from './status.js';

/** Sizes from the addon, their one home (native/blob.h): a data key, and a blob without its names. */
const sizes = view<{ L4_BYTES: number; BLOB_FIXED_BYTES: number }>();
export const L4_BYTES = sizes.L4_BYTES;
export const BLOB_FIXED_BYTES = sizes.BLOB_FIXED_BYTES;
/** Largest caller context bound into the AAD. */
export const MAX_CONTEXT_BYTES = 4096;
/** Largest `count` of one create, and of one batch of blobs. */
export const MAX_BATCH = 4096;

interface BlobNative {
  blobCreate(scope: number, context: Uint8Array | null, count: number, out: Uint8Array, stride?: number, l4At?: number, blobAt?: number): number;
  blobOpen(tenant: Buffer, blob: Uint8Array, context: Uint8Array | null, out: Uint8Array): number;
  blobOpenBatch(this: void, tenant: Buffer, blobs: Uint8Array[], context: Uint8Array | null, out: Uint8Array, statuses: Uint8Array): number;
  blobRewrap(tenant: Buffer, blob: Uint8Array, context: Uint8Array | null, out: Uint8Array): number;
  blobRewrapBatch(this: void, tenant: Buffer, blobs: Uint8Array[], context: Uint8Array | null, out: Uint8Array, statuses: Uint8Array): number;
  blobInfo(blob: Uint8Array): { tenant: string; service: string; version: number } | null;
  scopeLookup(tenant: Buffer, service: Buffer): number;
}

const native = view<BlobNative>();

export function blobSize(tenant: string, service: string): number {
  return BLOB_FIXED_BYTES + tenant.length + service.length;
}

/** A leased scope as the hot path names it: resolved once, reused per request. */
export interface ScopeRef {
  readonly tenant: string;
  readonly service: string;
  readonly id: number;
  /** Bytes of one [L4 || blob] record. */
  readonly recordBytes: number;
}

/** The scope's current native id, or null when no key is leased for it. */
export function scopeRef(tenant: string, service: string): ScopeRef | null {
  const id = native.scopeLookup(idBytes(tenant, 'tenant'), idBytes(service, 'service'));
  if (id === 0) return null;
  return { tenant, service, id, recordBytes: L4_BYTES + blobSize(tenant, service) };
}

function checkContext(context: Uint8Array | undefined): Uint8Array | null {
  if (context === undefined) return null;
  if (!(context instanceof Uint8Array) || context.length > MAX_CONTEXT_BYTES) {
    throw errors.badRequest(`context must be at most ${MAX_CONTEXT_BYTES} bytes`);
  }
  return context;
}

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > MAX_BATCH) {
    throw errors.badRequest(`count must be an integer from 1 to ${MAX_BATCH}`);
  }
}

export interface DataKey {
  plaintext: Buffer;
  blob: Buffer;
}

/**
 * Fills `out` (count * scope.recordBytes) with [L4 || blob] records under
 * the scope's ACTIVE version and returns that version.
 */
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

/**
 * Fills `out` with `count` [L4 || blob] records under the scope's ACTIVE
 * version (count * scope.recordBytes bytes), or with `count` records of
 * `layout` (count * layout.stride bytes), and returns that version.
 */
export function createInto(scope: ScopeRef, count: number, context: Uint8Array | undefined, out: Uint8Array, layout?: RecordLayout): number {
  const ctx = checkContext(context);
  const r = layout === undefined ? native.blobCreate(scope.id, ctx, count, out) : native.blobCreate(scope.id, ctx, count, out, layout.stride, layout.l4At, layout.blobAt);
  if (r < 0) throw statusError(-r);
  return r;
}

export function createKey(scope: ScopeRef, context?: Uint8Array): DataKey & { version: number } {
  const out = Buffer.allocUnsafe(scope.recordBytes);
  const version = createInto(scope, 1, context, out);
  return { plaintext: out.subarray(0, L4_BYTES), blob: out.subarray(L4_BYTES), version };
}

export function createKeys(scope: ScopeRef, count: number, context?: Uint8Array): { keys: DataKey[]; version: number } {
  checkCount(count);
  const rec = scope.recordBytes;
  const out = Buffer.allocUnsafe(count * rec);
  const version = createInto(scope, count, context, out);
  const keys = new Array<DataKey>(count);
  for (let i = 0; i < count; i++) {
    const at = i * rec;
    keys[i] = { plaintext: out.subarray(at, at + L4_BYTES), blob: out.subarray(at + L4_BYTES, at + rec) };
  }
  return { keys, version };
}

/** Opens a blob for the caller's tenant (a blob of another tenant is INVALID_BLOB). */
export function openBlob(tenant: string, blob: Uint8Array, context?: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(L4_BYTES);
  const s = native.blobOpen(idBytes(tenant, 'tenant'), blob, checkContext(context), out);
  if (s !== 0) {
    out.fill(0);
    throw statusError(s);
  }
  return out;
}

function checkBatch(blobs: Uint8Array[]): void {
  if (!Array.isArray(blobs) || blobs.length < 1 || blobs.length > MAX_BATCH) {
    throw errors.badRequest(`blobs must hold 1 to ${MAX_BATCH} blobs`);
  }
}

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

type BatchCall = (tenant: Buffer, blobs: Uint8Array[], context: Uint8Array | null, out: Uint8Array, statuses: Uint8Array) => number;

function batchInto(fn: BatchCall, tenant: string, blobs: Uint8Array[], context: Uint8Array | undefined, out: Uint8Array, statuses: Uint8Array): number {
  checkBatch(blobs);
  const t = idBytes(tenant, 'tenant');
  const c = checkContext(context);
  return call(() => fn(t, blobs, c, out, statuses));
}

/**
 * Opens many blobs in one native call into buffers the caller owns: `out`
 * gets 32 bytes per blob (zero where the blob failed), `statuses` one
 * native status per blob (0 = opened; see statusError). Returns how many
 * failed. Outputs that overlap each other or an input: BAD_REQUEST, and
 * nothing is written.
 */
export function openBlobsInto(tenant: string, blobs: Uint8Array[], context: Uint8Array | undefined, out: Uint8Array, statuses: Uint8Array): number {
  return batchInto(native.blobOpenBatch, tenant, blobs, context, out, statuses);
}

/**
 * Rewraps many blobs in one native call into buffers the caller owns: `out`
 * gets the new blobs one after another, each the size of its input (zero
 * where the blob failed), `statuses` one native status per blob. Returns
 * how many failed. Overlapping outputs and inputs: BAD_REQUEST.
 */
export function rewrapBlobsInto(tenant: string, blobs: Uint8Array[], context: Uint8Array | undefined, out: Uint8Array, statuses: Uint8Array): number {
  return batchInto(native.blobRewrapBatch, tenant, blobs, context, out, statuses);
}

/** Opens many blobs in one native call; each result is the L4 or its error. */
export function openBlobs(tenant: string, blobs: Uint8Array[], context?: Uint8Array): (Buffer | KryptonError)[] {
  checkBatch(blobs);
  const out = Buffer.allocUnsafe(blobs.length * L4_BYTES);
  const statuses = new Uint8Array(blobs.length);
  openBlobsInto(tenant, blobs, context, out, statuses);
  return Array.from(statuses, (s, i) => {
    const l4 = out.subarray(i * L4_BYTES, (i + 1) * L4_BYTES);
    if (s === 0) return l4;
    l4.fill(0);
    return statusError(s);
  });
}

/** Re-seals a blob's L4 under the ACTIVE version; the L4 never leaves native memory. */
export function rewrapBlob(tenant: string, blob: Uint8Array, context?: Uint8Array): { blob: Buffer; version: number } {
  const out = Buffer.allocUnsafe(blob.length);
  const r = native.blobRewrap(idBytes(tenant, 'tenant'), blob, checkContext(context), out);
  if (r < 0) throw statusError(-r);
  return { blob: out, version: r };
}

export function rewrapBlobs(tenant: string, blobs: Uint8Array[], context?: Uint8Array): (Buffer | KryptonError)[] {
  checkBatch(blobs);
  const out = Buffer.allocUnsafe(rewrapBytes(blobs));
  const statuses = new Uint8Array(blobs.length);
  rewrapBlobsInto(tenant, blobs, context, out, statuses);
  let at = 0;
  return blobs.map((b, i) => {
    const slice = out.subarray(at, at + b.length);
    at += b.length;
    return statuses[i] === 0 ? slice : statusError(statuses[i] ?? 5);
  });
}

/** Bytes of the `out` of rewrapBlobsInto: the sum of the blobs' sizes. */
export function rewrapBytes(blobs: readonly Uint8Array[]): number {
  let total = 0;
  for (const b of blobs) {
    if (!(b instanceof Uint8Array)) throw errors.badRequest('every blob must be a Uint8Array');
    total += b.length;
  }
  return total;
}

/** What a blob names, without decrypting it; null when it is not a valid blob. */
export function blobInfo(blob: Uint8Array): { tenant: string; service: string; version: number } | null {
  return native.blobInfo(blob);
}
