/**
 * Recognizes the hottest frame, `[id, "key.create", {"service": s}]`, in
 * its exact msgpack bytes, so it needs neither the structural pre-scan nor
 * the general decoder: every byte of the layout is checked here, and
 * anything else (other ops, more params, other encodings) returns null and
 * takes the general decoder. What it yields is the very frame the general
 * decoder yields for those bytes (built by the same `createRequest`, so the
 * service meets the same id rule): a faster decoder, not a second path.
 */
import { createRequest, RefusedRequest, type GatewayFrame } from '../../protocol/gateway-frame.js';
import { KryptonError, errors } from '../../errors.js';

const OP = Buffer.from([0xaa, ...Buffer.from('key.create')]);
const SERVICE = Buffer.from([0xa7, ...Buffer.from('service')]);

/** Frames longer than this are never the fast create. */
export const FAST_CREATE_MAX_BYTES = 96;

function matches(b: Uint8Array, at: number, expect: Buffer): boolean {
  if (at + expect.length > b.length) return false;
  for (let i = 0; i < expect.length; i++) if (b[at + i] !== expect[i]) return false;
  return true;
}

/** The frame of `[id, "key.create", {service}]`, or null for any other bytes. */
export function parseFastCreate(b: Uint8Array): GatewayFrame | null {
  if (b.length > FAST_CREATE_MAX_BYTES) return null;
  if (b.length < 24 || b[0] !== 0x93) return null;
  let at = 1;
  let id: number | string;
  const t = b[at]!;
  if (t <= 0x7f) {
    id = t;
    at += 1;
  } else if (t === 0xcc) {
    id = b[at + 1]!;
    at += 2;
  } else if (t === 0xcd) {
    id = (b[at + 1]! << 8) | b[at + 2]!;
    at += 3;
  } else if (t === 0xce) {
    id = ((b[at + 1]! << 24) >>> 0) + (b[at + 2]! << 16) + (b[at + 3]! << 8) + b[at + 4]!;
    at += 5;
  } else {
    return null;
  }
  if (!matches(b, at, OP)) return null;
  at += OP.length;
  // A one-entry map: fixmap, or map16 as msgpackr writes it by default.
  if (b[at] === 0x81) at += 1;
  else if (b[at] === 0xde && b[at + 1] === 0x00 && b[at + 2] === 0x01) at += 3;
  else return null;
  if (!matches(b, at, SERVICE)) return null;
  at += SERVICE.length;
  const s = b[at];
  if (s === undefined || s < 0xa1 || s > 0xbf) return null; // fixstr of 1..31 bytes
  const len = s & 0x1f;
  if (at + 1 + len !== b.length) return null; // nothing may follow
  let service = '';
  for (let i = at + 1; i < b.length; i++) {
    const c = b[i]!;
    if (c > 0x7e || c < 0x20) return null; // printable ASCII; the id rule proper is createRequest's
    service += String.fromCharCode(c);
  }
  let request;
  try {
    request = createRequest(id, service, undefined, undefined);
  } catch (err) {
    request = new RefusedRequest(id, err instanceof KryptonError ? err : errors.badRequest('malformed request'));
  }
  return { batch: false, requests: [request] };
}
