import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobInfo,
  createKey,
  createKeys,
  generateKey,
  importKey,
  openBlob,
  openBlobs,
  rewrapBlob,
  rewrapBlobs,
  scopeRef,
  scopes,
  type ScopeRef,
} from '../../src/native/index.js';

const code = (c: string) => expect.objectContaining({ code: c });
const T = 'acme';
const S = 'billing.api';

let scope: ScopeRef;
beforeAll(() => {
  scopes.bind(T, S, 1, 'ACTIVE', generateKey());
  scope = scopeRef(T, S)!;
});
afterAll(() => {
  scopes.evict(T, S);
});

describe('L4 blob create and open', () => {
  it('creates a 32-byte L4 and an 82+T+S byte blob that names tenant, service and version', () => {
    const k = createKey(scope);
    expect(k.plaintext.length).toBe(32);
    expect(k.blob.length).toBe(82 + T.length + S.length);
    expect(k.version).toBe(1);
    expect(blobInfo(k.blob)).toEqual({ tenant: T, service: S, version: 1 });
    expect(openBlob(T, k.blob).equals(k.plaintext)).toBe(true);
  });

  it('a batch of 1024 has distinct keys and nonces, and every blob opens to its key', () => {
    const { keys, version } = createKeys(scope, 1024);
    expect(version).toBe(1);
    const h = 10 + T.length + S.length;
    expect(new Set(keys.map((k) => k.plaintext.toString('hex'))).size).toBe(1024);
    expect(new Set(keys.map((k) => k.blob.subarray(h, h + 24).toString('hex'))).size).toBe(1024);
    const opened = openBlobs(T, keys.map((k) => k.blob));
    opened.forEach((l4, i) => expect((l4 as Buffer).equals(keys[i]!.plaintext)).toBe(true));
  });

  it('refuses counts outside 1..4096 and contexts over 4096 bytes', () => {
    expect(() => createKeys(scope, 0)).toThrow(code('BAD_REQUEST'));
    expect(() => createKeys(scope, 4097)).toThrow(code('BAD_REQUEST'));
    expect(() => createKey(scope, Buffer.alloc(4097))).toThrow(code('BAD_REQUEST'));
  });

  it('the caller context is bound: the wrong or a missing context is INVALID_BLOB', () => {
    const ctx = Buffer.from('table=users;row=42');
    const k = createKey(scope, ctx);
    expect(openBlob(T, k.blob, ctx).equals(k.plaintext)).toBe(true);
    expect(() => openBlob(T, k.blob)).toThrow(code('INVALID_BLOB'));
    expect(() => openBlob(T, k.blob, Buffer.from('table=users;row=43'))).toThrow(code('INVALID_BLOB'));
    const plain = createKey(scope);
    expect(() => openBlob(T, plain.blob, ctx)).toThrow(code('INVALID_BLOB'));
  });

  it('a blob of another tenant is refused before any crypto, even where the crypto would succeed', () => {
    // Both tenants hold the same L3 bytes for the same service and version,
    // so only the tenant check can refuse.
    const raw = randomBytes(32);
    scopes.bind('tenant-a', 'shared', 1, 'ACTIVE', importKey(raw));
    scopes.bind('tenant-b', 'shared', 1, 'ACTIVE', importKey(raw));
    const k = createKey(scopeRef('tenant-a', 'shared')!);
    expect(openBlob('tenant-a', k.blob).equals(k.plaintext)).toBe(true);
    expect(() => openBlob('tenant-b', k.blob)).toThrow(code('INVALID_BLOB'));
    expect(() => rewrapBlob('tenant-b', k.blob)).toThrow(code('INVALID_BLOB'));
    scopes.evict('tenant-a', 'shared');
    scopes.evict('tenant-b', 'shared');
  });

  it('a scope that is not leased cannot create (KEY_UNAVAILABLE) and its blobs do not open', () => {
    scopes.bind(T, 'short-lived', 1, 'ACTIVE', generateKey());
    const ref = scopeRef(T, 'short-lived')!;
    const k = createKey(ref);
    scopes.evict(T, 'short-lived');
    expect(() => createKey(ref)).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => openBlob(T, k.blob)).toThrow(code('INVALID_BLOB'));
    expect(scopeRef(T, 'short-lived')).toBeNull();
  });
});

