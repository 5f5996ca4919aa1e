/**
 * The structure check that runs before a frame is decoded: every well-formed
 * msgpack value within the limits passes, and anything cut short, padded, too
 * deep, too wide or carrying an extension type is refused.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { scanMsgpack } from '../../../src/gateway/frame/scan.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const wide = { maxDepth: 64, maxElements: 1_000_000 };
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.string({ maxLength: 70 }),
    fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
    fc.boolean(),
    fc.constant(null),
  ),
  node: fc.oneof(
    { depthSize: 'small' },
    tie('leaf'),
    fc.array(tie('node'), { maxLength: 20 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('node'), { maxKeys: 20 }),
  ),
})).node;

describe('scanMsgpack', () => {
  it('passes every well-formed value, and refuses it cut short or with a byte more', () => {
    fc.assert(
      fc.property(value, fc.nat(), (v, cut) => {
        const b = packr.pack(v);
        expect(scanMsgpack(b, wide)).toBe('ok');
        expect(scanMsgpack(b.subarray(0, cut % b.length), wide)).toBe('malformed');
        expect(scanMsgpack(Buffer.concat([b, Buffer.of(0xc0)]), wide)).toBe('malformed');
      }),
      { numRuns: 2000 },
    );
  });

  it('long lengths (16 and 32 bits) are read big-endian', () => {
    for (const n of [31, 32, 255, 256, 65535, 65536]) {
      expect(scanMsgpack(packr.pack('x'.repeat(n)), wide)).toBe('ok');
      expect(scanMsgpack(packr.pack(Buffer.alloc(n)), wide)).toBe('ok');
      expect(scanMsgpack(packr.pack(new Array(n).fill(0)), wide)).toBe('ok');
      expect(scanMsgpack(packr.pack(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))), wide)).toBe(
        'ok',
      );
    }
    // A str 32 whose length says 2^32 - 1: cut short, not a huge skip that wraps.
    expect(scanMsgpack(Buffer.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0x41), wide)).toBe('malformed');
  });

  it('refuses extension types and the never-used 0xc1', () => {
    for (const t of [0xc1, 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8]) {
      expect(
        scanMsgpack(Buffer.from([t, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), wide),
        t.toString(16),
      ).toBe('malformed');
    }
  });

  it('refuses nesting past maxDepth and elements past maxElements, before reading them', () => {
    const nest = (d: number): unknown => (d === 0 ? 1 : [nest(d - 1)]);
    expect(scanMsgpack(packr.pack(nest(8)), { maxDepth: 8, maxElements: 100 })).toBe('ok');
    expect(scanMsgpack(packr.pack(nest(9)), { maxDepth: 8, maxElements: 100 })).toBe('too-deep');
    expect(scanMsgpack(packr.pack(new Array(100).fill(1)), { maxDepth: 8, maxElements: 100 })).toBe('ok');
    expect(scanMsgpack(packr.pack(new Array(101).fill(1)), { maxDepth: 8, maxElements: 100 })).toBe('too-many');
    // An array 32 header claiming 2^32 - 1 elements, with no elements behind it.
    expect(scanMsgpack(Buffer.of(0xdd, 0xff, 0xff, 0xff, 0xff), wide)).toBe('too-many');
    expect(scanMsgpack(Buffer.of(0xdd, 0x00, 0x00, 0x01, 0x00), wide)).toBe('malformed');
  });
});
