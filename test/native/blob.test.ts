import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobInfo,
  combineShares,
  createInto,
  createKey,
  createKeys,
  destroyKey,
  generateKey,
  importKey,
  openBlob,
  openBlobs,
  openBlobsInto,
  rewrapBlob,
  rewrapBlobs,
  rewrapBlobsInto,
  scopeRef,
  scopes,
  splitKey,
  type ScopeRef,
} from '../../src/native/index.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
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
    const opened = openBlobs(
      T,
      keys.map((k) => k.blob),
    );
    opened.forEach((l4, i) => expect((l4 as Buffer).equals(keys[i].plaintext)).toBe(true));
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

describe("create into a caller's record layout", () => {
  it("writes each L4 and blob where the layout puts them and copies record 0's framing to every record", () => {
    const blobLen = scope.recordBytes - 32;
    const layout = { stride: 8 + 32 + 5 + blobLen + 3, l4At: 8, blobAt: 8 + 32 + 5 };
    const out = Buffer.alloc(4 * layout.stride);
    out.write('FRAME-0:', 0, 'latin1');
    out.write('mid--', 8 + 32, 'latin1');
    out.write('end', layout.blobAt + blobLen, 'latin1');
    expect(createInto(scope, 4, undefined, out, layout)).toBe(1);
    for (let i = 0; i < 4; i++) {
      const r = out.subarray(i * layout.stride, (i + 1) * layout.stride);
      expect(r.subarray(0, 8).toString('latin1')).toBe('FRAME-0:');
      expect(r.subarray(40, 45).toString('latin1')).toBe('mid--');
      expect(r.subarray(layout.blobAt + blobLen).toString('latin1')).toBe('end');
      expect(openBlob(T, r.subarray(layout.blobAt, layout.blobAt + blobLen)).equals(r.subarray(8, 40))).toBe(true);
    }
  });

  it('refuses a layout whose parts overlap or leave the record, a wrong size, or an output over the context (BAD_REQUEST), writing no key', () => {
    const blobLen = scope.recordBytes - 32;
    const bad = [
      { stride: scope.recordBytes, l4At: 10, blobAt: 32 }, // the L4 runs into the blob
      { stride: scope.recordBytes, l4At: 0, blobAt: 33 }, // the blob leaves the record
      { stride: 5000, l4At: 0, blobAt: 32 }, // past the largest stride
    ];
    for (const layout of bad) {
      const out = Buffer.alloc(2 * layout.stride);
      expect(() => createInto(scope, 2, undefined, out, layout)).toThrow(code('BAD_REQUEST'));
      expect(out.every((b) => b === 0)).toBe(true);
    }
    const layout = { stride: 32 + blobLen, l4At: 0, blobAt: 32 };
    expect(() => createInto(scope, 2, undefined, Buffer.alloc(2 * layout.stride + 1), layout)).toThrow(
      code('BAD_REQUEST'),
    );
    const out = Buffer.alloc(2 * layout.stride);
    expect(() => createInto(scope, 2, out.subarray(0, 8), out, layout)).toThrow(code('BAD_REQUEST'));
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
      bad[bit >> 3] ^= 1 << (bit & 7);
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
          bad[pos % bad.length] ^= mask;
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

describe('batches read every array element before taking a pointer (review L2)', () => {
  /** An array of blobs whose element 1 is a getter that runs `steal` the first time it is read. */
  function withGetter(blobs: Uint8Array[], steal: () => void, onRead = 1): Uint8Array[] {
    const arr = [...blobs];
    let reads = 0;
    const second = blobs[1];
    Object.defineProperty(arr, 1, {
      enumerable: true,
      get() {
        if (++reads === onRead) steal();
        return second;
      },
    });
    return arr;
  }

  it('openBlobsInto: a getter that transfers out.buffer gets BAD_REQUEST, and the transferred copy holds no L4', () => {
    const { keys } = createKeys(scope, 3);
    const out = new Uint8Array(3 * 32);
    const statuses = new Uint8Array(3);
    let stolen: ArrayBuffer | null = null;
    const blobs = withGetter(
      keys.map((k) => k.blob),
      () => {
        stolen = structuredClone(out.buffer, { transfer: [out.buffer] });
      },
    );
    expect(() => openBlobsInto(T, blobs, undefined, out, statuses)).toThrow(code('BAD_REQUEST'));
    expect(stolen).not.toBeNull();
    expect(out.byteLength).toBe(0);
    expect(new Uint8Array(stolen!).every((b) => b === 0)).toBe(true);
    expect(statuses.every((b) => b === 0)).toBe(true);
  });

  it('openBlobsInto: a getter that transfers statuses.buffer gets BAD_REQUEST, and out stays zero', () => {
    const { keys } = createKeys(scope, 3);
    const out = new Uint8Array(3 * 32);
    const statuses = new Uint8Array(3);
    const blobs = withGetter(
      keys.map((k) => k.blob),
      () => structuredClone(statuses.buffer, { transfer: [statuses.buffer] }),
    );
    expect(() => openBlobsInto(T, blobs, undefined, out, statuses)).toThrow(code('BAD_REQUEST'));
    expect(out.every((b) => b === 0)).toBe(true);
  });

  it('rewrapBlobsInto: a getter that transfers out.buffer gets BAD_REQUEST, and the transferred copy stays zero', () => {
    const { keys } = createKeys(scope, 3);
    const blobs = keys.map((k) => k.blob);
    const out = new Uint8Array(blobs.reduce((n, b) => n + b.length, 0));
    const statuses = new Uint8Array(3);
    let stolen: ArrayBuffer | null = null;
    const arr = withGetter(blobs, () => {
      stolen = structuredClone(out.buffer, { transfer: [out.buffer] });
    });
    expect(() => rewrapBlobsInto(T, arr, undefined, out, statuses)).toThrow(code('BAD_REQUEST'));
    expect(new Uint8Array(stolen!).every((b) => b === 0)).toBe(true);
  });

  it("combineShares: a getter that transfers an earlier share's buffer gets BAD_REQUEST, not a key from freed memory", () => {
    const key = generateKey();
    const shares = splitKey(key, { threshold: 2, shares: 3 }).map((s) => new Uint8Array(s));
    // The first read of element 1 is the JS-side check; the second is the addon's.
    const arr = withGetter(shares, () => structuredClone(shares[0].buffer, { transfer: [shares[0].buffer] }), 2);
    expect(() => combineShares(arr)).toThrow(code('BAD_REQUEST'));
    destroyKey(key);
  });

  it('refuses outputs that overlap each other or an input (BAD_REQUEST), and writes nothing', () => {
    const { keys } = createKeys(scope, 3);
    const blobs = keys.map((k) => k.blob);
    const n = blobs.length;
    const blobLen = blobs[0].length;
    const untouched = (ab: ArrayBuffer, before: Uint8Array) => expect(Buffer.from(ab).equals(before)).toBe(true);

    // out and statuses share a byte.
    let ab = new ArrayBuffer(n * 32 + n);
    let snap = new Uint8Array(ab.slice(0));
    expect(() =>
      openBlobsInto(T, blobs, undefined, new Uint8Array(ab, 0, n * 32), new Uint8Array(ab, n * 32 - 1, n)),
    ).toThrow(code('BAD_REQUEST'));
    untouched(ab, snap);

    // out overlaps a blob (the blob sits in out's last 32 bytes and beyond).
    ab = new ArrayBuffer(n * 32 + blobLen);
    const inside = new Uint8Array(ab, n * 32 - 32, blobLen);
    inside.set(blobs[2]);
    snap = new Uint8Array(ab.slice(0));
    expect(() =>
      openBlobsInto(T, [blobs[0], blobs[1], inside], undefined, new Uint8Array(ab, 0, n * 32), new Uint8Array(n)),
    ).toThrow(code('BAD_REQUEST'));
    untouched(ab, snap);

    // statuses overlaps a blob; out overlaps the context.
    const statusesInBlob = new Uint8Array(inside.buffer, inside.byteOffset, n);
    expect(() =>
      openBlobsInto(T, [blobs[0], blobs[1], inside], undefined, new Uint8Array(n * 32), statusesInBlob),
    ).toThrow(code('BAD_REQUEST'));
    untouched(ab, snap);
    const out = new Uint8Array(n * 32);
    expect(() => openBlobsInto(T, blobs, out.subarray(0, 8), out, new Uint8Array(n))).toThrow(code('BAD_REQUEST'));
    expect(out.every((b) => b === 0)).toBe(true);

    // Rewrap in place (out over the blobs themselves).
    const packed = new Uint8Array(n * blobLen);
    blobs.forEach((b, i) => packed.set(b, i * blobLen));
    const views = blobs.map((_, i) => packed.subarray(i * blobLen, (i + 1) * blobLen));
    const packedSnap = new Uint8Array(packed);
    expect(() => rewrapBlobsInto(T, views, undefined, packed, new Uint8Array(n))).toThrow(code('BAD_REQUEST'));
    expect(Buffer.from(packed).equals(packedSnap)).toBe(true);
  });

  it('fills caller buffers: L4s or new blobs in order, a status per blob, zero bytes for a failed one', () => {
    const { keys } = createKeys(scope, 3);
    const blobs = [keys[0].blob, Buffer.from('not a blob'), keys[2].blob];
    const out = new Uint8Array(3 * 32).fill(0xaa);
    const statuses = new Uint8Array(3);
    expect(openBlobsInto(T, blobs, undefined, out, statuses)).toBe(1);
    expect([...statuses]).toEqual([0, 1, 0]);
    expect(Buffer.from(out.subarray(0, 32)).equals(keys[0].plaintext)).toBe(true);
    expect(out.subarray(32, 64).every((b) => b === 0)).toBe(true);
    expect(Buffer.from(out.subarray(64)).equals(keys[2].plaintext)).toBe(true);

    const good = keys.map((k) => k.blob);
    const rewrapped = new Uint8Array(good.reduce((n, b) => n + b.length, 0)).fill(0xaa);
    const rs = new Uint8Array(3);
    const tampered = Buffer.from(good[1]);
    tampered[tampered.length - 1] ^= 1;
    expect(rewrapBlobsInto(T, [good[0], tampered, good[2]], undefined, rewrapped, rs)).toBe(1);
    expect([...rs]).toEqual([0, 1, 0]);
    const len = good[0].length;
    expect(openBlob(T, rewrapped.subarray(0, len)).equals(keys[0].plaintext)).toBe(true);
    expect(rewrapped.subarray(len, 2 * len).every((b) => b === 0)).toBe(true);
    expect(openBlob(T, rewrapped.subarray(2 * len)).equals(keys[2].plaintext)).toBe(true);
  });
});
