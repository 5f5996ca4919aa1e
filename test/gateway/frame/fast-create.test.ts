import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeMsgpack } from '../../../src/gateway/frame/decode.js';
import { parseFastCreate } from '../../../src/gateway/frame/fast-create.js';
import { DEFAULT_LIMITS } from '../../../src/gateway/limits.js';
import { parseFrame } from '../../../src/protocol/gateway-frame.js';

/** What the general decoder makes of the same bytes. */
const general = (bytes: Uint8Array) => parseFrame(decodeMsgpack(bytes, DEFAULT_LIMITS));

describe('the fast decoder for [id, "key.create", {service}]', () => {
  it('recognizes the frame for ids of every integer width, and yields exactly what the general decoder yields', () => {
    for (const id of [0, 127, 128, 255, 256, 65535, 65536, 4294967295]) {
      const bytes = pack([id, 'key.create', { service: 'app' }]);
      const fast = parseFastCreate(bytes);
      expect(fast).toEqual({ batch: false, requests: [{ op: 'key.create', id, service: 'app' }] });
      expect(fast).toEqual(general(bytes));
    }
  });

  it('a service outside the id alphabet is refused by the same rule on both decoders (BAD_REQUEST under its id)', () => {
    for (const service of ['not/an-id', 'a b', 'x:y', '%2e%2e']) {
      const bytes = pack([7, 'key.create', { service }]);
      const fast = parseFastCreate(bytes)!;
      expect(fast.requests[0]).toMatchObject({ id: 7, error: { code: 'BAD_REQUEST' } });
      expect(fast).toEqual(general(bytes));
    }
  });

  it('leaves everything else to the general decoder', () => {
    for (const frame of [
      [1, 'key.create', { service: 'app', count: 2 }],
      [1, 'key.create', { service: 'app', context: Buffer.from('x') }],
      [1, 'key.decrypt', { service: 'app' }],
      ['str-id', 'key.create', { service: 'app' }],
      [-1, 'key.create', { service: 'app' }],
      [[1, 'key.create', { service: 'app' }]],
      [1, 'key.create', { service: 'x'.repeat(40) }],
      [1, 'key.create', { service: 'caf\u00e9' }],
      [1, 'key.create', {}],
    ]) {
      expect(parseFastCreate(pack(frame)), JSON.stringify(frame)).toBeNull();
    }
    const good = pack([1, 'key.create', { service: 'app' }]);
    expect(parseFastCreate(Buffer.concat([good, Buffer.from([0])]))).toBeNull(); // trailing byte
    expect(parseFastCreate(good.subarray(0, good.length - 1))).toBeNull(); // truncated
  });
});
