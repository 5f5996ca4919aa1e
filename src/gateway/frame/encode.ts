/**
 * The one encoder of the Gateway's replies: reply frames in msgpack, and
 * HTTP bodies in msgpack or JSON (bytes as base64). Each output is sized
 * first, allocated once and written in place, so plaintext keys land in
 * exactly one buffer that the caller wipes once the socket has it (a
 * general encoder keeps a shared scratch buffer, and drops partial copies
 * when it grows). Create replies are written straight from the records the
 * addon filled: packing 256 small maps with a general encoder costs more
 * than making the keys.
 */
import { errors, type KryptonError } from '../../errors.js';
import type { RequestId } from '../../protocol/gateway-frame.js';
import {
  L4_BYTES,
  RECORD_BLOB_AT,
  RECORD_L4_AT,
  recordAt,
  recordBlobBytes,
  type RecordLayout,
} from '../../protocol/record-layout.js';

/** The keys of one create reply: `count` records (absent: one, as `{plaintext, blob}`) from `first` on. */
export class CreateRecords {
  constructor(
    readonly records: Buffer,
    readonly recordBytes: number,
    readonly first: number,
    readonly count: number | undefined,
  ) {}

  get n(): number {
    return this.count ?? 1;
  }
}

/** A whole reply frame, already written (its keys filled in place by the addon). */
export class EncodedReply {
  constructor(public bytes: Buffer) {}
}

/** What a reply may carry. */
export type WireValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | CreateRecords
  | EncodedReply
  | WireValue[]
  | { [key: string]: WireValue | undefined };

export interface Reply {
  id: RequestId | null;
  /** The refusal, or null when `result` is the answer. */
  error: KryptonError | null;
  result: WireValue;
}

/** The error map of a reply: INTERNAL never says more than that. */
export function errorBody(e: KryptonError): { code: string; message: string } {
  return { code: e.code, message: e.code === 'INTERNAL' ? 'internal error' : e.message };
}

// --- msgpack ---

const EMPTY = Buffer.alloc(0);

// A key's map up to its L4, {"plaintext": bin8(32) ..., and up to its blob's length byte, "blob": bin8(n).
const KEY_HEAD = Buffer.from([0x82, 0xa9, ...Buffer.from('plaintext'), 0xc4, L4_BYTES]);
const BLOB_HEAD = Buffer.from([0xa4, ...Buffer.from('blob'), 0xc4]);
const KEYS = Buffer.from([0x81, 0xa4, ...Buffer.from('keys')]);

function strHeader(n: number): number {
  return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}
function binHeader(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}
function collHeader(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}
function numberBytes(v: number): number {
  if (Number.isInteger(v) && !Object.is(v, -0)) {
    if (v >= 0) return v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v <= 0xffffffff ? 5 : 9;
    return v >= -32 ? 1 : v >= -0x80 ? 2 : v >= -0x8000 ? 3 : v >= -0x80000000 ? 5 : 9;
  }
  return 9;
}
/** One key's map {plaintext: bin(32), blob: bin(n)} (a blob is at most 210 bytes: bin8). */
function keyMapBytes(blobLen: number): number {
  return KEY_HEAD.length + L4_BYTES + BLOB_HEAD.length + 1 + blobLen;
}

function nested(): never {
  throw errors.internal('a reply already encoded cannot be part of another value');
}

function sizeOf(v: WireValue | undefined): number {
  if (v === null || v === undefined || typeof v === 'boolean') return 1;
  if (v instanceof EncodedReply) nested();
  if (typeof v === 'number') return numberBytes(v);
  if (typeof v === 'string') {
    const n = Buffer.byteLength(v);
    return strHeader(n) + n;
  }
  if (v instanceof Uint8Array) return binHeader(v.length) + v.length;
  if (v instanceof CreateRecords) {
    const one = keyMapBytes(recordBlobBytes(v.recordBytes));
    return v.count === undefined ? one : KEYS.length + collHeader(v.n) + v.n * one;
  }
  if (Array.isArray(v)) {
    let n = collHeader(v.length);
    for (const x of v) n += sizeOf(x);
    return n;
  }
  let n = 0;
  let entries = 0;
  for (const k in v) {
    const x = v[k];
    if (x === undefined) continue;
    entries++;
    n += sizeOf(k) + sizeOf(x);
  }
  return collHeader(entries) + n;
}

