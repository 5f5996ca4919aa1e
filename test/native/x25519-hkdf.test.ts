import { describe, expect, it } from 'vitest';
import { hpkeKat } from '../../src/native/index.js';
import { hex, loadVectors } from '../helpers/vectors.js';

interface WycheproofFile<T> {
  testGroups: { tests: T[] }[];
}

interface X25519Case {
  tcId: number;
  comment: string;
  flags: string[];
  public: string;
  private: string;
  shared: string;
  result: 'valid' | 'acceptable' | 'invalid';
}

interface HkdfCase {
  tcId: number;
  comment: string;
  ikm: string;
  salt: string;
  info: string;
  size: number;
  okm: string;
  result: 'valid' | 'acceptable' | 'invalid';
}

const x25519 = loadVectors<WycheproofFile<X25519Case>>('wycheproof/x25519_test.json').testGroups.flatMap(
  (g) => g.tests,
);
const hkdf = loadVectors<WycheproofFile<HkdfCase>>('wycheproof/hkdf_sha256_test.json').testGroups.flatMap(
  (g) => g.tests,
);
const ZERO = '00'.repeat(32);
const code = (c: string): unknown => expect.objectContaining({ code: c });

describe('X25519 (Wycheproof x25519_test.json)', () => {
  const zero = x25519.filter((t) => t.shared === ZERO);
  const valid = x25519.filter((t) => t.shared !== ZERO && t.result === 'valid');
  const acceptable = x25519.filter((t) => t.shared !== ZERO && t.result === 'acceptable');

  it('covers the whole file', () => {
    expect(zero.length + valid.length + acceptable.length).toBe(x25519.length);
    expect(x25519.filter((t) => t.result === 'invalid')).toHaveLength(0);
    expect(zero.length).toBeGreaterThan(0);
  });

  it(`all ${valid.length} valid cases give the listed shared secret`, () => {
    for (const t of valid) {
      expect(hpkeKat.x25519(hex(t.private), hex(t.public)).toString('hex'), `tcId ${t.tcId}`).toBe(t.shared);
    }
  });

  it(`all ${zero.length} cases whose shared secret is all-zero (low-order public keys) are refused`, () => {
    // RFC 9180 7.1.4 and RFC 7748 6.1: an all-zero DH output must abort.
    for (const t of zero) {
      expect(() => hpkeKat.x25519(hex(t.private), hex(t.public)), `tcId ${t.tcId}`).toThrow(code('BAD_REQUEST'));
    }
  });

  it(`all ${acceptable.length} other "acceptable" cases (twist, non-canonical, edge cases) give the listed shared secret`, () => {
    // Wycheproof allows these to be computed or refused. RFC 7748 computes
    // them (the top bit is masked, non-canonical u is reduced), and so do we:
    // only an all-zero result is refused.
    for (const t of acceptable) {
      expect(hpkeKat.x25519(hex(t.private), hex(t.public)).toString('hex'), `tcId ${t.tcId} ${t.comment}`).toBe(
        t.shared,
      );
    }
  });

  it('keys of any other length are refused', () => {
    const t = valid[0];
    expect(() => hpkeKat.x25519(hex(t.private).subarray(1), hex(t.public))).toThrow(code('BAD_REQUEST'));
    expect(() => hpkeKat.x25519(hex(t.private), Buffer.concat([hex(t.public), Buffer.alloc(1)]))).toThrow(
      code('BAD_REQUEST'),
    );
  });
});

describe('HKDF-SHA256 (Wycheproof hkdf_sha256_test.json)', () => {
  const valid = hkdf.filter((t) => t.result === 'valid');
  const invalid = hkdf.filter((t) => t.result === 'invalid');

  it('covers the whole file', () => {
    expect(valid.length + invalid.length).toBe(hkdf.length);
    expect(invalid.length).toBeGreaterThan(0);
  });

  it(`all ${valid.length} valid cases give the listed OKM`, () => {
    for (const t of valid) {
      expect(hpkeKat.hkdfSha256(hex(t.salt), hex(t.ikm), hex(t.info), t.size).toString('hex'), `tcId ${t.tcId}`).toBe(
        t.okm,
      );
    }
  });

  it(`all ${invalid.length} invalid cases (output longer than 255 * 32 bytes) are refused`, () => {
    for (const t of invalid) {
      expect(() => hpkeKat.hkdfSha256(hex(t.salt), hex(t.ikm), hex(t.info), t.size), `tcId ${t.tcId}`).toThrow(
        code('BAD_REQUEST'),
      );
    }
  });

  it('the largest output, 8160 bytes, is allowed; 0 bytes is refused', () => {
    expect(hpkeKat.hkdfSha256(Buffer.alloc(0), Buffer.from('ikm'), Buffer.alloc(0), 8160)).toHaveLength(8160);
    expect(() => hpkeKat.hkdfSha256(Buffer.alloc(0), Buffer.from('ikm'), Buffer.alloc(0), 0)).toThrow(
      code('BAD_REQUEST'),
    );
  });

  it('an empty salt equals a salt of 32 zero bytes (RFC 5869 2.2)', () => {
    const a = hpkeKat.hkdfSha256(Buffer.alloc(0), Buffer.from('ikm'), Buffer.from('info'), 42);
    const b = hpkeKat.hkdfSha256(Buffer.alloc(32), Buffer.from('ikm'), Buffer.from('info'), 42);
    expect(a.equals(b)).toBe(true);
  });
});
