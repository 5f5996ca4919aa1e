/**
 * Byte-level msgpack helpers for the load generator: requests are encoded
 * once from a template with fixed-width uint32 ids (0xce + 4 bytes) that are
 * overwritten in place, and reply ids are read straight from the bytes
 * without decoding the results. Neither allocates per request.
 */
import { createPackr } from '@krypton/client/codec';

// The client's settings, so the templates are the bytes a client sends.
const packr = createPackr();

/** A pre-encoded frame: one request, or an array of `count` requests. */
export interface FrameTemplate {
  buf: Buffer;
  /** Offset of each request's 4-byte big-endian id, in frame order. */
  idOffsets: Uint32Array;
  /** Requests in the frame. */
  count: number;
}

function arrayHeader(n: number): Buffer {
  if (n < 16) return Buffer.from([0x90 | n]);
  if (n < 0x10000) return Buffer.from([0xdc, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = 0xdd;
  b.writeUInt32BE(n, 1);
  return b;
}

/**
 * Encodes `[id, op, params]` (or an array of `perFrame` of them when
 * `arrayFrame` is true) with a placeholder id of 0xffffffff, which msgpack
 * always writes as uint32, so every id has a fixed offset and width.
 */
export function makeFrameTemplate(op: string, params: unknown, perFrame = 1, arrayFrame = perFrame > 1): FrameTemplate {
  const one = packr.pack([0xffffffff, op, params]);
  // [0x93, 0xce, id x4, ...]: fixarray of 3, then the uint32 id.
  if (one[0] !== 0x93 || one[1] !== 0xce) throw new Error('unexpected msgpack encoding of the request template');
  if (!arrayFrame) {
    if (perFrame !== 1) throw new Error('perFrame > 1 needs an array frame');
    return { buf: Buffer.from(one), idOffsets: Uint32Array.of(2), count: 1 };
  }
  const head = arrayHeader(perFrame);
  const buf = Buffer.alloc(head.length + one.length * perFrame);
  head.copy(buf, 0);
  const idOffsets = new Uint32Array(perFrame);
  for (let i = 0; i < perFrame; i++) {
    const at = head.length + i * one.length;
    one.copy(buf, at);
    idOffsets[i] = at + 2;
  }
  return { buf, idOffsets, count: perFrame };
}

/** Writes ids first, first+1, ... into the frame in place. */
export function patchIds(t: FrameTemplate, first: number): void {
  const offs = t.idOffsets;
  for (let i = 0; i < offs.length; i++) t.buf.writeUInt32BE((first + i) >>> 0, offs[i]);
}

/** Thrown (once, not per reply) when a reply is not the shape docs/design.md section 4 promises. */
export class ReplyFormatError extends Error {}

/** Reads an unsigned msgpack integer at pos; returns the value and sets `end.pos`. */
function readUint(buf: Buffer, pos: number, end: { pos: number }): number {
  const b = buf[pos];
  if (b === undefined) throw new ReplyFormatError('truncated reply');
  if (b <= 0x7f) {
    end.pos = pos + 1;
    return b;
  }
  switch (b) {
    case 0xcc:
      end.pos = pos + 2;
      return buf.readUInt8(pos + 1);
    case 0xcd:
      end.pos = pos + 3;
      return buf.readUInt16BE(pos + 1);
    case 0xce:
      end.pos = pos + 5;
      return buf.readUInt32BE(pos + 1);
    case 0xcf:
      end.pos = pos + 9;
      return Number(buf.readBigUInt64BE(pos + 1));
    // Signed encodings of non-negative values are legal msgpack too.
    case 0xd0:
      end.pos = pos + 2;
      return buf.readInt8(pos + 1);
    case 0xd1:
      end.pos = pos + 3;
      return buf.readInt16BE(pos + 1);
    case 0xd2:
      end.pos = pos + 5;
      return buf.readInt32BE(pos + 1);
    default:
      throw new ReplyFormatError(`reply id is not an integer (0x${b.toString(16)})`);
  }
}

function isIntHead(b: number): boolean {
  return b <= 0x7f || (b >= 0xcc && b <= 0xcf) || (b >= 0xd0 && b <= 0xd3);
}

/** Array header at pos: returns the length and sets `end.pos`, or -1 if not an array. */
function readArrayHeader(buf: Buffer, pos: number, end: { pos: number }): number {
  const b = buf[pos];
  if (b === undefined) throw new ReplyFormatError('truncated reply');
  if ((b & 0xf0) === 0x90) {
    end.pos = pos + 1;
    return b & 0x0f;
  }
  if (b === 0xdc) {
    end.pos = pos + 3;
    return buf.readUInt16BE(pos + 1);
  }
  if (b === 0xdd) {
    end.pos = pos + 5;
    return buf.readUInt32BE(pos + 1);
  }
  return -1;
}

/** Returns the offset just past the msgpack value at pos, without decoding it. */
export function skipValue(buf: Buffer, pos: number): number {
  const b = buf[pos];
  if (b === undefined) throw new ReplyFormatError('truncated reply');
  if (b <= 0x7f || b >= 0xe0) return pos + 1; // fixint, negative fixint
  if (b <= 0x8f) return skipN(buf, pos + 1, (b & 0x0f) * 2); // fixmap
  if (b <= 0x9f) return skipN(buf, pos + 1, b & 0x0f); // fixarray
  if (b <= 0xbf) return pos + 1 + (b & 0x1f); // fixstr
  switch (b) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return pos + 1; // nil, false, true
    case 0xc4:
    case 0xd9:
      return pos + 2 + buf.readUInt8(pos + 1); // bin8, str8
    case 0xc5:
    case 0xda:
      return pos + 3 + buf.readUInt16BE(pos + 1);
    case 0xc6:
    case 0xdb:
      return pos + 5 + buf.readUInt32BE(pos + 1);
    case 0xc7:
      return pos + 3 + buf.readUInt8(pos + 1); // ext8: len, type, data
    case 0xc8:
      return pos + 4 + buf.readUInt16BE(pos + 1);
    case 0xc9:
      return pos + 6 + buf.readUInt32BE(pos + 1);
    case 0xca:
      return pos + 5; // float32
    case 0xcb:
      return pos + 9; // float64
    case 0xcc:
    case 0xd0:
      return pos + 2;
    case 0xcd:
    case 0xd1:
      return pos + 3;
    case 0xce:
    case 0xd2:
      return pos + 5;
    case 0xcf:
    case 0xd3:
      return pos + 9;
    case 0xd4:
      return pos + 3; // fixext 1..16: type + data
    case 0xd5:
      return pos + 4;
    case 0xd6:
      return pos + 6;
    case 0xd7:
      return pos + 10;
    case 0xd8:
      return pos + 18;
    case 0xdc:
      return skipN(buf, pos + 3, buf.readUInt16BE(pos + 1));
    case 0xdd:
      return skipN(buf, pos + 5, buf.readUInt32BE(pos + 1));
    case 0xde:
      return skipN(buf, pos + 3, buf.readUInt16BE(pos + 1) * 2);
    case 0xdf:
      return skipN(buf, pos + 5, buf.readUInt32BE(pos + 1) * 2);
    default:
      throw new ReplyFormatError(`invalid msgpack byte 0x${b.toString(16)}`);
  }
}

function skipN(buf: Buffer, pos: number, n: number): number {
  for (let i = 0; i < n; i++) pos = skipValue(buf, pos);
  return pos;
}

export type ReplyVisitor = (id: number, status: number) => void;

const cursor = { pos: 0 };

/**
 * Calls `visit(id, status)` for each reply in a frame, single `[id, s, r]`
 * or an array of them, and returns how many there were. Only headers and
 * ids are read; results are skipped (for the single form not even that).
 */
export function forEachReply(buf: Buffer, visit: ReplyVisitor): number {
  const n = readArrayHeader(buf, 0, cursor);
  if (n < 0) throw new ReplyFormatError('reply frame is not an array');
  const first = buf[cursor.pos];
  if (first === undefined) throw new ReplyFormatError('empty reply frame');
  if (isIntHead(first)) {
    if (n !== 3) throw new ReplyFormatError(`a reply has 3 elements, not ${n}`);
    const id = readUint(buf, cursor.pos, cursor);
    const status = readUint(buf, cursor.pos, cursor);
    visit(id, status);
    return 1;
  }
  let pos = cursor.pos;
  for (let i = 0; i < n; i++) {
    if (readArrayHeader(buf, pos, cursor) !== 3)
      throw new ReplyFormatError('a reply in an array frame is not [id, status, result]');
    const id = readUint(buf, cursor.pos, cursor);
    const status = readUint(buf, cursor.pos, cursor);
    pos = skipValue(buf, cursor.pos);
    visit(id, status);
  }
  return n;
}
