import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  combineShares,
  destroyKey,
  generateKey,
  hmacSha256,
  importKey,
  keyLength,
  openWithKey,
  sealWithKey,
  splitKey,
  type KeyHandle,
} from '../../src/native/index.js';
import { gmul, ginv, referenceCombine, referenceShares } from '../helpers/shamir-ref.js';

// Keys made by a test are destroyed after it, so the arena never fills.
const made: KeyHandle[] = [];
const track = (h: KeyHandle): KeyHandle => (made.push(h), h);
afterEach(() => {
  for (const h of made.splice(0)) destroyKey(h);
});

const MSG = Buffer.from('krypton key check value');
/** Two stored keys are the same iff their MACs of a fixed message are (the keys never reach JS). */
const sameKey = (a: KeyHandle, b: KeyHandle): boolean => hmacSha256(a, MSG).equals(hmacSha256(b, MSG));

function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items as [T, ...T[]];
  return [...subsets(rest, k - 1).map((s) => [first, ...s]), ...subsets(rest, k)];
}

const badRequest: unknown = expect.objectContaining({ code: 'BAD_REQUEST' });

describe('Shamir secret sharing of stored keys', () => {
  it('the reference field agrees with FIPS-197 (0x57 * 0x83 = 0xc1, 0x53^-1 = 0xca)', () => {
    expect(gmul(0x57, 0x83)).toBe(0xc1);
    expect(gmul(0x57, 0x13)).toBe(0xfe);
    expect(ginv(0x53)).toBe(0xca);
  });

  it('3-of-5: every 3-share subset (all 10), every 4-share subset and all 5 rebuild the same key', () => {
    const key = track(generateKey(32));
    const shares = splitKey(key);
    expect(shares).toHaveLength(5);
    expect(shares.map((s) => s[0])).toEqual([1, 2, 3, 4, 5]);
    const three = subsets(shares, 3);
    const four = subsets(shares, 4);
    expect(three).toHaveLength(10);
    expect(four).toHaveLength(5);
    for (const set of [...three, ...four, shares]) {
      const rebuilt = track(combineShares(set));
      expect(keyLength(rebuilt)).toBe(32);
      expect(sameKey(key, rebuilt)).toBe(true);
    }
  });

  it('a rebuilt key opens what the original sealed, and the reverse', () => {
    const key = track(generateKey(32));
    const rebuilt = track(combineShares(splitKey(key).slice(2)));
    expect(openWithKey(rebuilt, sealWithKey(key, Buffer.from('hello'))).toString()).toBe('hello');
    expect(openWithKey(key, sealWithKey(rebuilt, Buffer.from('world'))).toString()).toBe('world');
  });

  it('shares are separate buffers of 1 + key length bytes, and share order does not matter', () => {
    const key = track(generateKey(48));
    const shares = splitKey(key, { threshold: 2, shares: 3 });
    for (const s of shares) expect(s.length).toBe(49);
    expect(new Set(shares.map((s) => s.buffer)).size).toBe(3);
    expect(sameKey(key, track(combineShares([shares[2], shares[0]])))).toBe(true);
  });

  it('2 shares of a 3-threshold split rebuild a different key (no error: Shamir cannot tell)', () => {
    const key = track(generateKey(32));
    const shares = splitKey(key);
    for (const pair of subsets(shares, 2)) expect(sameKey(key, track(combineShares(pair)))).toBe(false);
  });

  it('a tampered share rebuilds a different key', () => {
    const key = track(generateKey(32));
    const shares = splitKey(key);
    const bad = Buffer.from(shares[1]);
    bad[7] ^= 0x01;
    expect(sameKey(key, track(combineShares([shares[0], bad, shares[2]])))).toBe(false);
    const movedX = Buffer.from(shares[1]);
    movedX[0] = 9; // right y, wrong x
    expect(sameKey(key, track(combineShares([shares[0], movedX, shares[2]])))).toBe(false);
  });

  it('two splits of one key give different shares (fresh random polynomials)', () => {
    const key = track(generateKey(32));
    const a = splitKey(key);
    const b = splitKey(key);
    expect(a[0].equals(b[0])).toBe(false);
  });

  it('refuses one share, no shares, duplicate x, x = 0 and mismatched lengths (BAD_REQUEST)', () => {
    const key = track(generateKey(32));
    const [s1, s2, s3] = splitKey(key) as [Buffer, Buffer, Buffer];
    expect(() => combineShares([s1])).toThrow(badRequest);
    expect(() => combineShares([])).toThrow(badRequest);
    expect(() => combineShares([s1, s2, Buffer.from(s1)])).toThrow(badRequest);
    const zero = Buffer.from(s3);
    zero[0] = 0;
    expect(() => combineShares([s1, s2, zero])).toThrow(badRequest);
    expect(() => combineShares([s1, s2, s3.subarray(0, 32)])).toThrow(badRequest);
    expect(() => combineShares([s1, s2, Buffer.concat([s3, Buffer.alloc(1)])])).toThrow(badRequest);
    expect(() => combineShares([s1, 'x' as unknown as Uint8Array])).toThrow(badRequest);
  });

  it('refuses shares whose key part is outside 16..64 bytes (BAD_REQUEST)', () => {
    const short = [Buffer.from([1, ...randomBytes(15)]), Buffer.from([2, ...randomBytes(15)])];
    const long = [Buffer.from([1, ...randomBytes(65)]), Buffer.from([2, ...randomBytes(65)])];
    expect(() => combineShares(short)).toThrow(badRequest);
    expect(() => combineShares(long)).toThrow(badRequest);
  });

  it('refuses out-of-range split parameters (BAD_REQUEST) and unknown keys (KEY_UNAVAILABLE)', () => {
    const key = track(generateKey(32));
    for (const opts of [
      { threshold: 1, shares: 5 },
      { threshold: 6, shares: 5 },
      { threshold: 2, shares: 1 },
      { threshold: 2, shares: 256 },
      { threshold: 2.5, shares: 5 },
      { threshold: 3, shares: Number.NaN },
    ]) {
      expect(() => splitKey(key, opts)).toThrow(badRequest);
    }
    const gone = generateKey(32);
    destroyKey(gone);
    expect(() => splitKey(gone)).toThrow(expect.objectContaining({ code: 'KEY_UNAVAILABLE' }));
  });

  it('255 shares (every nonzero x) with threshold 255 rebuild the key; 254 of them do not', () => {
    const key = track(generateKey(16));
    const shares = splitKey(key, { threshold: 255, shares: 255 });
    expect(new Set(shares.map((s) => s[0])).size).toBe(255);
    expect(sameKey(key, track(combineShares(shares)))).toBe(true);
    expect(sameKey(key, track(combineShares(shares.slice(1))))).toBe(false);
  });

  it('GF(2^8) vector: shares of a hand-made polynomial combine to the known secret', () => {
    // f(x) = secret + c1 x + c2 x^2 per byte, shares at x = 1, 2, 3, 0x53, 0xff.
    const secret = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
    const c1 = Buffer.alloc(32, 0x57);
    const c2 = Buffer.from(Array.from({ length: 32 }, (_, i) => (0x83 + 7 * i) & 0xff));
    const shares = referenceShares(secret, [c1, c2], [1, 2, 3, 0x53, 0xff]);
    // Byte 0 at x = 1: 0x00 ^ 0x57 ^ 0x83 = 0xd4; at x = 2: 0x57*2 ^ 0x83*4 = 0xae ^ 0x3a = 0x94
    // (0x83*2 = 0x106 ^ 0x11b = 0x1d, 0x1d*2 = 0x3a).
    expect(shares[0][1]).toBe(0xd4);
    expect(shares[1][1]).toBe(0x94);
    const known = track(importKey(secret));
    for (const set of subsets(shares, 3)) expect(sameKey(known, track(combineShares(set)))).toBe(true);
  });

  it('native split agrees with reference interpolation, and reference shares with native combine', () => {
    const secret = randomBytes(24);
    const key = track(importKey(secret));
    const shares = splitKey(key, { threshold: 4, shares: 7 });
    expect(referenceCombine(shares.slice(3)).equals(secret)).toBe(true);
    const coefficients = [randomBytes(24), randomBytes(24), randomBytes(24)];
    const mine = referenceShares(secret, coefficients, [200, 17, 5, 99]);
    expect(sameKey(key, track(combineShares(mine)))).toBe(true);
  });

  it('property: any threshold-sized subset rebuilds the key, one fewer does not', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 10 }).chain((shares) =>
          fc.record({
            shares: fc.constant(shares),
            threshold: fc.integer({ min: 2, max: shares }),
            length: fc.integer({ min: 16, max: 64 }),
            order: fc.shuffledSubarray(
              Array.from({ length: shares }, (_, i) => i),
              { minLength: shares, maxLength: shares },
            ),
            extra: fc.nat({ max: 10 }),
          }),
        ),
        ({ shares, threshold, length, order, extra }) => {
          const key = track(generateKey(length));
          const all = splitKey(key, { threshold, shares });
          const enough = order.slice(0, Math.min(shares, threshold + extra)).map((i) => all[i]);
          expect(sameKey(key, track(combineShares(enough)))).toBe(true);
          if (threshold > 2) {
            const short = order.slice(0, threshold - 1).map((i) => all[i]);
            expect(sameKey(key, track(combineShares(short)))).toBe(false);
          }
          for (const h of made.splice(0)) destroyKey(h);
        },
      ),
      { numRuns: 200 },
    );
  });
});
