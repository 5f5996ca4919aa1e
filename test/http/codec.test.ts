import { describe, expect, it } from 'vitest';
import {
  bytesField,
  decodeBody,
  encodeBody,
  encodeFrame,
  formatOfContentType,
  FrameDecoder,
  replyFormat,
} from '../../src/http/codec.js';
import { parseTarget, Router } from '../../src/http/router.js';

describe('codec', () => {
  it('JSON encodes Buffers and Uint8Arrays nested anywhere as base64 strings', () => {
    const body = encodeBody({ a: Buffer.from([1, 2]), b: [new Uint8Array([255])], c: { d: 1 } }, 'json');
    const out: unknown = JSON.parse(body.toString());
    expect(out).toEqual({ a: 'AQI=', b: ['/w=='], c: { d: 1 } });
  });

  it('msgpack keeps bytes as bin through a round trip', () => {
    const back = decodeBody(encodeBody({ k: Buffer.from([0, 9]) }, 'msgpack'), 'msgpack') as { k: Uint8Array };
    expect(Buffer.from(back.k)).toEqual(Buffer.from([0, 9]));
  });

  it('bytesField decodes strict base64 and refuses junk, numbers and missing fields with BAD_REQUEST', () => {
    expect(bytesField({ k: 'AQI=' }, 'k')).toEqual(Buffer.from([1, 2]));
    expect(bytesField({ k: 'AQI' }, 'k')).toEqual(Buffer.from([1, 2]));
    for (const bad of [{ k: 'AQ I=' }, { k: 'A' }, { k: 5 }, {}, null, 'AQI=']) {
      expect(() => bytesField(bad, 'k')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    }
  });

  it('chooses the format from content-type (JSON when absent) and the reply format from Accept first', () => {
    expect(formatOfContentType(undefined)).toBe('json');
    expect(formatOfContentType('application/msgpack; charset=binary')).toBe('msgpack');
    expect(() => formatOfContentType('text/plain')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(replyFormat('application/msgpack', 'json')).toBe('msgpack');
    expect(replyFormat('*/*', 'msgpack')).toBe('msgpack');
    expect(replyFormat(undefined, 'json')).toBe('json');
  });

  it('refuses malformed msgpack and absurdly nested bodies with BAD_REQUEST', () => {
    expect(() => decodeBody(Buffer.from([0xc1]), 'msgpack')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    // A timestamp extension (fixext 4, type -1) decodes to a Date in msgpackr: not plain data.
    expect(() => decodeBody(Buffer.from([0xd6, 0xff, 0, 0, 0, 1]), 'msgpack')).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST' }),
    );
    expect(() => decodeBody(Buffer.from([0x92, 0x01]), 'msgpack')).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST' }),
    );
    expect(() => decodeBody(Buffer.alloc(60_000, 0x91), 'msgpack')).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST' }),
    );
    expect(() => decodeBody(Buffer.from('['.repeat(40) + ']'.repeat(40)), 'json')).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST' }),
    );
  });

  for (const format of ['json', 'msgpack'] as const) {
    it(`${format} stream frames survive being split at every byte boundary`, () => {
      const frames = [{ epoch: 1 }, { epoch: 2, key: 'x'.repeat(300) }, { epoch: 3 }];
      const wire = Buffer.concat(frames.map((f) => encodeFrame(f, format)));
      for (let cut = 1; cut < wire.length; cut++) {
        const d = new FrameDecoder(format, 1024);
        expect([...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))]).toEqual(frames);
      }
    });
  }

  it('a stream frame over the limit is FRAME_TOO_LARGE', () => {
    const d = new FrameDecoder('msgpack', 16);
    expect(() => d.push(encodeFrame({ big: 'y'.repeat(100) }, 'msgpack'))).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE' }),
    );
  });
});

describe('router', () => {
  const noop = async () => undefined;
  const router = new Router([
    { method: 'POST', path: '/v1/leases', handler: noop },
    { method: 'POST', path: '/v1/admin/tenants/:tenant/services/:service/rotate', handler: noop },
  ]);

  it('matches literal and parameterised paths, decoding parameters', () => {
    expect(router.match('POST', '/v1/leases').params).toEqual({});
    expect(router.match('POST', '/v1/admin/tenants/t%201/services/app/rotate').params).toEqual({
      tenant: 't 1',
      service: 'app',
    });
  });

  it('refuses unknown paths, wrong methods and empty parameters with NOT_FOUND, malformed parameters with BAD_REQUEST', () => {
    for (const [m, p, c] of [
      ['POST', '/v1/nope', 'NOT_FOUND'],
      ['GET', '/v1/leases', 'NOT_FOUND'],
      ['POST', '/v1/admin/tenants//services/app/rotate', 'NOT_FOUND'],
      ['POST', '/v1/admin/tenants/%E0%A4%A/services/app/rotate', 'BAD_REQUEST'],
    ] as const) {
      expect(() => router.match(m, p)).toThrow(expect.objectContaining({ code: c }));
    }
  });

  it('refuses two routes that would match the same requests', () => {
    expect(
      () =>
        new Router([
          { method: 'GET', path: '/a/:x', handler: noop },
          { method: 'GET', path: '/a/:y', handler: noop },
        ]),
    ).toThrow(/duplicate/);
  });

  it('parses the query string, keeping the first of repeated names', () => {
    expect(parseTarget('/v1/events?since=42&since=7&x=a%20b')).toEqual({
      path: '/v1/events',
      query: { since: '42', x: 'a b' },
    });
  });
});
