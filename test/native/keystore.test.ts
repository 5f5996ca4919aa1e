import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  arenaInfo,
  capabilities,
  combineShares,
  createKey,
  deriveKey,
  destroyKey,
  generateKey,
  hmacSha256,
  HpkeRecipient,
  importKey,
  keyLength,
  openBlob,
  openLease,
  openWithKey,
  scopeRef,
  scopes,
  sealLease,
  sealWithKey,
  splitKey,
  storeStats,
  sweepCryptoContexts,
  unwrapKey,
  wipeCryptoContexts,
  wrapKey,
} from '../../src/native/index.js';
import { ROOT } from '../core/process-fixture.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });

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

  it('a stale key handle held across 3,000 reuses of its slot never names the new key (L1)', () => {
    const first = generateKey();
    const slot = first % 2 ** 20;
    destroyKey(first);
    const seen = new Set<number>([first]);
    let newest = 0;
    for (let i = 0; i < 3000; i++) {
      newest = generateKey();
      expect(newest % 2 ** 20).toBe(slot); // the same slot, every time (LIFO reuse)
      seen.add(newest);
      if (i < 2999) destroyKey(newest);
    }
    expect(seen.size).toBe(3001); // an 11-bit generation repeated after 2048
    expect(() => hmacSha256(first, Buffer.from('x'))).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => sealWithKey(first, Buffer.from('x'))).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => keyLength(first)).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => destroyKey(first)).toThrow(code('KEY_UNAVAILABLE'));
    expect(hmacSha256(newest, Buffer.from('x')).length).toBe(32);
    destroyKey(newest);
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

describe('handles above 2^32 (a slot past 4096 generations)', () => {
  // Leaves a slot whose next key gets a handle above 2^32 on top of the
  // free list: the next key made (generated, unwrapped, derived, combined)
  // takes it.
  function churn(): void {
    for (let i = 0; i < 4200; i++) destroyKey(generateKey());
  }
  function bigHandle(length = 32): number {
    churn();
    const h = generateKey(length);
    expect(h).toBeGreaterThan(2 ** 32);
    expect(Number.isSafeInteger(h)).toBe(true);
    return h;
  }

  it('every entry point that takes or returns a handle accepts the full range', () => {
    const kek = bigHandle();
    const key = bigHandle();
    expect(keyLength(kek)).toBe(32);
    const sealed = sealWithKey(kek, Buffer.from('big'));
    expect(openWithKey(kek, sealed).toString()).toBe('big');
    expect(hmacSha256(kek, Buffer.from('m')).length).toBe(32);

    const wrapped = wrapKey(kek, key);
    churn();
    const unwrapped = unwrapKey(kek, wrapped);
    expect(unwrapped).toBeGreaterThan(2 ** 32);
    expect(openWithKey(unwrapped, sealWithKey(key, Buffer.from('u'))).toString()).toBe('u');

    churn();
    const derived = deriveKey(kek, 'purpose');
    expect(derived).toBeGreaterThan(2 ** 32);
    expect(hmacSha256(derived, Buffer.from('m')).length).toBe(32);

    const shares = splitKey(key, { threshold: 2, shares: 3 });
    churn();
    const combined = combineShares(shares.slice(1));
    expect(combined).toBeGreaterThan(2 ** 32);
    expect(openWithKey(combined, sealWithKey(key, Buffer.from('c'))).toString()).toBe('c');

    // Bound to a scope, listed, and sealed in a lease by its big handle.
    const l3 = bigHandle();
    scopes.bind('big-tenant', 'svc', 1, 'ACTIVE', l3);
    expect(scopes.list('big-tenant', 'svc')[0].handle).toBe(l3);
    const recipient = HpkeRecipient.generate();
    const lease = sealLease({
      recipientPublicKey: recipient.publicKey,
      key: l3,
      tenant: 'big-tenant',
      service: 'leased',
      version: 1,
      state: 'ACTIVE',
      expiresAt: Date.now() + 60_000,
    });
    churn();
    openLease(recipient, { tenant: 'big-tenant', service: 'leased', ...lease });
    const leased = scopes.list('big-tenant', 'leased')[0].handle;
    expect(leased).toBeGreaterThan(2 ** 32);
    const k = createKey(scopeRef('big-tenant', 'leased')!);
    expect(openBlob('big-tenant', k.blob).equals(k.plaintext)).toBe(true);
    recipient.destroy();
    scopes.evict('big-tenant', 'svc');
    scopes.evict('big-tenant', 'leased');
    expect(() => keyLength(l3)).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => keyLength(leased)).toThrow(code('KEY_UNAVAILABLE'));
    [kek, key, unwrapped, derived, combined].forEach(destroyKey);
  });

  it('a stale handle of a big generation fails; non-integers and values past 2^53 - 1 are BAD_REQUEST', () => {
    const h = bigHandle();
    destroyKey(h);
    const next = generateKey(); // the same slot, the next generation
    expect(next).toBe(h + 2 ** 20);
    expect(() => hmacSha256(h, Buffer.from('x'))).toThrow(code('KEY_UNAVAILABLE'));
    // The generation is compared in full: the same slot with a generation
    // off by 2^32 or 2^11 names nothing.
    expect(() => keyLength(next + 2 ** 52)).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => keyLength(next - 2 ** 31)).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => keyLength(0)).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => keyLength(2 ** 53)).toThrow(code('BAD_REQUEST'));
    expect(() => keyLength(-1)).toThrow(code('BAD_REQUEST'));
    expect(() => keyLength(next + 0.5)).toThrow(code('BAD_REQUEST'));
    destroyKey(next);
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
      bad[i] ^= 0x01;
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

