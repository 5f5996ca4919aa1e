/**
 * The msgpack settings every process uses on the Gateway's wire: plain maps
 * and arrays (no records), bin for bytes, 64-bit integers as numbers.
 * `copyBuffers`: a decoded frame's byte fields are copies, never views of
 * the received message (a uWS message dies with its callback, and a client
 * wipes a received frame once decoded).
 */
import { Packr, Unpackr } from 'msgpackr';

export const MSGPACK_PACK_OPTIONS = { useRecords: false, variableMapSize: true } as const;
export const MSGPACK_UNPACK_OPTIONS = {
  useRecords: false,
  mapsAsObjects: true,
  copyBuffers: true,
  int64AsType: 'number',
} as const;

export function createPackr(): Packr {
  return new Packr(MSGPACK_PACK_OPTIONS);
}

export function createUnpackr(): Unpackr {
  return new Unpackr(MSGPACK_UNPACK_OPTIONS);
}
