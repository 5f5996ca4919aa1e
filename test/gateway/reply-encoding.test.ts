import { randomBytes } from 'node:crypto';
import { unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { encodeCreateReply } from '../../src/gateway/reply-encoding.js';

describe('hand-encoded create replies', () => {
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
      const records = randomBytes(n * rec);
      const decoded = unpack(encodeCreateReply(id, records, rec, count).bytes) as [unknown, number, Record<string, unknown>];
      expect(decoded[0]).toBe(id);
      expect(decoded[1]).toBe(0);
      const keys = (count === undefined ? [decoded[2]] : (decoded[2].keys as unknown[])) as { plaintext: Uint8Array; blob: Uint8Array }[];
      expect(keys).toHaveLength(n);
      keys.forEach((k, j) => {
        expect(Buffer.from(k.plaintext).equals(records.subarray(j * rec, j * rec + 32))).toBe(true);
        expect(Buffer.from(k.blob).equals(records.subarray(j * rec + 32, (j + 1) * rec))).toBe(true);
      });
      if (count === undefined) expect(Object.keys(decoded[2])).toEqual(['plaintext', 'blob']);
    });
  }
});