describe('version states only move forward (review M1: a stale lease never demotes the current ACTIVE version)', () => {
  const T = 'forward-tenant';
  const states = (s: string) => scopes.list(T, s).map((v) => [v.version, v.state]);

  it('a stale ACTIVE binding of a version held DECRYPT_ONLY binds it DECRYPT_ONLY; the current ACTIVE stays', () => {
    const S = 'stale';
    scopes.bind(T, S, 1, 'ACTIVE', generateKey());
    const current = createKey(scopeRef(T, S)!);
    scopes.bind(T, S, 2, 'ACTIVE', generateKey());
    // A replayed v1 ACTIVE lease (the review's repro): v2 must stay ACTIVE.
    scopes.bind(T, S, 1, 'ACTIVE', generateKey());
    expect(states(S)).toEqual([
      [1, 'DECRYPT_ONLY'],
      [2, 'ACTIVE'],
    ]);
    expect(createKey(scopeRef(T, S)!).version).toBe(2);
    expect(current.version).toBe(1);
    scopes.evict(T, S);
  });

  it('ACTIVE below any version the scope knows binds DECRYPT_ONLY, a revocation tombstone included', () => {
    const S = 'below';
    scopes.bind(T, S, 5, 'ACTIVE', generateKey());
    scopes.bind(T, S, 3, 'ACTIVE', generateKey());
    expect(states(S)).toEqual([
      [3, 'DECRYPT_ONLY'],
      [5, 'ACTIVE'],
    ]);
    scopes.evict(T, S);
    scopes.setState(T, S, 9, 'REVOKED');
    scopes.bind(T, S, 8, 'ACTIVE', generateKey());
    expect(states(S)).toEqual([
      [8, 'DECRYPT_ONLY'],
      [9, 'REVOKED'],
    ]);
    scopes.evict(T, S);
  });

  it('the state a lease opened into is the state bound: a stale ACTIVE lease reports DECRYPT_ONLY', () => {
    const S = 'lease';
    const recipient = HpkeRecipient.generate();
    const key = importKey(randomBytes(32));
    const lease = (version: number) =>
      sealLease({
        recipientPublicKey: recipient.publicKey,
        key,
        tenant: T,
        service: S,
        version,
        state: 'ACTIVE',
        expiresAt: Date.now() + 60_000,
      });
    const v1 = lease(1);
    expect(openLease(recipient, { tenant: T, service: S, ...lease(2) }).state).toBe('ACTIVE');
    expect(openLease(recipient, { tenant: T, service: S, ...v1 }).state).toBe('DECRYPT_ONLY');
    expect(states(S)).toEqual([
      [1, 'DECRYPT_ONLY'],
      [2, 'ACTIVE'],
    ]);
    destroyKey(key);
    recipient.destroy();
    scopes.evict(T, S);
  });

  it('setState never promotes back to ACTIVE (BAD_REQUEST); ACTIVE -> DECRYPT_ONLY -> REVOKED is allowed', () => {
    const S = 'set';
    scopes.bind(T, S, 1, 'ACTIVE', generateKey());
    scopes.bind(T, S, 2, 'ACTIVE', generateKey());
    expect(() => scopes.setState(T, S, 1, 'ACTIVE')).toThrow(code('BAD_REQUEST'));
    scopes.setState(T, S, 2, 'ACTIVE'); // already ACTIVE: no change
    scopes.setState(T, S, 2, 'DECRYPT_ONLY');
    scopes.setState(T, S, 2, 'REVOKED');
    expect(states(S)).toEqual([
      [1, 'DECRYPT_ONLY'],
      [2, 'REVOKED'],
    ]);
    scopes.evict(T, S);
  });
});

