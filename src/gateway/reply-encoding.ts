/**
 * Create replies written straight into msgpack bytes: `[id, 0, {plaintext,
 * blob}]` or `[id, 0, {keys: [...]}]` from the records the addon filled.
 * Packing 256 small maps with a general encoder costs more than making the
 * keys; this writes each key with two copies and no objects.
 */
import { L4_BYTES } from '../native/index.js';
import { packr } from './codec.js';

/** A reply frame already encoded; the server sends it as it is. */
export class EncodedFrame {
  constructor(readonly bytes: Buffer) {}
}

const PLAINTEXT = Buffer.from([0xa9, ...Buffer.from('plaintext')]);
const BLOB = Buffer.from([0xa4, ...Buffer.from('blob')]);
const KEYS = Buffer.from([0xa4, ...Buffer.from('keys')]);

function idBytes(id: unknown): Buffer {
  if (typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 0x7f) return Buffer.from([id]);
  return packr.pack(id);
}

/** Bytes of one key's map: {plaintext: bin(32), blob: bin(n)}. */
function keyBytes(blobLen: number): number {
  return 1 + PLAINTEXT.length + 2 + L4_BYTES + BLOB.length + 2 + blobLen;
}

function writeKey(out: Buffer, at: number, records: Buffer, rec: number, j: number): number {
  const base = j * rec;
  out[at++] = 0x82;
  at += PLAINTEXT.copy(out, at);
  out[at++] = 0xc4;
  out[at++] = L4_BYTES;
  at += records.copy(out, at, base, base + L4_BYTES);
  at += BLOB.copy(out, at);
  out[at++] = 0xc4;
  out[at++] = rec - L4_BYTES;
  at += records.copy(out, at, base + L4_BYTES, base + rec);
  return at;
}

/** `[id, 0, {plaintext, blob}]` for one key, or `[id, 0, {keys}]` for `count` keys. */
export function encodeCreateReply(id: unknown, records: Buffer, rec: number, count: number | undefined): EncodedFrame {
  const idb = idBytes(id);
  const n = count ?? 1;
  const arrayHeader = count === undefined ? 0 : n < 16 ? 1 : 3;
  const size = 1 + idb.length + 1 + (count === undefined ? 0 : 1 + KEYS.length + arrayHeader) + n * keyBytes(rec - L4_BYTES);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  out[at++] = 0x93;
  at += idb.copy(out, at);
  out[at++] = 0x00;
  if (count === undefined) return new EncodedFrame(out.subarray(0, writeKey(out, at, records, rec, 0)));
  out[at++] = 0x81;
  at += KEYS.copy(out, at);
  if (n < 16) {
    out[at++] = 0x90 | n;
  } else {
    out[at++] = 0xdc;
    at = out.writeUInt16BE(n, at);
  }
  for (let j = 0; j < n; j++) at = writeKey(out, at, records, rec, j);
  return new EncodedFrame(out.subarray(0, at));
}
