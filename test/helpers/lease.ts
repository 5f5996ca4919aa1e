import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { expect } from 'vitest';
import { createKey, kat, scopeRef } from '../../src/native/index.js';

/** An independent HPKE implementation, in the role of the Core. */
export const hpkeSuite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
export const LEASE_HPKE_INFO = Buffer.from('krypton lease v1');

/**
 * The lease message of native/lease_message.h, built independently: magic
 * "KL", format 1, T, tenant, S, service, version (4), state (1), expiry ms
 * (8), key (32).
 */
export function leaseMessage(
  tenant: string,
  service: string,
  version: number,
  state: number,
  expiresAt: number | bigint,
  key: Buffer,
): Buffer {
  const t = Buffer.from(tenant, 'latin1');
  const s = Buffer.from(service, 'latin1');
  const tail = Buffer.alloc(13);
  tail.writeUInt32BE(version, 0);
  tail[4] = state;
  tail.writeBigUInt64BE(BigInt(expiresAt), 5);
  return Buffer.concat([Buffer.from([0x4b, 0x4c, 0x01, t.length]), t, Buffer.from([s.length]), s, tail, key]);
}

/** Seals a lease message to a recipient public key with @hpke/core. */
export async function coreSeal(recipientPublicKey: Uint8Array, message: Buffer): Promise<{ enc: Buffer; sealed: Buffer }> {
  const pk = await hpkeSuite.kem.deserializePublicKey(recipientPublicKey);
  const { ct, enc } = await hpkeSuite.seal({ recipientPublicKey: pk, info: LEASE_HPKE_INFO }, message);
  return { enc: Buffer.from(enc), sealed: Buffer.from(ct) };
}

/** Proves the scope's ACTIVE key is `known`: a blob it creates opens under `known`. */
export function expectScopeKeyIs(tenant: string, service: string, known: Buffer): void {
  const scope = scopeRef(tenant, service);
  expect(scope).not.toBeNull();
  const { plaintext, blob } = createKey(scope!);
  const h = 10 + tenant.length + service.length;
  const opened = kat.xaesOpen(known, blob.subarray(h, h + 24), blob.subarray(h + 24, h + 72), blob.subarray(0, h));
  expect(opened.equals(plaintext)).toBe(true);
}
