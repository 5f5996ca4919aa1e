import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobHeader, createBlobNode, openBlobNode, xaesOpenNode, xaesSealNode } from '../../bench/lib/xaes-node.js';
import {
  createKey,
  destroyKey,
  importKey,
  kat,
  openBlob,
  openWithKey,
  scopeRef,
  scopes,
  sealWithKey,
  type ScopeRef,
} from '../../src/native/index.js';

describe('XAES-256-GCM: the addon against an implementation written with node:crypto', () => {
  it('node:crypto opens what the addon sealed, and the addon opens what node:crypto sealed', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 24, maxLength: 24 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 64 }),
        (key, nonce, pt, aad) => {
          const ours = kat.xaesSeal(key, nonce, pt, aad);
          const theirs = xaesSealNode(key, nonce, pt, aad);
          expect(ours.equals(theirs)).toBe(true);
          expect(xaesOpenNode(key, nonce, ours, aad).equals(Buffer.from(pt))).toBe(true);
          expect(kat.xaesOpen(key, nonce, theirs, aad).equals(Buffer.from(pt))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a stored key seals under fresh nonces that node:crypto opens, and opens what node:crypto sealed', () => {
    const raw = randomBytes(32);
    const h = importKey(raw);
    try {
      const nonces = new Set<string>();
      for (let i = 0; i < 200; i++) {
        const pt = randomBytes(i % 70);
        const aad = randomBytes(i % 9);
        const sealed = sealWithKey(h, pt, aad);
        nonces.add(sealed.subarray(0, 24).toString('hex'));
        expect(xaesOpenNode(raw, sealed.subarray(0, 24), sealed.subarray(24), aad).equals(pt)).toBe(true);
        const nonce = randomBytes(24);
        const theirs = Buffer.concat([nonce, xaesSealNode(raw, nonce, pt, aad)]);
        expect(openWithKey(h, theirs, aad).equals(pt)).toBe(true);
      }
      expect(nonces.size).toBe(200);
    } finally {
      destroyKey(h);
    }
  });
});

describe('L4 blobs: the addon against node:crypto', () => {
  const l3 = randomBytes(32);
  let scope: ScopeRef;

  beforeAll(() => {
    scopes.bind('diff-tenant', 'diff.service', 7, 'ACTIVE', importKey(l3));
    scope = scopeRef('diff-tenant', 'diff.service')!;
  });
  afterAll(() => {
    scopes.evict('diff-tenant', 'diff.service');
  });

  it('blobs created by the addon open with node:crypto, with and without a context', () => {
    for (let i = 0; i < 100; i++) {
      const context = i % 2 === 0 ? undefined : randomBytes(i % 40);
      const k = createKey(scope, context);
      expect(k.version).toBe(7);
      expect(openBlobNode(l3, k.blob, context).equals(k.plaintext)).toBe(true);
    }
  });

  it('blobs created with node:crypto open in the addon', () => {
    const header = blobHeader('diff-tenant', 'diff.service', 7);
    for (let i = 0; i < 100; i++) {
      const context = i % 3 === 0 ? randomBytes(16) : undefined;
      const rec = createBlobNode(l3, header, context);
      expect(openBlob('diff-tenant', rec.subarray(32), context).equals(rec.subarray(0, 32))).toBe(true);
    }
  });
});
