/**
 * The wire format of the Gateway's WebSocket (docs/design.md section 4): msgpack,
 * a frame is an array of requests `[id, op, params]`, the reply frame has the
 * same shape and order. Requests are encoded one by one when they are made,
 * so a frame can be cut exactly under the server's size limit by adding up
 * their lengths, then joined behind one array header without re-encoding.
 */
import { createPackr, createUnpackr } from './codec.js';

// The Gateway's wire settings, from their one home. copyBuffers: every
// plaintext key gets its own Buffer (the caller may wipe it), so the
// received frame can be wiped at once and retains no key.
const packr = createPackr();
const unpackr = createUnpackr();

export type Params = Record<string, unknown>;
export type Reply = [id: unknown, status: unknown, result: unknown];

/**
 * One request, msgpack-encoded. Undefined params are left out: the Gateway groups only requests without a context key.
 */
export function encodeRequest(id: number, op: string, params: Params): Buffer {
  const clean: Params = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined) clean[k] = v;
  // Copy: msgpackr hands back a view of its shared scratch buffer.
  return Buffer.from(packr.pack([id, op, clean]));
}

/** Bytes of the msgpack array header for n elements. */
export function arrayHeaderBytes(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

/** An array frame of already-encoded requests. */
export function joinFrame(parts: Buffer[]): Buffer {
  const n = parts.length;
  const head = Buffer.allocUnsafe(arrayHeaderBytes(n));
  if (n < 16) head[0] = 0x90 | n;
  else if (n < 0x10000) {
    head[0] = 0xdc;
    head.writeUInt16BE(n, 1);
  } else {
    head[0] = 0xdd;
    head.writeUInt32BE(n, 1);
  }
  return Buffer.concat([head, ...parts]);
}

export type Decoded =
  | { kind: 'replies'; replies: Reply[] }
  /** An error about a whole frame (`[null, 1, {code, message}]`): the Gateway could not take it. */
  | { kind: 'frame-error'; error: unknown }
  | { kind: 'garbage' };

/** Decodes a reply frame, then zeroes the received bytes (they held plaintext keys). */
export function decodeReplyFrame(data: Buffer): Decoded {
  let msg: unknown;
  try {
    msg = unpackr.unpack(data);
  } catch {
    return { kind: 'garbage' };
  } finally {
    data.fill(0);
  }
  if (!Array.isArray(msg) || msg.length === 0) return { kind: 'garbage' };
  if (Array.isArray(msg[0])) return { kind: 'replies', replies: msg as Reply[] };
  if (msg.length === 3 && (msg[0] === null || msg[0] === undefined)) return { kind: 'frame-error', error: msg[2] };
  if (msg.length === 3) return { kind: 'replies', replies: [msg as Reply] };
  return { kind: 'garbage' };
}
