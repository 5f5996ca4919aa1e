import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  arenaInfo,
  capabilities,
  destroyKey,
  generateKey,
  importKey,
  keyLength,
  openWithKey,
  scopeRef,
  scopes,
  sealWithKey,
  storeStats,
  sweepCryptoContexts,
  unwrapKey,
  wrapKey,
} from '../../src/native/index.js';

const code = (c: string) => expect.objectContaining({ code: c });

describe('secure arena', () => {
  it('is locked, excluded from dumps, wiped on fork, and AES-NI is in use', () => {
    const a = arenaInfo();
    expect(a.locked).toBe(true);
    expect(a.dontDump).toBe(true);
    expect(a.wipeOnFork).toBe(true);
    expect(a.size).toBeGreaterThanOrEqual(256 * 1024);
    expect(capabilities().aesNi).toBe(true);
  });

  it('gives memory back, zeroized, when keys are destroyed', () => {
    destroyKey(generateKey()); // the thread's random pool is allocated once, on first use
    const before = arenaInfo().used;
    const hs = Array.from({ length: 50 }, () => generateKey());
    expect(arenaInfo().used).toBeGreaterThan(before);
    hs.forEach(destroyKey);
    expect(arenaInfo().used).toBe(before);
  });
});

describe('key store by handle', () => {
  it('generates and imports keys of 16 to 64 bytes and refuses other lengths', () => {
    for (const n of [16, 24, 32, 48, 64]) {
      const h = generateKey(n);
      expect(keyLength(h)).toBe(n);
      destroyKey(h);
    }
    expect(() => generateKey(15)).toThrow(code('BAD_REQUEST'));
    expect(() => generateKey(65)).toThrow(code('BAD_REQUEST'));
    expect(() => importKey(Buffer.alloc(8))).toThrow(code('BAD_REQUEST'));
  });

  it('a destroyed handle is unusable and is not revived by a new key in its slot', () => {
    const h = generateKey();
    destroyKey(h);
    expect(() => keyLength(h)).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => destroyKey(h)).toThrow(code('KEY_UNAVAILABLE'));
    const h2 = generateKey();
    expect(h2).not.toBe(h);
    expect(() => sealWithKey(h, Buffer.from('x'))).toThrow(code('KEY_UNAVAILABLE'));
    destroyKey(h2);
  });

  it('two generated keys differ (checked through what they seal)', () => {
    const a = generateKey();
    const b = generateKey();
    const sealed = sealWithKey(a, Buffer.from('secret'));
    expect(() => openWithKey(b, sealed)).toThrow(code('INVALID_BLOB'));
    expect(openWithKey(a, sealed).toString()).toBe('secret');
    destroyKey(a);
    destroyKey(b);
  });
});

describe('key-under-key wrapping', () => {
  it('unwraps into the store a key equal to the one wrapped, bound to its AAD', () => {
    const kek = generateKey();
    const key = importKey(randomBytes(32));
    const aad = Buffer.from('tenant=acme;level=L3;version=4');
    const wrapped = wrapKey(kek, key, aad);
    expect(wrapped.length).toBe(24 + 32 + 16);
    const back = unwrapKey(kek, wrapped, aad);
    expect(back).not.toBe(key);
    const sealed = sealWithKey(key, Buffer.from('same key'));
    expect(openWithKey(back, sealed).toString()).toBe('same key');
    expect(() => unwrapKey(kek, wrapped, Buffer.from('tenant=evil'))).toThrow(code('INVALID_BLOB'));
    [kek, key, back].forEach(destroyKey);
  });

  it('refuses a tampered, truncated or extended wrapped key, and a wrong KEK', () => {
    const kek = generateKey();
    const other = generateKey();
    const key = generateKey(64);
    const wrapped = wrapKey(kek, key);
    expect(wrapped.length).toBe(24 + 64 + 16);
    for (let i = 0; i < wrapped.length; i++) {
      const bad = Buffer.from(wrapped);
      bad[i]! ^= 0x01;
      expect(() => unwrapKey(kek, bad)).toThrow(code('INVALID_BLOB'));
    }
    expect(() => unwrapKey(kek, wrapped.subarray(0, wrapped.length - 1))).toThrow(code('INVALID_BLOB'));
    expect(() => unwrapKey(kek, Buffer.concat([wrapped, Buffer.alloc(1)]))).toThrow(code('INVALID_BLOB'));
    expect(() => unwrapKey(other, wrapped)).toThrow(code('INVALID_BLOB'));
    expect(() => wrapKey(kek, kek)).toThrow(code('BAD_REQUEST'));
    [kek, other, key].forEach(destroyKey);
  });
});

