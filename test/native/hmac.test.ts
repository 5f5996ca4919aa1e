import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveKey, destroyKey, hmacSha256, importKey, openWithKey, sealWithKey } from '../../src/native/index.js';
import { hex } from '../helpers/vectors.js';

/** HMAC through a temporary store key, destroyed afterwards. */
function macWith(key: Uint8Array, data: Uint8Array): Buffer {
  const h = importKey(key);
  try {
    return hmacSha256(h, data);
  } finally {
    destroyKey(h);
  }
}

// RFC 4231 section 4. Cases 2 (4-byte key) and 6-7 (131-byte keys) fall
// outside the store's 16..64-byte key range and are covered by the
// differential test's range instead.
const RFC4231 = [
  {
    name: 'test case 1',
    key: '0b'.repeat(20),
    data: Buffer.from('Hi There'),
    mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
  },
  {
    name: 'test case 3',
    key: 'aa'.repeat(20),
    data: Buffer.alloc(50, 0xdd),
    mac: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
  },
  {
    name: 'test case 4',
    key: '0102030405060708090a0b0c0d0e0f10111213141516171819',
    data: Buffer.alloc(50, 0xcd),
    mac: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
  },
  {
    name: 'test case 5 (truncated to 128 bits)',
    key: '0c'.repeat(20),
    data: Buffer.from('Test With Truncation'),
    mac: 'a3b6167473100ee06e0c796c2955552b',
  },
];

describe('hmacSha256 under a stored key', () => {
  for (const v of RFC4231) {
    it(`matches RFC 4231 ${v.name}`, () => {
      const mac = macWith(hex(v.key), v.data).toString('hex');
      expect(mac.slice(0, v.mac.length)).toBe(v.mac);
    });
  }

  it('RFC 4231 test case 2 has a 4-byte key, which the store refuses (BAD_REQUEST)', () => {
    expect(() => importKey(Buffer.from('Jefe'))).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });

  it('agrees with node:crypto createHmac over 200 random keys (16..64 bytes) and messages (0..1000 bytes)', () => {
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(16 + (i % 49));
      const data = randomBytes(Math.floor(Math.random() * 1001));
      const expected = createHmac('sha256', key).update(data).digest();
      expect(macWith(key, data).equals(expected)).toBe(true);
    }
  });

  it('returns 32 bytes and the same MAC for the same key and message', () => {
    const h = importKey(randomBytes(32));
    try {
      const a = hmacSha256(h, Buffer.from('check value'));
      expect(a.length).toBe(32);
      expect(hmacSha256(h, Buffer.from('check value')).equals(a)).toBe(true);
      expect(hmacSha256(h, Buffer.from('check valuf')).equals(a)).toBe(false);
    } finally {
      destroyKey(h);
    }
  });

  it('refuses an unknown or destroyed handle with KEY_UNAVAILABLE', () => {
    const h = importKey(randomBytes(32));
    destroyKey(h);
    expect(() => hmacSha256(h, Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'KEY_UNAVAILABLE' }));
    expect(() => hmacSha256(0x7fffffff, Buffer.from('x'))).toThrow(
      expect.objectContaining({ code: 'KEY_UNAVAILABLE' }),
    );
  });

  it('refuses non-bytes data and a non-integer handle with BAD_REQUEST', () => {
    const h = importKey(randomBytes(32));
    try {
      expect(() => hmacSha256(h, 'text' as unknown as Uint8Array)).toThrow(
        expect.objectContaining({ code: 'BAD_REQUEST' }),
      );
      expect(() => hmacSha256(1.5, Buffer.from('x'))).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    } finally {
      destroyKey(h);
    }
  });
});

describe('key derivation', () => {
  it('derives, inside the store, HMAC-SHA256(key, label || 0 || info): checked against node:crypto', () => {
    const raw = randomBytes(32);
    const h = importKey(raw);
    const d = deriveKey(h, 'ivk-header-mac');
    const expected = createHmac('sha256', raw)
      .update(Buffer.concat([Buffer.from('krypton:derive:v1\0'), Buffer.from('ivk-header-mac')]))
      .digest();
    const probe = importKey(expected);
    expect(openWithKey(probe, sealWithKey(d, Buffer.from('same'))).toString()).toBe('same');
    const other = deriveKey(h, 'other-purpose');
    expect(() => openWithKey(other, sealWithKey(d, Buffer.from('x')))).toThrow();
    [h, d, probe, other].forEach(destroyKey);
  });
});