class Writer {
  at = 0;
  constructor(public out: Buffer) {}

  header(n: number, fix: number, fixMax: number, t8: number, t16: number, t32: number): void {
    const o = this.out;
    if (n < fixMax) o[this.at++] = fix | n;
    else if (t8 !== 0 && n < 0x100) {
      o[this.at++] = t8;
      o[this.at++] = n;
    } else if (n < 0x10000) {
      o[this.at++] = t16;
      this.at = o.writeUInt16BE(n, this.at);
    } else {
      o[this.at++] = t32;
      this.at = o.writeUInt32BE(n, this.at);
    }
  }

  number(v: number): void {
    const o = this.out;
    if (!Number.isInteger(v) || v > 0xffffffff || v < -0x80000000 || Object.is(v, -0)) {
      o[this.at++] = 0xcb;
      this.at = o.writeDoubleBE(v, this.at);
    } else if (v >= 0) {
      if (v < 0x80) o[this.at++] = v;
      else if (v < 0x100) {
        o[this.at++] = 0xcc;
        o[this.at++] = v;
      } else if (v < 0x10000) {
        o[this.at++] = 0xcd;
        this.at = o.writeUInt16BE(v, this.at);
      } else {
        o[this.at++] = 0xce;
        this.at = o.writeUInt32BE(v, this.at);
      }
    } else if (v >= -32) o[this.at++] = 0xe0 | (v + 32);
    else if (v >= -0x80) {
      o[this.at++] = 0xd0;
      this.at = o.writeInt8(v, this.at);
    } else if (v >= -0x8000) {
      o[this.at++] = 0xd1;
      this.at = o.writeInt16BE(v, this.at);
    } else {
      o[this.at++] = 0xd2;
      this.at = o.writeInt32BE(v, this.at);
    }
  }

  string(v: string): void {
    const n = Buffer.byteLength(v);
    this.header(n, 0xa0, 32, 0xd9, 0xda, 0xdb);
    this.at += this.out.write(v, this.at);
  }

  bytes(src: Uint8Array, from = 0, to = src.length): void {
    this.header(to - from, 0, 0, 0xc4, 0xc5, 0xc6);
    this.out.set(src.subarray(from, to), this.at);
    this.at += to - from;
  }

  /**
   * One key's map, straight from its record, with plain byte loops: for
   * runs this short they beat Buffer#copy, which makes a view per call.
   */
  key(r: CreateRecords, j: number): void {
    const o = this.out;
    const src = r.records;
    const base = recordAt(r.first + j, r.recordBytes);
    let at = this.at;
    for (let i = 0; i < KEY_HEAD.length; i++) o[at++] = KEY_HEAD[i]!;
    for (let i = base + RECORD_L4_AT, end = i + L4_BYTES; i < end; i++) o[at++] = src[i]!;
    for (let i = 0; i < BLOB_HEAD.length; i++) o[at++] = BLOB_HEAD[i]!;
    o[at++] = recordBlobBytes(r.recordBytes);
    for (let i = base + RECORD_BLOB_AT, end = base + r.recordBytes; i < end; i++) o[at++] = src[i]!;
    this.at = at;
  }

  value(v: WireValue | undefined): void {
    if (v === null || v === undefined) this.out[this.at++] = 0xc0;
    else if (typeof v === 'boolean') this.out[this.at++] = v ? 0xc3 : 0xc2;
    else if (typeof v === 'number') this.number(v);
    else if (typeof v === 'string') this.string(v);
    else if (v instanceof Uint8Array) this.bytes(v);
    else if (v instanceof EncodedReply) nested();
    else if (v instanceof CreateRecords) {
      if (v.count === undefined) return this.key(v, 0);
      this.at += KEYS.copy(this.out, this.at);
      this.header(v.n, 0x90, 16, 0, 0xdc, 0xdd);
      for (let j = 0; j < v.n; j++) this.key(v, j);
    } else if (Array.isArray(v)) {
      this.header(v.length, 0x90, 16, 0, 0xdc, 0xdd);
      for (const x of v) this.value(x);
    } else {
      let entries = 0;
      for (const k in v) if (v[k] !== undefined) entries++;
      this.header(entries, 0x80, 16, 0, 0xde, 0xdf);
      for (const k in v) {
        if (v[k] === undefined) continue;
        this.string(k);
        this.value(v[k]);
      }
    }
  }
}