describe('rotation, rewrap and revocation', () => {
  it('old blobs open after rotation, rewrap moves them to the ACTIVE version, revoked versions are KEY_REVOKED', () => {
    const svc = 'rotating';
    scopes.bind(T, svc, 1, 'ACTIVE', generateKey());
    const ref = scopeRef(T, svc)!;
    const ctx = Buffer.from('ctx');
    const old = createKey(ref, ctx);
    scopes.bind(T, svc, 2, 'ACTIVE', generateKey());
    expect(openBlob(T, old.blob, ctx).equals(old.plaintext)).toBe(true);
    expect(createKey(ref).version).toBe(2);

    const moved = rewrapBlob(T, old.blob, ctx);
    expect(moved.version).toBe(2);
    expect(blobInfo(moved.blob)?.version).toBe(2);
    expect(openBlob(T, moved.blob, ctx).equals(old.plaintext)).toBe(true);
    expect(() => rewrapBlob(T, old.blob)).toThrow(code('INVALID_BLOB'));

    const batch = rewrapBlobs(T, [old.blob, Buffer.from('junk')], ctx);
    expect(openBlob(T, batch[0] as Buffer, ctx).equals(old.plaintext)).toBe(true);
    expect(batch[1]).toMatchObject({ code: 'INVALID_BLOB' });

    scopes.setState(T, svc, 1, 'REVOKED');
    expect(() => openBlob(T, old.blob, ctx)).toThrow(code('KEY_REVOKED'));
    expect(() => rewrapBlob(T, old.blob, ctx)).toThrow(code('KEY_REVOKED'));
    expect(openBlob(T, moved.blob, ctx).equals(old.plaintext)).toBe(true);
    const results = openBlobs(T, [old.blob, moved.blob], ctx);
    expect(results[0]).toMatchObject({ code: 'KEY_REVOKED' });
    expect((results[1] as Buffer).equals(old.plaintext)).toBe(true);
    scopes.evict(T, svc);
  });
});

describe('blob properties', () => {
  const invalid = code('INVALID_BLOB');

  it('every truncation of a blob is INVALID_BLOB', () => {
    const { blob } = createKey(scope);
    for (let n = 0; n < blob.length; n++) expect(() => openBlob(T, blob.subarray(0, n))).toThrow(invalid);
  });

  it('every extension of a blob is INVALID_BLOB', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (tail) => {
        const { blob } = createKey(scope);
        expect(() => openBlob(T, Buffer.concat([blob, tail]))).toThrow(invalid);
      }),
      { numRuns: 300 },
    );
  });

  it('every single bit flip, at every position, is INVALID_BLOB', () => {
    const { blob } = createKey(scope);
    for (let bit = 0; bit < blob.length * 8; bit++) {
      const bad = Buffer.from(blob);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      expect(() => openBlob(T, bad), `bit ${bit}`).toThrow(invalid);
    }
  });

  it('random blobs with random flips, truncations and contexts never open wrongly', () => {
    fc.assert(
      fc.property(
        fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
        fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (ctx, otherCtx, pos, mask) => {
          const k = createKey(scope, ctx);
          const bad = Buffer.from(k.blob);
          bad[pos % bad.length]! ^= mask;
          expect(() => openBlob(T, bad, ctx)).toThrow(invalid);
          const same = Buffer.compare(Buffer.from(ctx ?? []), Buffer.from(otherCtx ?? [])) === 0;
          if (same) expect(openBlob(T, k.blob, otherCtx).equals(k.plaintext)).toBe(true);
          else expect(() => openBlob(T, k.blob, otherCtx)).toThrow(invalid);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('arbitrary bytes are never a blob', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(() => openBlob(T, bytes)).toThrow(invalid);
      }),
      { numRuns: 1000 },
    );
  });
});