describe('leased scopes', () => {
  const T = 'scope-tenant';
  const S = 'svc';

  it('binding ACTIVE demotes the previous ACTIVE; revocation destroys the key and is permanent', () => {
    const keys0 = storeStats().keys;
    scopes.bind(T, S, 1, 'ACTIVE', generateKey());
    scopes.bind(T, S, 2, 'ACTIVE', generateKey());
    expect(scopes.list(T, S).map((v) => [v.version, v.state])).toEqual([
      [1, 'DECRYPT_ONLY'],
      [2, 'ACTIVE'],
    ]);
    scopes.setState(T, S, 1, 'REVOKED');
    const listed = scopes.list(T, S);
    expect(listed[0]).toMatchObject({ version: 1, state: 'REVOKED', handle: 0 });
    expect(storeStats().keys).toBe(keys0 + 1);
    // A stale lease cannot bring a revoked version back.
    const h = generateKey();
    expect(() => scopes.bind(T, S, 1, 'DECRYPT_ONLY', h)).toThrow(code('KEY_REVOKED'));
    destroyKey(h);
    expect(() => scopes.setState(T, S, 1, 'ACTIVE')).toThrow(code('KEY_REVOKED'));
    // A revocation that arrives before its key, or before its scope, is remembered.
    scopes.setState(T, 'not-yet-leased', 4, 'REVOKED');
    const h4 = generateKey();
    expect(() => scopes.bind(T, 'not-yet-leased', 4, 'ACTIVE', h4)).toThrow(code('KEY_REVOKED'));
    destroyKey(h4);
    scopes.evict(T, 'not-yet-leased');
    scopes.setState(T, S, 9, 'REVOKED');
    const h9 = generateKey();
    expect(() => scopes.bind(T, S, 9, 'ACTIVE', h9)).toThrow(code('KEY_REVOKED'));
    destroyKey(h9);
    expect(scopes.evict(T, S)).toBe(true);
    expect(storeStats().keys).toBe(keys0);
    expect(scopeRef(T, S)).toBeNull();
    expect(scopes.evict(T, S)).toBe(false);
  });

  it('a key bound to a scope cannot be destroyed by handle, only through its scope', () => {
    const h = generateKey();
    scopes.bind(T, S, 1, 'ACTIVE', h);
    expect(() => destroyKey(h)).toThrow(code('BAD_REQUEST'));
    expect(() => scopes.bind(T, 'other', 1, 'ACTIVE', h)).toThrow(code('BAD_REQUEST'));
    scopes.evict(T, S);
    expect(() => keyLength(h)).toThrow(code('KEY_UNAVAILABLE'));
  });

  it('refuses ids outside [A-Za-z0-9._~-]{1,64}, version 0 and binding as REVOKED', () => {
    const h = generateKey();
    expect(() => scopes.bind('bad tenant', S, 1, 'ACTIVE', h)).toThrow(code('BAD_REQUEST'));
    expect(() => scopes.bind('x'.repeat(65), S, 1, 'ACTIVE', h)).toThrow(code('BAD_REQUEST'));
    expect(() => scopes.bind(T, '', 1, 'ACTIVE', h)).toThrow(code('BAD_REQUEST'));
    expect(() => scopes.bind(T, S, 0, 'ACTIVE', h)).toThrow(code('BAD_REQUEST'));
    expect(() => scopes.bind(T, S, 1, 'REVOKED' as 'ACTIVE', h)).toThrow(code('BAD_REQUEST'));
    destroyKey(h);
  });
});

describe('keyed GCM contexts', () => {
  it('the sweep wipes contexts once their 1 s epoch is over, and sealing goes on under a new epoch', async () => {
    const h = generateKey();
    const first = sealWithKey(h, Buffer.from('a'));
    openWithKey(h, first);
    sweepCryptoContexts(); // nothing from this epoch needs to go yet, older tests' may
    expect(sweepCryptoContexts()).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    expect(sweepCryptoContexts()).toBeGreaterThanOrEqual(2); // one sealing epoch, one opening context
    const second = sealWithKey(h, Buffer.from('b'));
    expect(second.subarray(0, 12).equals(first.subarray(0, 12))).toBe(false); // a new random prefix
    expect(openWithKey(h, first).toString()).toBe('a');
    destroyKey(h);
  });
});
