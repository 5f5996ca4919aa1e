import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { parseFastCreate } from '../../src/gateway/fast-frame.js';

describe('the fast path for [id, "key.create", {service}]', () => {
  it('recognizes the frame for ids of every integer width', () => {
    for (const id of [0, 127, 128, 255, 256, 65535, 65536, 4294967295]) {
      expect(parseFastCreate(pack([id, 'key.create', { service: 'app' }]))).toEqual({ id, service: 'app' });
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
