import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { kat } from '../../src/native/index.js';
import { hex, loadVectors } from '../helpers/vectors.js';

interface XaesVectors {
  vectors: {
    key: string;
    nonce_ascii: string;
    L: string;
    K1: string;
    Kx: string;
    plaintext_ascii: string;
    aad_ascii: string;
    ciphertext_and_tag: string;
  }[];
  accumulated: { iterations_10000: string };
}

const xaes = loadVectors<XaesVectors>('xaes-256-gcm.json');

describe('XAES-256-GCM (C2SP vectors)', () => {
  for (const [i, v] of xaes.vectors.entries()) {
    it(`vector ${i + 1}: L from the AES-NI block function, Kx, and the ciphertext match`, () => {
      const key = hex(v.key);
      const nonce = Buffer.from(v.nonce_ascii, 'latin1');
      expect(kat.aes256Block(key, Buffer.alloc(16)).toString('hex')).toBe(v.L);
      expect(kat.xaesSubkey(key, nonce).toString('hex')).toBe(v.Kx);
      const sealed = kat.xaesSeal(key, nonce, Buffer.from(v.plaintext_ascii), Buffer.from(v.aad_ascii));
      expect(sealed.toString('hex')).toBe(v.ciphertext_and_tag);
      expect(kat.xaesOpen(key, nonce, sealed, Buffer.from(v.aad_ascii)).toString()).toBe(v.plaintext_ascii);
    });
  }

  it('FIPS-197 C.3 AES-256 block through the AES-NI key schedule', () => {
    const key = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    const pt = hex('00112233445566778899aabbccddeeff');
    expect(kat.aes256Block(key, pt).toString('hex')).toBe('8ea2b7ca516745bfeafc49904b496089');
  });

  it('10,000-iteration accumulated SHAKE-128 hash matches the specification', () => {
    // Read from one SHAKE-128 stream of the empty input; sized generously.
    const stream = createHash('shake128', { outputLength: 10_000 * 600 }).digest();
    let at = 0;
    const read = (n: number): Buffer => {
      const b = stream.subarray(at, at + n);
      at += n;
      return b;
    };
    const acc = createHash('shake128', { outputLength: 32 });
    for (let i = 0; i < 10_000; i++) {
      const key = read(32);
      const nonce = read(24);
      const pt = read(read(1)[0]);
      const aad = read(read(1)[0]);
      const ct = kat.xaesSeal(key, nonce, pt, aad);
      acc.update(ct);
      expect(kat.xaesOpen(key, nonce, ct, aad).equals(pt)).toBe(true);
    }
    expect(acc.digest('hex')).toBe(xaes.accumulated.iterations_10000);
  });

  it('a flipped bit anywhere in the ciphertext or tag is refused', () => {
    const key = hex(xaes.vectors[0].key);
    const nonce = Buffer.from(xaes.vectors[0].nonce_ascii);
    const sealed = kat.xaesSeal(key, nonce, Buffer.from('hello'));
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const bad = Buffer.from(sealed);
      bad[bit >> 3] ^= 1 << (bit & 7);
      expect(() => kat.xaesOpen(key, nonce, bad)).toThrow(expect.objectContaining({ code: 'INVALID_BLOB' }));
    }
  });
});