function replyValue(r: Reply): WireValue[] {
  return r.error === null ? [r.id, 0, r.result] : [r.id, 1, errorBody(r.error)];
}

/** msgpack bytes of one value, in a buffer of its own. */
export function encodeMsgpack(v: WireValue): Buffer {
  const w = new Writer(Buffer.allocUnsafe(sizeOf(v)));
  w.value(v);
  return w.out;
}

/** Writes the heads of framed create replies (one at a time: the encoder is synchronous). */
const headWriter = new Writer(Buffer.alloc(0));

/**
 * The reply frame of a create request, `[id, 0, {plaintext, blob}]` or
 * `[id, 0, {keys: [...]}]`, written before its keys exist: place() frames
 * every key map and gives the addon the buffer to fill in place, with this
 * object as the record layout (record 0's framing is written here; the
 * addon copies it to the others). Once filled, it is the reply.
 */
export class CreateReplyFrame extends EncodedReply implements RecordLayout {
  stride = 0;
  readonly l4At = KEY_HEAD.length;
  blobAt = 0;

  constructor(
    readonly id: RequestId,
    readonly count: number | undefined,
  ) {
    super(EMPTY);
  }

  /** Allocates the frame for keys of `recordBytes` records; returns where the addon writes them. */
  place(recordBytes: number): Buffer {
    const blobLen = recordBlobBytes(recordBytes);
    const n = this.count ?? 1;
    this.stride = keyMapBytes(blobLen);
    this.blobAt = KEY_HEAD.length + L4_BYTES + BLOB_HEAD.length + 1;
    const head = 1 + sizeOf(this.id) + 1 + (this.count === undefined ? 0 : KEYS.length + collHeader(n));
    const w = headWriter;
    w.out = this.bytes = Buffer.allocUnsafe(head + n * this.stride);
    w.at = 0;
    w.out[w.at++] = 0x93;
    w.value(this.id);
    w.out[w.at++] = 0x00;
    if (this.count !== undefined) {
      w.at += KEYS.copy(w.out, w.at);
      w.header(n, 0x90, 16, 0, 0xdc, 0xdd);
    }
    w.out = EMPTY;
    const out = this.bytes.subarray(head);
    KEY_HEAD.copy(out, 0);
    BLOB_HEAD.copy(out, KEY_HEAD.length + L4_BYTES);
    out[this.blobAt - 1] = blobLen;
    return out;
  }
}

/** A reply frame: `[id, status, result]`, or an array of them for a batch frame. */
export function encodeFrame(replies: readonly Reply[], batch: boolean): Buffer {
  if (batch) return encodeMsgpack(replies.map(replyValue));
  const r = replies[0]!;
  if (r.result instanceof EncodedReply) return r.result.bytes;
  if (r.error !== null) return encodeMsgpack(replyValue(r));
  // One reply (the common frame): its array written in place, no wrapper to walk.
  const w = new Writer(Buffer.allocUnsafe(1 + sizeOf(r.id) + 1 + sizeOf(r.result)));
  w.out[w.at++] = 0x93;
  w.value(r.id);
  w.out[w.at++] = 0x00;
  w.value(r.result);
  return w.out;
}

/** A frame-level refusal: `[null, 1, {code, message}]`. */
export function encodeFrameError(e: KryptonError): Buffer {
  return encodeMsgpack([null, 1, errorBody(e)]);
}

// --- JSON (HTTP bodies), bytes as base64 ---

const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');

