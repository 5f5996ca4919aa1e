/**
 * XAES-256-GCM written with node:crypto only: the rival in the benchmark
 * ("what a team would write") and the independent reference in the
 * differential tests. Straight from the C2SP specification.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

function aes256Ecb(key: Uint8Array, block: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

/** L of the XAES key derivation: AES-256(K, 0^128). */
export function deriveL(key: Uint8Array): Buffer {
  return aes256Ecb(key, Buffer.alloc(16));
}

/** K1 of the XAES key derivation: K1 = L << 1 (xor 0x87 on carry). */
export function deriveK1(key: Uint8Array): Buffer {
  const l = deriveL(key);
  const k1 = Buffer.alloc(16);
  for (let i = 0; i < 15; i++) k1[i] = ((l[i]! << 1) | (l[i + 1]! >> 7)) & 0xff;
  k1[15] = ((l[15]! << 1) & 0xff) ^ (l[0]! & 0x80 ? 0x87 : 0);
  return k1;
}

export function xaesSubkey(key: Uint8Array, nonce: Uint8Array): Buffer {
  const k1 = deriveK1(key);
  const m = Buffer.alloc(32);
  m.set([0, 1, 0x58, 0], 0);
  m.set(nonce.subarray(0, 12), 4);
  m.set([0, 2, 0x58, 0], 16);
  m.set(nonce.subarray(0, 12), 20);
  for (let i = 0; i < 16; i++) {
    m[i]! ^= k1[i]!;
    m[16 + i]! ^= k1[i]!;
  }
  return aes256Ecb(key, m);
}

/** Returns ciphertext || tag. */
export function xaesSealNode(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  const c = createCipheriv('aes-256-gcm', xaesSubkey(key, nonce), nonce.subarray(12, 24));
  if (aad !== undefined && aad.length > 0) c.setAAD(aad);
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

export function xaesOpenNode(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Buffer {
  const n = sealed.length - 16;
  const d = createDecipheriv('aes-256-gcm', xaesSubkey(key, nonce), nonce.subarray(12, 24));
  if (aad !== undefined && aad.length > 0) d.setAAD(aad);
  d.setAuthTag(sealed.subarray(n));
  return Buffer.concat([d.update(sealed.subarray(0, n)), d.final()]);
}

/**
 * The same L4 blob create a node:crypto service would do: a fresh L4, a
 * random 24-byte nonce, XAES over it with the blob header (and context) as
 * AAD. Returns [L4 || blob] in the blob format of docs/design.md section 3.
 */
export function createBlobNode(l3: Uint8Array, header: Buffer, context?: Uint8Array): Buffer {
  const l4 = randomBytes(32);
  const nonce = randomBytes(24);
  const aad = context === undefined ? header : Buffer.concat([header, context]);
  const sealed = xaesSealNode(l3, nonce, l4, aad);
  return Buffer.concat([l4, header, nonce, sealed]);
}

export function blobHeader(tenant: string, service: string, version: number): Buffer {
  const h = Buffer.alloc(10 + tenant.length + service.length);
  h.set([0x4b, 0x34, 0x01, 0x01, tenant.length], 0);
  h.write(tenant, 5, 'latin1');
  h[5 + tenant.length] = service.length;
  h.write(service, 6 + tenant.length, 'latin1');
  h.writeUInt32BE(version, 6 + tenant.length + service.length);
  return h;
}

export function openBlobNode(l3: Uint8Array, blob: Buffer, context?: Uint8Array): Buffer {
  const t = blob[4]!;
  const s = blob[5 + t]!;
  const h = 10 + t + s;
  const header = blob.subarray(0, h);
  const aad = context === undefined ? header : Buffer.concat([header, context]);
  return xaesOpenNode(l3, blob.subarray(h, h + 24), blob.subarray(h + 24), aad);
}
