import { randomBytes } from 'node:crypto';
import { pack, unpack } from 'msgpackr';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KryptonError } from '../../../src/errors.js';
import {
  CreateRecords,
  CreateReplyFrame,
  encodeFrame,
  encodeJson,
  encodeMsgpack,
  type WireValue,
} from '../../../src/gateway/frame/encode.js';
import { createInto, generateKey, openBlob, scopeRef, scopes } from '../../../src/native/index.js';

describe('create replies written from the records', () => {
  for (const [id, count] of [
    [1, undefined],
    [127, 1],
    [128, 15],
    [70000, 16],
    ['req-7', 300],
    [2 ** 33, 4096],
  ] as const) {
    it(`decode as msgpack to exactly the keys (id ${String(id)}, count ${String(count)})`, () => {
      const rec = 32 + 95;
      const n = count ?? 1;
      const records = randomBytes((n + 2) * rec);
      const bytes = encodeFrame([{ id, error: null, result: new CreateRecords(records, rec, 2, count) }], false);
      const decoded = unpack(bytes) as [unknown, number, Record<string, unknown>];
      expect(decoded[0]).toBe(id);
      expect(decoded[1]).toBe(0);
      const keys = (count === undefined ? [decoded[2]] : (decoded[2].keys as unknown[])) as {
        plaintext: Uint8Array;
        blob: Uint8Array;
      }[];
      expect(keys).toHaveLength(n);
      keys.forEach((k, j) => {
        const at = (j + 2) * rec;
        expect(Buffer.from(k.plaintext).equals(records.subarray(at, at + 32))).toBe(true);
        expect(Buffer.from(k.blob).equals(records.subarray(at + 32, at + rec))).toBe(true);
      });
      if (count === undefined) expect(Object.keys(decoded[2])).toEqual(['plaintext', 'blob']);
      // The JSON body of the same reply: the same keys in base64.
      const body = JSON.parse(encodeJson(new CreateRecords(records, rec, 2, count)).toString()) as Record<
        string,
        unknown
      >;
      const jkeys = (count === undefined ? [body] : (body.keys as unknown[])) as { plaintext: string; blob: string }[];
      jkeys.forEach((k, j) => {
        const at = (j + 2) * rec;
        expect(k.plaintext).toBe(records.subarray(at, at + 32).toString('base64'));
        expect(k.blob).toBe(records.subarray(at + 32, at + rec).toString('base64'));
      });
    });
  }
});

// Plain values as a reply carries them: maps with string keys, arrays, strings, numbers, bytes, null, booleans.
const wire: fc.Arbitrary<WireValue> = fc.letrec<{ v: WireValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.maxSafeInteger(),
    fc.string({ unit: 'grapheme', maxLength: 300 }),
    fc.uint8Array({ maxLength: 70_000 }).map((a) => Buffer.from(a)),
    fc.array(tie('v'), { maxLength: 20 }),
    fc.dictionary(
      fc.string({ maxLength: 20 }).filter((k) => k !== '__proto__'),
      tie('v'),
      { maxKeys: 20 },
    ),
  ),
})).v;

describe('create replies framed first, keys written in place by the addon', () => {
  beforeAll(() => {
    scopes.bind('enc-tenant', 'enc-svc', 1, 'ACTIVE', generateKey());
  });
  afterAll(() => {
    scopes.evict('enc-tenant', 'enc-svc');
  });

  for (const [id, count] of [
    [1, undefined],
    [300, 1],
    ['r-9', 15],
    [2 ** 40, 16],
    [7, 4096],
  ] as const) {
    it(`decode to the same frame the encoder writes from records (id ${String(id)}, count ${String(count)})`, () => {
      const scope = scopeRef('enc-tenant', 'enc-svc')!;
      const n = count ?? 1;
      const reply = new CreateReplyFrame(id, count);
      createInto(scope, n, undefined, reply.place(scope.recordBytes), reply);
      const framed = unpack(reply.bytes) as [unknown, number, Record<string, unknown>];
      const keys = (count === undefined ? [framed[2]] : (framed[2].keys as unknown[])) as {
        plaintext: Uint8Array;
        blob: Uint8Array;
      }[];
      expect(keys).toHaveLength(n);
      // The same keys, written from plain records by the other encoder, make the same bytes.
      const records = Buffer.concat(keys.map((k) => Buffer.concat([k.plaintext, k.blob])));
      expect(
        encodeFrame(
          [{ id, error: null, result: new CreateRecords(records, scope.recordBytes, 0, count) }],
          false,
        ).equals(reply.bytes),
      ).toBe(true);
      expect(encodeFrame([{ id, error: null, result: reply }], false)).toBe(reply.bytes);
      for (const k of keys) expect(openBlob('enc-tenant', k.blob).equals(Buffer.from(k.plaintext))).toBe(true);
    });
  }
});

describe('the one encoder against general encoders', () => {
  it('msgpack: a general decoder reads back exactly the value (and what msgpackr writes for it, but -0 kept)', () => {
    fc.assert(
      fc.property(wire, (v) => {
        const mine: unknown = unpack(encodeMsgpack(v));
        expect(mine).toEqual(v);
        if (!JSON.stringify(v, (_k, x: unknown) => (Object.is(x, -0) ? '-0' : x)).includes('"-0"'))
          expect(mine).toEqual(unpack(pack(v)));
      }),
      { numRuns: 300 },
    );
  });

  it('JSON: parses to what JSON.stringify makes of the value with bytes as base64', () => {
    const b64 = (x: unknown): unknown =>
      x instanceof Uint8Array
        ? Buffer.from(x).toString('base64')
        : Array.isArray(x)
          ? x.map(b64)
          : x !== null && typeof x === 'object'
            ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, b64(y)]))
            : x;
    fc.assert(
      fc.property(wire, (v) => {
        expect(JSON.parse(encodeJson(v).toString('utf8'))).toEqual(JSON.parse(JSON.stringify(b64(v))));
      }),
      { numRuns: 300 },
    );
  });

  it('an INTERNAL error says nothing more than "internal error"', () => {
    const bytes = encodeFrame(
      [{ id: 3, error: new KryptonError('INTERNAL', 'secret detail of the failure'), result: null }],
      false,
    );
    expect(unpack(bytes)).toEqual([3, 1, { code: 'INTERNAL', message: 'internal error' }]);
  });
});
