import { describe, expect, it } from 'vitest';
import { kat } from '../../src/native/index.js';
import { hex, loadVectors } from '../helpers/vectors.js';

interface AeadGroup {
  ivSize: number;
  keySize: number;
  tagSize: number;
  tests: {
    tcId: number;
    key: string;
    iv: string;
    aad: string;
    msg: string;
    ct: string;
    tag: string;
    result: string;
    flags: string[];
  }[];
}

const suite = loadVectors<{ testGroups: AeadGroup[] }>('wycheproof/aes_gcm_test.json');
// The addon's GCM takes 12-byte IVs and 16-byte tags only (XAES and HPKE use nothing else).
const groups = suite.testGroups.filter((g) => g.ivSize === 96 && g.tagSize === 128);

describe('Wycheproof AES-GCM (12-byte IV, 16-byte tag) through the addon', () => {
  it('covers AES-128, AES-192 and AES-256', () => {
    expect(new Set(groups.map((g) => g.keySize))).toEqual(new Set([128, 192, 256]));
  });

  for (const g of groups) {
    it(`AES-${g.keySize}-GCM: ${g.tests.length} cases seal and open as the vectors say`, () => {
      let valid = 0;
      for (const t of g.tests) {
        const key = hex(t.key);
        const iv = hex(t.iv);
        const aad = hex(t.aad);
        const sealed = Buffer.concat([hex(t.ct), hex(t.tag)]);
        if (t.result === 'invalid') {
          expect(() => kat.aesGcmOpen(key, iv, sealed, aad), `tcId ${t.tcId}`).toThrow(
            expect.objectContaining({ code: 'INVALID_BLOB' }),
          );
          continue;
        }
        valid++;
        expect(kat.aesGcmSeal(key, iv, hex(t.msg), aad).toString('hex'), `tcId ${t.tcId}`).toBe(t.ct + t.tag);
        expect(kat.aesGcmOpen(key, iv, sealed, aad).toString('hex'), `tcId ${t.tcId}`).toBe(t.msg);
      }
      expect(valid).toBeGreaterThan(0);
    });
  }
});