describe('retiring old versions (review L7)', () => {
  const T = 'retire-tenant';

  it('retire destroys a DECRYPT_ONLY version without a tombstone, so a later lease binds it again; ACTIVE cannot be retired; a tombstone stays', () => {
    const S = 'old';
    const keys0 = storeStats().keys;
    const old = generateKey();
    scopes.bind(T, S, 1, 'ACTIVE', old);
    const blob = createKey(scopeRef(T, S)!);
    scopes.bind(T, S, 2, 'ACTIVE', generateKey());
    expect(scopes.retire(T, S, 1)).toBe(true);
    expect(() => keyLength(old)).toThrow(code('KEY_UNAVAILABLE'));
    expect(scopes.list(T, S).map((v) => v.version)).toEqual([2]);
    expect(storeStats().keys).toBe(keys0 + 1);
    expect(() => openBlob(T, blob.blob)).toThrow(code('INVALID_BLOB'));
    expect(scopes.retire(T, S, 1)).toBe(false);
    expect(() => scopes.retire(T, S, 2)).toThrow(code('BAD_REQUEST'));
    scopes.setState(T, S, 7, 'REVOKED');
    expect(scopes.retire(T, S, 7)).toBe(false);
    expect(scopes.list(T, S).find((v) => v.version === 7)?.state).toBe('REVOKED');
    scopes.evict(T, S);
    expect(storeStats().keys).toBe(keys0);
  });

  it('running out of arena is ARENA_EXHAUSTED, and the message names KRYPTON_ARENA_BYTES', () => {
    const script = [
      `const n = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'src', 'native', 'index.js')).href)});`,
      'try { for (;;) n.generateKey(); } catch (err) { process.stdout.write(JSON.stringify({ code: err.code, message: err.message })); }',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--secure-heap=65536', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, KRYPTON_ARENA_BYTES: String(256 * 1024) },
      timeout: 30_000,
    });
    const out = JSON.parse(r.stdout) as { code: string; message: string };
    expect(out.code).toBe('ARENA_EXHAUSTED');
    expect(out.message).toMatch(/KRYPTON_ARENA_BYTES/);
  });
});

