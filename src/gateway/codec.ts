/**
 * Frame and body codecs of the Gateway: msgpack (binary fields as bin) and,
 * for HTTP clients without msgpack, JSON with bytes as base64.
 */
import { Packr, Unpackr } from 'msgpackr';

// copyBuffers: a uWS message buffer dies when its callback returns, and a
// request may wait for a lease; its blobs must not point into that buffer.
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true, int64AsType: 'number' });
export const packr = new Packr({ useRecords: false, variableMapSize: true });

const BYTE_FIELDS = new Set(['blob', 'context']);

/** JSON params -> the msgpack shape: base64 strings in byte fields become Buffers. */
export function paramsFromJson(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...params };
  for (const k of BYTE_FIELDS) if (typeof out[k] === 'string') out[k] = Buffer.from(out[k] as string, 'base64');
  if (Array.isArray(out.blobs)) out.blobs = out.blobs.map((b) => (typeof b === 'string' ? Buffer.from(b, 'base64') : b));
  return out;
}

/** A result for JSON: every byte value as base64. */
export function resultToJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (Array.isArray(v)) return v.map(resultToJson);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = resultToJson(x);
    return out;
  }
  return v;
}
