/**
 * Request and response bodies (docs/design.md sections 4 and 5): JSON with bytes
 * as base64 strings, or msgpack with bytes as bin, chosen by content-type.
 */
import { MSGPACK_PACK_OPTIONS, MSGPACK_UNPACK_OPTIONS } from '@krypton/client/codec';
import { Packr, Unpackr } from 'msgpackr';
import { KryptonError } from '../errors.js';

export const JSON_TYPE = 'application/json';
export const MSGPACK_TYPE = 'application/msgpack';
/** Event streams: JSON frames one per line, or msgpack frames each behind a 4-byte big-endian length. */
export const NDJSON_TYPE = 'application/x-ndjson';

export type BodyFormat = 'json' | 'msgpack';

/** Nesting deeper than this is refused (docs/design.md section 9). */
export const MAX_DEPTH = 32;

/**
 * HTTP bodies take the wire's msgpack settings (@krypton/client/codec: plain
 * maps and arrays, no records, 64-bit integers as numbers) with three
 * differences, on purpose:
 * - copyBuffers off: a decoded body's bytes are views of the body, so that
 *   wiping the body wipes every secret decoded from it (src/http/server.ts).
 * - encodeUndefinedAsNil: a reply's absent optional field goes out as nil,
 *   as JSON leaves it out, rather than as msgpackr's undefined extension.
 * - variableMapSize off: no byte matcher reads these bodies (the Gateway's
 *   fast create does read the wire's fixmaps), so maps keep msgpackr's
 *   faster fixed-size header.
 */
export const HTTP_PACK_OPTIONS = {
  ...MSGPACK_PACK_OPTIONS,
  variableMapSize: false,
  encodeUndefinedAsNil: true,
} as const;
export const HTTP_UNPACK_OPTIONS = { ...MSGPACK_UNPACK_OPTIONS, copyBuffers: false } as const;

const packr = new Packr(HTTP_PACK_OPTIONS);
const unpackr = new Unpackr(HTTP_UNPACK_OPTIONS);

/**
 * The format of a body from its content-type. Absent means JSON; anything
 * other than the two formats is a BAD_REQUEST.
 */
export function formatOfContentType(contentType: string | undefined): BodyFormat {
  if (!contentType) return 'json';
  const mime = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (mime === JSON_TYPE) return 'json';
  if (mime === MSGPACK_TYPE) return 'msgpack';
  throw new KryptonError('BAD_REQUEST', `unsupported content-type ${mime}`);
}

/** The reply format: what Accept names if it is one of ours, else the request's format. */
export function replyFormat(accept: string | undefined, requestFormat: BodyFormat): BodyFormat {
  if (accept) {
    for (const part of accept.split(',')) {
      const mime = part.split(';', 1)[0]!.trim().toLowerCase();
      if (mime === MSGPACK_TYPE) return 'msgpack';
      if (mime === JSON_TYPE) return 'json';
    }
  }
  return requestFormat;
}

export function contentTypeOf(format: BodyFormat): string {
  return format === 'msgpack' ? MSGPACK_TYPE : JSON_TYPE;
}

/**
 * Refuses nesting past MAX_DEPTH and anything but plain data: msgpackr turns
 * the reserved byte 0xc1 and extension types into objects (C1Type, Date,
 * ...) rather than failing, and no Krypton request carries those.
 */
function checkShape(value: unknown): void {
  // Iterative, so the check itself cannot overflow the stack.
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) continue;
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) {
      throw new KryptonError('BAD_REQUEST', 'body holds a value of an unsupported type');
    }
    if (depth >= MAX_DEPTH) throw new KryptonError('BAD_REQUEST', `body nested deeper than ${MAX_DEPTH}`);
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
}

/** Decodes a request body; an empty body is undefined. Malformed input is BAD_REQUEST. */
export function decodeBody(bytes: Buffer, format: BodyFormat): unknown {
  if (bytes.length === 0) return undefined;
  let value: unknown;
  try {
    value = format === 'msgpack' ? unpackr.unpack(bytes) : JSON.parse(bytes.toString('utf8'));
  } catch {
    // Includes a RangeError from a decoder recursing on absurd nesting.
    throw new KryptonError('BAD_REQUEST', `malformed ${format} body`);
  }
  checkShape(value);
  return value;
}

/** Replaces byte arrays with base64 strings, since JSON has no bytes (Buffer.toJSON would give a number array). */
export function toJsonValue(value: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH * 2) throw new Error('reply nested too deep to encode');
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map((v) => toJsonValue(v, depth + 1));
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJsonValue(v, depth + 1);
    return out;
  }
  return value;
}

export function encodeBody(value: unknown, format: BodyFormat): Buffer {
  if (format === 'msgpack') return packr.pack(value);
  return Buffer.from(JSON.stringify(toJsonValue(value)) ?? 'null', 'utf8');
}

// Strict base64 (standard alphabet, padded or not); Buffer.from would skip junk silently.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/** Decodes bytes sent as base64 (JSON) or passes through bin (msgpack); anything else is BAD_REQUEST. */
export function decodeBytes(value: unknown, name: string): Buffer {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string' && BASE64.test(value)) return Buffer.from(value, 'base64');
  throw new KryptonError('BAD_REQUEST', `${name} must be bytes (base64 in JSON)`);
}

/** Reads field `name` of a decoded body as bytes. */
export function bytesField(body: unknown, name: string): Buffer {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new KryptonError('BAD_REQUEST', 'body must be an object');
  }
  return decodeBytes((body as Record<string, unknown>)[name], name);
}

/** Like bytesField, but an absent (undefined or null) field is undefined. */
export function optionalBytesField(body: unknown, name: string): Buffer | undefined {
  const value = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
  return value === undefined || value === null ? undefined : bytesField(body, name);
}

/** One frame of an event stream in the given format. */
export function encodeFrame(value: unknown, format: BodyFormat): Buffer {
  if (format === 'json') return Buffer.from(JSON.stringify(toJsonValue(value)) + '\n', 'utf8');
  const payload = packr.pack(value);
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  return frame;
}

/**
 * Splits an event stream back into frames across arbitrary chunk boundaries.
 * A frame longer than maxFrameBytes is an error (the peer is not one of ours).
 */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly format: BodyFormat,
    private readonly maxFrameBytes: number,
  ) {}

  push(chunk: Buffer): unknown[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: unknown[] = [];
    for (;;) {
      if (this.format === 'json') {
        const nl = this.pending.indexOf(0x0a);
        if (nl < 0) break;
        const line = this.pending.subarray(0, nl);
        this.pending = this.pending.subarray(nl + 1);
        if (line.length > 0) frames.push(decodeBody(line, 'json'));
      } else {
        if (this.pending.length < 4) break;
        const len = this.pending.readUInt32BE(0);
        if (len > this.maxFrameBytes) throw new KryptonError('FRAME_TOO_LARGE', 'stream frame too large');
        if (this.pending.length < 4 + len) break;
        frames.push(decodeBody(this.pending.subarray(4, 4 + len), 'msgpack'));
        this.pending = this.pending.subarray(4 + len);
      }
    }
    if (this.pending.length > this.maxFrameBytes + 4)
      throw new KryptonError('FRAME_TOO_LARGE', 'stream frame too large');
    return frames;
  }
}

/** A reply body sent as is, with its own content type (e.g. Prometheus text). */
export class RawBody {
  constructor(
    readonly contentType: string,
    readonly body: string | Uint8Array,
  ) {}
}