function base64Bytes(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/** Base64 straight into `out` (no string holds the bytes, so they can be wiped). */
function writeBase64(out: Buffer, at: number, src: Uint8Array, from: number, to: number): number {
  let i = from;
  for (; i + 2 < to; i += 3) {
    const x = (src[i]! << 16) | (src[i + 1]! << 8) | src[i + 2]!;
    out[at++] = B64[x >> 18]!;
    out[at++] = B64[(x >> 12) & 63]!;
    out[at++] = B64[(x >> 6) & 63]!;
    out[at++] = B64[x & 63]!;
  }
  if (i < to) {
    const x = (src[i]! << 16) | (i + 1 < to ? src[i + 1]! << 8 : 0);
    out[at++] = B64[x >> 18]!;
    out[at++] = B64[(x >> 12) & 63]!;
    out[at++] = i + 1 < to ? B64[(x >> 6) & 63]! : 0x3d;
    out[at++] = 0x3d;
  }
  return at;
}

const jsonString = (s: string): string => JSON.stringify(s);

function jsonSize(v: WireValue | undefined): number {
  if (v === null || v === undefined) return 4;
  if (v instanceof EncodedReply) nested();
  if (typeof v === 'boolean') return v ? 4 : 5;
  if (typeof v === 'number') return Buffer.byteLength(JSON.stringify(v));
  if (typeof v === 'string') return Buffer.byteLength(jsonString(v));
  if (v instanceof Uint8Array) return 2 + base64Bytes(v.length);
  if (v instanceof CreateRecords) {
    const blobLen = recordBlobBytes(v.recordBytes);
    const one = '{"plaintext":"","blob":""}'.length + base64Bytes(L4_BYTES) + base64Bytes(blobLen);
    return v.count === undefined ? one : '{"keys":[]}'.length + v.n * one + (v.n - 1);
  }
  if (Array.isArray(v)) {
    let n = 2 + Math.max(0, v.length - 1);
    for (const x of v) n += jsonSize(x);
    return n;
  }
  let n = 2;
  let entries = 0;
  for (const k in v) {
    if (v[k] === undefined) continue;
    entries++;
    n += jsonSize(k) + 1 + jsonSize(v[k]);
  }
  return n + Math.max(0, entries - 1);
}

class JsonWriter {
  at = 0;
  constructor(readonly out: Buffer) {}

  raw(s: string): void {
    this.at += this.out.write(s, this.at);
  }

  b64(src: Uint8Array, from = 0, to = src.length): void {
    this.out[this.at++] = 0x22;
    this.at = writeBase64(this.out, this.at, src, from, to);
    this.out[this.at++] = 0x22;
  }

  key(r: CreateRecords, j: number): void {
    const base = recordAt(r.first + j, r.recordBytes);
    this.raw('{"plaintext":');
    this.b64(r.records, base + RECORD_L4_AT, base + RECORD_L4_AT + L4_BYTES);
    this.raw(',"blob":');
    this.b64(r.records, base + RECORD_BLOB_AT, base + r.recordBytes);
    this.raw('}');
  }

  value(v: WireValue | undefined): void {
    if (v === null || v === undefined) this.raw('null');
    else if (typeof v === 'boolean' || typeof v === 'number') this.raw(JSON.stringify(v));
    else if (typeof v === 'string') this.raw(jsonString(v));
    else if (v instanceof Uint8Array) this.b64(v);
    else if (v instanceof EncodedReply) nested();
    else if (v instanceof CreateRecords) {
      if (v.count === undefined) return this.key(v, 0);
      this.raw('{"keys":[');
      for (let j = 0; j < v.n; j++) {
        if (j > 0) this.raw(',');
        this.key(v, j);
      }
      this.raw(']}');
    } else if (Array.isArray(v)) {
      this.raw('[');
      v.forEach((x, i) => {
        if (i > 0) this.raw(',');
        this.value(x);
      });
      this.raw(']');
    } else {
      this.raw('{');
      let first = true;
      for (const k in v) {
        if (v[k] === undefined) continue;
        if (!first) this.raw(',');
        first = false;
        this.raw(jsonString(k));
        this.raw(':');
        this.value(v[k]);
      }
      this.raw('}');
    }
  }
}

/** JSON bytes of one value (bytes as base64), in a buffer of its own. */
export function encodeJson(v: WireValue): Buffer {
  const w = new JsonWriter(Buffer.allocUnsafe(jsonSize(v)));
  w.value(v);
  return w.at === w.out.length ? w.out : w.out.subarray(0, w.at);
}

/** An HTTP reply body: the result map, or `{code, message}`. */
export function encodeHttpBody(r: Reply, json: boolean): Buffer {
  const v = r.error === null ? r.result : errorBody(r.error);
  return json ? encodeJson(v) : encodeMsgpack(v);
}