describe('scope holders (one lease cache per thread over the shared store)', () => {
  const T = 'holder-tenant';

  it('issues distinct, nonzero holder ids', () => {
    const ids = Array.from({ length: 100 }, () => scopes.newHolder());
    expect(new Set(ids).size).toBe(100);
    expect(ids.every((id) => Number.isSafeInteger(id) && id > 0)).toBe(true);
  });

  it("one holder's release never destroys keys another holder serves; the last release destroys them, zeroized (M4)", () => {
    const S = 'shared';
    const a = scopes.newHolder();
    const b = scopes.newHolder();
    const keys0 = storeStats().keys;
    const id = scopes.hold(T, S, a);
    expect(id).toBeGreaterThan(0);
    expect(scopes.lookup(T, S)).toBe(id);
    expect(scopes.list(T, S)).toEqual([]); // held, nothing bound yet
    expect(scopeRef(T, S)).not.toBeNull();
    expect(() => createKey(scopeRef(T, S)!)).toThrow(code('KEY_UNAVAILABLE'));
    const h = generateKey();
    expect(scopes.bind(T, S, 1, 'ACTIVE', h)).toBe(id);
    const before = createKey(scopeRef(T, S)!);
    expect(storeStats().keys).toBe(keys0 + 1);

    expect(scopes.hold(T, S, b)).toBe(id);
    expect(scopes.hold(T, S, b)).toBe(id); // idempotent
    expect(scopes.holders(T, S)).toBe(2);
    expect(scopes.release(T, S, b)).toBe(false);
    expect(scopes.holders(T, S)).toBe(1);
    // B is gone; A still serves: old blobs open, new ones are made.
    expect(scopes.lookup(T, S)).toBe(id);
    expect(openBlob(T, before.blob).equals(before.plaintext)).toBe(true);
    const after = createKey(scopeRef(T, S)!);
    expect(openBlob(T, after.blob).equals(after.plaintext)).toBe(true);
    expect(storeStats().keys).toBe(keys0 + 1);
    // A release by someone who does not hold it changes nothing.
    expect(scopes.release(T, S, b)).toBe(false);
    expect(scopes.release(T, S, scopes.newHolder())).toBe(false);
    expect(scopes.lookup(T, S)).toBe(id);

    expect(scopes.release(T, S, a)).toBe(true);
    expect(scopes.lookup(T, S)).toBe(0);
    expect(scopes.holders(T, S)).toBe(0);
    expect(storeStats().keys).toBe(keys0);
    expect(() => keyLength(h)).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => openBlob(T, before.blob)).toThrow(code('INVALID_BLOB'));
    expect(scopes.release(T, S, a)).toBe(false); // nothing left
  });

  it('revocation is global: it destroys the version for every holder, and the tombstone outlives a partial release', () => {
    const S = 'revoked';
    const a = scopes.newHolder();
    const b = scopes.newHolder();
    scopes.hold(T, S, a);
    scopes.hold(T, S, b);
    scopes.bind(T, S, 1, 'ACTIVE', generateKey());
    const keys = storeStats().keys;
    const k = createKey(scopeRef(T, S)!);
    scopes.setState(T, S, 1, 'REVOKED');
    expect(storeStats().keys).toBe(keys - 1);
    expect(() => openBlob(T, k.blob)).toThrow(code('KEY_REVOKED'));
    expect(scopes.release(T, S, a)).toBe(false);
    const h = generateKey();
    expect(() => scopes.bind(T, S, 1, 'ACTIVE', h)).toThrow(code('KEY_REVOKED'));
    destroyKey(h);
    expect(scopes.release(T, S, b)).toBe(true);
    expect(scopes.lookup(T, S)).toBe(0); // the tombstone goes with the last holder
  });

  it('a scope nobody holds (made by bind, or a revocation tombstone) goes on any release, as on evict', () => {
    const x = scopes.newHolder();
    scopes.bind(T, 'unheld', 1, 'ACTIVE', generateKey());
    expect(scopes.holders(T, 'unheld')).toBe(0);
    expect(scopes.release(T, 'unheld', x)).toBe(true);
    expect(scopes.lookup(T, 'unheld')).toBe(0);
    scopes.setState(T, 'tombstone', 3, 'REVOKED');
    expect(scopes.lookup(T, 'tombstone')).toBeGreaterThan(0);
    expect(scopes.release(T, 'tombstone', x)).toBe(true);
    expect(scopes.lookup(T, 'tombstone')).toBe(0);
  });

  it('evict stays forced: it destroys a held scope whoever holds it', () => {
    const a = scopes.newHolder();
    scopes.hold(T, 'forced', a);
    scopes.bind(T, 'forced', 1, 'ACTIVE', generateKey());
    expect(scopes.evict(T, 'forced')).toBe(true);
    expect(scopes.lookup(T, 'forced')).toBe(0);
    expect(scopes.release(T, 'forced', a)).toBe(false);
  });

  it('a lease opens into a held scope, and the scope keeps its holder', () => {
    const a = scopes.newHolder();
    const id = scopes.hold(T, 'leased', a);
    const recipient = HpkeRecipient.generate();
    const l3 = generateKey();
    const lease = sealLease({
      recipientPublicKey: recipient.publicKey,
      key: l3,
      tenant: T,
      service: 'leased',
      version: 2,
      state: 'ACTIVE',
      expiresAt: Date.now() + 60_000,
    });
    expect(openLease(recipient, { tenant: T, service: 'leased', ...lease }).scopeId).toBe(id);
    expect(scopes.holders(T, 'leased')).toBe(1);
    const k = createKey(scopeRef(T, 'leased')!);
    expect(openBlob(T, k.blob).equals(k.plaintext)).toBe(true);
    expect(scopes.release(T, 'leased', a)).toBe(true);
    recipient.destroy();
    destroyKey(l3);
  });

  it('release never throws, whatever the arguments; hold refuses bad ones with BAD_REQUEST', () => {
    const a = scopes.newHolder();
    scopes.hold(T, 'robust', a);
    const bad: unknown[][] = [
      ['bad tenant', 'robust', a],
      [T, '', a],
      [T, 'x'.repeat(65), a],
      [undefined, 'robust', a],
      [T, null, a],
      [T, 'robust', -1],
      [T, 'robust', 1.5],
      [T, 'robust', 2 ** 53],
      [T, 'robust', Number.NaN],
      [T, 'robust', '1'],
      [T, 'robust', undefined],
      [T, 'robust', 0],
      [
        {
          toString: () => {
            throw new Error('boom');
          },
        },
        'robust',
        a,
      ],
    ];
    for (const args of bad) {
      expect((scopes.release as (...x: unknown[]) => boolean)(...args)).toBe(false);
    }
    expect(scopes.holders(T, 'robust')).toBe(1);
    expect(() => scopes.hold('bad tenant', 'x', a)).toThrow(code('BAD_REQUEST'));
    expect(() => scopes.hold(T, 'x', 0)).toThrow(code('BAD_REQUEST'));
    expect(() => scopes.hold(T, 'x', 1.5)).toThrow(code('BAD_REQUEST'));
    // Only issued ids: a made-up holder cannot pin a scope.
    expect(() => scopes.hold(T, 'x', 2 ** 52)).toThrow(code('BAD_REQUEST'));
    expect(scopes.lookup(T, 'x')).toBe(0);
    expect(scopes.release(T, 'robust', a)).toBe(true);
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

  it('wipeCryptoContexts wipes every context of the thread at once, whatever its epoch', () => {
    const h = generateKey();
    wipeCryptoContexts(); // start from none, whatever earlier tests left
    const first = sealWithKey(h, Buffer.from('a'));
    openWithKey(h, first);
    expect(sweepCryptoContexts()).toBe(0); // the epoch is current: the sweep leaves it
    expect(wipeCryptoContexts()).toBe(2); // one sealing epoch, one opening context
    expect(wipeCryptoContexts()).toBe(0);
    const second = sealWithKey(h, Buffer.from('b'));
    expect(second.subarray(0, 12).equals(first.subarray(0, 12))).toBe(false); // a new epoch
    expect(openWithKey(h, first).toString()).toBe('a');
    destroyKey(h);
  });
});
