/**
 * L4 data keys sealed in blobs (docs/design.md section 3) under the leased L3
 * keys of the store. One native call per request or per batch; output
 * buffers are allocated here, in JS, and filled by the addon.
 */
import { errors, fromNative, type KryptonError } from '../errors.js';
import { requireBlobList, requireContext, requireCount } from '../protocol/gateway-frame.js';
import { L4_BYTES, openedBytes, openedL4, recordBlob, recordL4, recordSize } from '../protocol/record-layout.js';
import type { RecordLayout } from '../protocol/record-layout.js';
import { view } from './addon.js';
import { idBytes } from './ids.js';
import { statusError } from './status.js';

// The limits and the record layout have their homes in src/protocol; re-exported for the addon's callers.
export { MAX_BATCH, MAX_CONTEXT_BYTES } from '../protocol/gateway-frame.js';
export { BLOB_FIXED_BYTES, blobSize, L4_BYTES, openedBytes, type RecordLayout } from '../protocol/record-layout.js';

/** The addon's batch open and rewrap: one status per blob, the L4s in `out`. */
type BatchCall = (
  tenant: Buffer,
  blobs: Uint8Array[],
  context: Uint8Array | null,
  out: Uint8Array,
  statuses: Uint8Array,
) => number;

interface BlobNative {
  blobCreate(
    scope: number,
    context: Uint8Array | null,
    count: number,
    out: Uint8Array,
    stride?: number,
    l4At?: number,
    blobAt?: number,
  ): number;
  blobOpen(tenant: Buffer, blob: Uint8Array, context: Uint8Array | null, out: Uint8Array): number;
  blobOpenBatch: BatchCall;
  blobRewrap(tenant: Buffer, blob: Uint8Array, context: Uint8Array | null, out: Uint8Array): number;
  blobRewrapBatch: BatchCall;
  blobInfo(blob: Uint8Array): { tenant: string; service: string; version: number } | null;
  scopeLookup(tenant: Buffer, service: Buffer): number;
}

const native = view<BlobNative>();

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
  return { tenant, service, id, recordBytes: recordSize(tenant, service) };
}

/** The addon's form of a context: null when there is none (the context rule: src/protocol/gateway-frame.ts). */
function checkContext(context: Uint8Array | undefined): Uint8Array | null {
  return context === undefined ? null : requireContext(context);
}

export interface DataKey {
  plaintext: Buffer;
  blob: Buffer;
}

/**
 * Fills `out` with `count` [L4 || blob] records under the scope's ACTIVE
 * version (count * scope.recordBytes bytes), or with `count` records of
 * `layout` (count * layout.stride bytes), and returns that version.
 */
export function createInto(
  scope: ScopeRef,
  count: number,
  context: Uint8Array | undefined,
  out: Uint8Array,
  layout?: RecordLayout,
): number {
  const ctx = checkContext(context);
  const r =
    layout === undefined
      ? native.blobCreate(scope.id, ctx, count, out)
      : native.blobCreate(scope.id, ctx, count, out, layout.stride, layout.l4At, layout.blobAt);
  if (r < 0) throw statusError(-r);
  return r;
}

export function createKey(scope: ScopeRef, context?: Uint8Array): DataKey & { version: number } {
  const out = Buffer.allocUnsafe(scope.recordBytes);
  const version = createInto(scope, 1, context, out);
  return { plaintext: recordL4(out, 0, scope.recordBytes), blob: recordBlob(out, 0, scope.recordBytes), version };
}

export function createKeys(scope: ScopeRef, count: number, context?: Uint8Array): { keys: DataKey[]; version: number } {
  requireCount(count);
  const rec = scope.recordBytes;
  const out = Buffer.allocUnsafe(count * rec);
  const version = createInto(scope, count, context, out);
  const keys = new Array<DataKey>(count);
  for (let i = 0; i < count; i++) keys[i] = { plaintext: recordL4(out, i, rec), blob: recordBlob(out, i, rec) };
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

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

function batchInto(
  fn: BatchCall,
  tenant: string,
  blobs: Uint8Array[],
  context: Uint8Array | undefined,
  out: Uint8Array,
  statuses: Uint8Array,
): number {
  requireBlobList(blobs);
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
export function openBlobsInto(
  tenant: string,
  blobs: Uint8Array[],
  context: Uint8Array | undefined,
  out: Uint8Array,
  statuses: Uint8Array,
): number {
  return batchInto(native.blobOpenBatch, tenant, blobs, context, out, statuses);
}

/**
 * Rewraps many blobs in one native call into buffers the caller owns: `out`
 * gets the new blobs one after another, each the size of its input (zero
 * where the blob failed), `statuses` one native status per blob. Returns
 * how many failed. Overlapping outputs and inputs: BAD_REQUEST.
 */
export function rewrapBlobsInto(
  tenant: string,
  blobs: Uint8Array[],
  context: Uint8Array | undefined,
  out: Uint8Array,
  statuses: Uint8Array,
): number {
  return batchInto(native.blobRewrapBatch, tenant, blobs, context, out, statuses);
}

/** Opens many blobs in one native call; each result is the L4 or its error. */
export function openBlobs(tenant: string, blobs: Uint8Array[], context?: Uint8Array): (Buffer | KryptonError)[] {
  requireBlobList(blobs);
  const out = Buffer.allocUnsafe(openedBytes(blobs.length));
  const statuses = new Uint8Array(blobs.length);
  openBlobsInto(tenant, blobs, context, out, statuses);
  return batchResults('open', blobs, out, statuses);
}

/** Re-seals a blob's L4 under the ACTIVE version; the L4 never leaves native memory. */
export function rewrapBlob(tenant: string, blob: Uint8Array, context?: Uint8Array): { blob: Buffer; version: number } {
  const out = Buffer.allocUnsafe(blob.length);
  const r = native.blobRewrap(idBytes(tenant, 'tenant'), blob, checkContext(context), out);
  if (r < 0) throw statusError(-r);
  return { blob: out, version: r };
}

export function rewrapBlobs(tenant: string, blobs: Uint8Array[], context?: Uint8Array): (Buffer | KryptonError)[] {
  requireBlobList(blobs);
  const out = Buffer.allocUnsafe(rewrapBytes(blobs));
  const statuses = new Uint8Array(blobs.length);
  rewrapBlobsInto(tenant, blobs, context, out, statuses);
  return batchResults('rewrap', blobs, out, statuses);
}

/**
 * The results of a batch open or rewrap, from the buffers the addon filled
 * (inline, or on a worker thread): per blob its L4 (open) or its new blob
 * (rewrap), a view of `out`, or the error of its status. A failed entry's
 * bytes are zeroed.
 */
export function batchResults(
  what: 'open' | 'rewrap',
  blobs: readonly Uint8Array[],
  out: Buffer,
  statuses: Uint8Array,
): (Buffer | KryptonError)[] {
  const results = new Array<Buffer | KryptonError>(blobs.length);
  let at = 0;
  for (let i = 0; i < blobs.length; i++) {
    let slice: Buffer;
    if (what === 'open') slice = openedL4(out, i);
    else {
      const len = blobs[i]!.length;
      slice = out.subarray(at, at + len);
      at += len;
    }
    const s = statuses[i] ?? 5;
    if (s === 0) results[i] = slice;
    else {
      slice.fill(0);
      results[i] = statusError(s);
    }
  }
  return results;
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
