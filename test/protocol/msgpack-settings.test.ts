/**
 * The msgpack settings have one home, @krypton/client/codec (the wire's).
 * HTTP bodies take them with three named differences (src/http/codec.ts),
 * and the benches encode as the client does.
 */
import { createPackr, createUnpackr, MSGPACK_PACK_OPTIONS, MSGPACK_UNPACK_OPTIONS } from '@krypton/client/codec';
import { describe, expect, it } from 'vitest';
import { makeFrameTemplate, patchIds } from '../../bench/lib/msgpack-frames.js';
import { parseFastCreate } from '../../src/gateway/frame/fast-create.js';
import { decodeBody, encodeBody, HTTP_PACK_OPTIONS, HTTP_UNPACK_OPTIONS } from '../../src/http/codec.js';

/** The keys whose values differ between two option objects. */
function differences(a: object, b: object): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const va = a as Record<string, unknown>;
  const vb = b as Record<string, unknown>;
  // Absent and false are the same setting.
  const same = (k: string): boolean =>
    typeof va[k] === 'string' ? va[k] === vb[k] : Boolean(va[k]) === Boolean(vb[k]);
  return [...keys].filter((k) => !same(k)).sort();
}

describe('HTTP bodies: the wire settings and the named differences', () => {
  it('packs as the wire does but for variableMapSize and encodeUndefinedAsNil', () => {
    expect(differences(HTTP_PACK_OPTIONS, MSGPACK_PACK_OPTIONS)).toEqual(['encodeUndefinedAsNil', 'variableMapSize']);
    expect(HTTP_PACK_OPTIONS.useRecords).toBe(false);
  });

  it('unpacks as the wire does but for copyBuffers', () => {
    expect(differences(HTTP_UNPACK_OPTIONS, MSGPACK_UNPACK_OPTIONS)).toEqual(['copyBuffers']);
    expect(HTTP_UNPACK_OPTIONS).toMatchObject({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
  });

  it('a decoded body holds views of the body (wiping it wipes them); the wire copies', () => {
    const body = createPackr().pack({ secret: Buffer.alloc(32, 7) });
    const http = decodeBody(body, 'msgpack') as { secret: Uint8Array };
    const wire = createUnpackr().unpack(body) as { secret: Uint8Array };
    body.fill(0);
    expect(http.secret.every((b) => b === 0)).toBe(true);
    expect(wire.secret.every((b) => b === 7)).toBe(true);
  });

  it('an absent field goes out as nil; small maps keep the fixed-size header', () => {
    const bytes = encodeBody({ a: undefined }, 'msgpack');
    expect([...bytes]).toEqual([0xde, 0x00, 0x01, 0xa1, 0x61, 0xc0]);
    expect(decodeBody(bytes, 'msgpack')).toEqual({ a: null });
  });

  it('64-bit integers decode as numbers, both ways', () => {
    const bytes = Buffer.from([0xcf, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(decodeBody(bytes, 'msgpack')).toBe(2 ** 32);
    expect(createUnpackr().unpack(bytes)).toBe(2 ** 32);
  });
});

describe('the benches encode as the client', () => {
  it('a request template is the bytes the client sends, and the Gateway reads it as the fast create', () => {
    const t = makeFrameTemplate('key.create', { service: 'app' });
    patchIds(t, 0x01020304);
    expect(t.buf.equals(createPackr().pack([0x01020304, 'key.create', { service: 'app' }]))).toBe(true);
    expect(parseFastCreate(t.buf)?.requests).toEqual([{ op: 'key.create', id: 0x01020304, service: 'app' }]);
  });
});
