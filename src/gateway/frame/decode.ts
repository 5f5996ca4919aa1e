/**
 * Bytes to typed requests, validated once (docs/design.md sections 4 and 9): the
 * frame's size and structure are checked before the msgpack decoder sees
 * it, then every request is parsed by the protocol's rules. The hottest
 * frame takes a byte matcher that yields the same typed frame.
 */
import { errors, KryptonError } from '../../errors.js';
import { createUnpackr } from '@krypton/client/codec';
import {
  parseFrame,
  parseRequest,
  type GatewayFrame,
  type GatewayRequest,
  type Op,
  type RefusedRequest,
} from '../../protocol/gateway-frame.js';
import { parseFastCreate } from './fast-create.js';
import { scanMsgpack, type ScanLimits } from './scan.js';

export interface DecodeLimits extends ScanLimits {
  maxFrameBytes: number;
}

const unpackr = createUnpackr();

/** A msgpack value from bytes whose limits were checked first; a KryptonError explains a refusal. */
export function decodeMsgpack(data: Uint8Array, limits: DecodeLimits): unknown {
  if (data.byteLength > limits.maxFrameBytes)
    throw new KryptonError('FRAME_TOO_LARGE', `frame over ${limits.maxFrameBytes} bytes`);
  const scan = scanMsgpack(data, limits);
  if (scan === 'too-deep') throw errors.badRequest(`frame nested deeper than ${limits.maxDepth}`);
  if (scan === 'too-many') throw errors.badRequest(`frame holds more than ${limits.maxElements} elements`);
  if (scan !== 'ok') throw errors.badRequest('malformed msgpack');
  try {
    return unpackr.unpack(data);
  } catch {
    throw errors.badRequest('malformed msgpack');
  }
}

/** A WebSocket frame's requests; throws a KryptonError when the frame as a whole is refused. */
export function decodeFrame(data: Uint8Array, limits: DecodeLimits): GatewayFrame {
  return parseFastCreate(data) ?? parseFrame(decodeMsgpack(data, limits));
}

const BYTE_FIELDS = ['blob', 'context'] as const;

/** JSON params -> the msgpack shape: base64 strings in byte fields become Buffers. */
function paramsFromJson(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...params };
  for (const k of BYTE_FIELDS) if (typeof out[k] === 'string') out[k] = Buffer.from(out[k], 'base64');
  if (Array.isArray(out.blobs))
    out.blobs = out.blobs.map((b: unknown) => (typeof b === 'string' ? Buffer.from(b, 'base64') : b));
  return out;
}

/**
 * An HTTP body (`POST /v1/keys/{op}`, the params map in JSON with base64
 * bytes or in msgpack) as the request the WebSocket would carry.
 */
export function decodeHttpRequest(
  op: Op,
  body: Buffer,
  json: boolean,
  limits: DecodeLimits,
): GatewayRequest | RefusedRequest {
  let params: unknown;
  if (json) {
    if (body.byteLength > limits.maxFrameBytes)
      throw new KryptonError('FRAME_TOO_LARGE', `body over ${limits.maxFrameBytes} bytes`);
    try {
      params = JSON.parse(body.toString('utf8'));
    } catch {
      throw errors.badRequest('malformed JSON');
    }
  } else {
    params = decodeMsgpack(body, limits);
  }
  if (typeof params !== 'object' || params === null || Array.isArray(params) || params instanceof Uint8Array)
    throw errors.badRequest('the body is a map of params');
  return parseRequest([0, op, json ? paramsFromJson(params as Record<string, unknown>) : params]);
}
