/**
 * The Gateway's request frames (docs/design.md section 4), typed and validated
 * once: a frame is one request `[id, op, params]` or an array of them, and
 * the reply frame has the same shape and order, `[id, 0, result]` or
 * `[id, 1, {code, message}]`. Every rule a request must meet (op names, the
 * id rule for services, the count, context and blob rules) lives here; the
 * Gateway's decoders and the client both read it from this one place.
 */
import { errors, KryptonError } from '../errors.js';
import { requireId } from '../native/ids.js';
import { MAX_BLOB_BYTES } from './record-layout.js';

export const OPS = ['key.create', 'key.decrypt', 'key.rewrap', 'key.info', 'ping'] as const;
export type Op = (typeof OPS)[number];
const OP_SET: ReadonlySet<string> = new Set(OPS);

/** Largest `count` of one create, and of one list of blobs. */
export const MAX_BATCH = 4096;
/** Largest caller context bound into the AAD. */
export const MAX_CONTEXT_BYTES = 4096;
/** Largest blob (docs/design.md section 3): its home is the record layout. */
export { MAX_BLOB_BYTES };

export type RequestId = number | string;

export interface CreateRequest {
  op: 'key.create';
  id: RequestId;
  service: string;
  /** Absent: one key, answered `{plaintext, blob}`; present: `{keys: [...]}`. */
  count?: number;
  context?: Uint8Array;
}

export interface OpenRequest {
  op: 'key.decrypt' | 'key.rewrap';
  id: RequestId;
  blobs: Uint8Array[];
  /** `blobs` was sent (answered in the plural) rather than `blob`. */
  many: boolean;
  context?: Uint8Array;
}

export interface InfoRequest {
  op: 'key.info';
  id: RequestId;
  blob: Uint8Array;
}

export interface PingRequest {
  op: 'ping';
  id: RequestId;
}

export type GatewayRequest = CreateRequest | OpenRequest | InfoRequest | PingRequest;

/** A request refused while it was decoded, answered under its id (null when it had none). */
export class RefusedRequest {
  constructor(
    readonly id: RequestId | null,
    readonly error: KryptonError,
  ) {}
}

/**
 * The count rule, the one home of the batch range: an integer from 1 to
 * MAX_BATCH (keys of one create, blobs of one request, records of one
 * native call or bulk task).
 */
export function isBatchSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_BATCH;
}

/** A count that must be there: the count rule, or BAD_REQUEST. */
export function requireCount(v: unknown): number {
  if (!isBatchSize(v)) throw errors.badRequest(`count must be an integer from 1 to ${MAX_BATCH}`);
  return v;
}

/** A request's count: absent, or the count rule. */
export function checkCount(v: unknown): number | undefined {
  return v === undefined ? undefined : requireCount(v);
}

/** A list of blobs: an array whose length meets the count rule, or BAD_REQUEST. */
export function requireBlobList<T>(v: T[]): T[];
export function requireBlobList(v: unknown): unknown[];
export function requireBlobList(v: unknown): unknown[] {
  if (!Array.isArray(v) || !isBatchSize(v.length)) throw errors.badRequest(`blobs must hold 1 to ${MAX_BATCH} blobs`);
  return v;
}

function bytesParam(v: unknown, name: string, max: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length > max) throw errors.badRequest(`${name} must be bytes (at most ${max})`);
  return v;
}

/** A context that is there: at most MAX_CONTEXT_BYTES bytes, or BAD_REQUEST. */
export function requireContext(v: unknown): Uint8Array {
  return bytesParam(v, 'context', MAX_CONTEXT_BYTES);
}

/** The context rule: absent (or nil), or at most MAX_CONTEXT_BYTES bytes. */
export function checkContext(v: unknown): Uint8Array | undefined {
  return v === undefined || v === null ? undefined : requireContext(v);
}

/** `blob`, or `blobs` holding 1 to MAX_BATCH blobs. */
export function checkBlobs(p: Record<string, unknown>): { blobs: Uint8Array[]; many: boolean } {
  if (p.blobs !== undefined) {
    const list = requireBlobList(p.blobs);
    const blobs = new Array<Uint8Array>(list.length);
    for (let i = 0; i < blobs.length; i++) blobs[i] = bytesParam(list[i], `blobs[${i}]`, MAX_BLOB_BYTES);
    return { blobs, many: true };
  }
  return { blobs: [bytesParam(p.blob, 'blob', MAX_BLOB_BYTES)], many: false };
}

/** A create from its parts; the fast decoder and the general one both build it here. */
export function createRequest(id: RequestId, service: unknown, count: unknown, context: unknown): CreateRequest {
  const r: CreateRequest = { op: 'key.create', id, service: requireId(service, 'service') };
  const n = checkCount(count);
  if (n !== undefined) r.count = n;
  const ctx = checkContext(context);
  if (ctx !== undefined) r.context = ctx;
  return r;
}

function isRequestId(v: unknown): v is RequestId {
  return (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= 256);
}

/** One decoded request `[id, op, params?]`, validated; a RefusedRequest says why not. */
export function parseRequest(raw: unknown): GatewayRequest | RefusedRequest {
  if (!Array.isArray(raw)) return new RefusedRequest(null, errors.badRequest('a request is [id, op, params]'));
  const [id, op, params = {}] = raw as [unknown, unknown, unknown];
  if (!isRequestId(id)) return new RefusedRequest(null, errors.badRequest('id must be a number or a string'));
  // Refused under its id whenever it has one, so the caller knows which request it was.
  if (raw.length !== 3 && raw.length !== 2)
    return new RefusedRequest(id, errors.badRequest('a request is [id, op, params]'));
  try {
    if (typeof op !== 'string' || !OP_SET.has(op)) throw errors.badRequest('unknown op');
    if (typeof params !== 'object' || params === null || Array.isArray(params) || params instanceof Uint8Array)
      throw errors.badRequest('params must be a map');
    const p = params as Record<string, unknown>;
    switch (op as Op) {
      case 'key.create':
        return createRequest(id, p.service, p.count, p.context);
      case 'key.decrypt':
      case 'key.rewrap': {
        const { blobs, many } = checkBlobs(p);
        const r: OpenRequest = { op: op as OpenRequest['op'], id, blobs, many };
        const ctx = checkContext(p.context);
        if (ctx !== undefined) r.context = ctx;
        return r;
      }
      case 'key.info':
        return { op: 'key.info', id, blob: bytesParam(p.blob, 'blob', MAX_BLOB_BYTES) };
      case 'ping':
        return { op: 'ping', id };
    }
  } catch (err) {
    return new RefusedRequest(id, err instanceof KryptonError ? err : errors.badRequest('malformed request'));
  }
}

/** A decoded frame: its requests in order, and whether it was an array of requests. */
export interface GatewayFrame {
  batch: boolean;
  requests: (GatewayRequest | RefusedRequest)[];
}

/** The requests of a decoded msgpack value. */
export function parseFrame(value: unknown): GatewayFrame {
  const batch = Array.isArray(value) && value.length > 0 && Array.isArray(value[0]);
  const raw = batch ? (value as unknown[]) : [value];
  return { batch, requests: raw.map(parseRequest) };
}
