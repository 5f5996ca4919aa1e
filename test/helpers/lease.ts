import { Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { expect } from 'vitest';
import { createKey, kat, scopeRef, type VersionState } from '../../src/native/index.js';

/** An independent HPKE implementation, in the role of the Core. */
export const hpkeSuite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});
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
export async function coreSeal(
  recipientPublicKey: Uint8Array,
  message: Buffer,
): Promise<{ enc: Buffer; sealed: Buffer }> {
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

/** A lease request as a Gateway sent it (the attacker sees it on the wire). */
export interface SeenRequest {
  tenant: string;
  service: string;
  recipientKey: Uint8Array;
  nonce?: Uint8Array;
  versions?: number[];
}

export interface ReplyFields {
  nonce: Uint8Array;
  issuedAt: number;
  epoch: number;
  ttlSeconds: number;
  oldestIncluded: number;
  versions: { version: number; state: VersionState; enc: Uint8Array; sealed: Uint8Array }[];
}

/**
 * The bytes a Core signs for a lease reply (src/protocol/lease.ts), written
 * out here from the documented layout, so an attacker in a test can sign
 * with a key of its own.
 */
export function leaseReplyBytes(req: SeenRequest, r: ReplyFields): Buffer {
  const int = (n: number | bigint, size: 1 | 2 | 4 | 8) => {
    const b = Buffer.alloc(size);
    if (size === 8) b.writeBigUInt64BE(BigInt(n));
    else b.writeUIntBE(Number(n), 0, size);
    return b;
  };
  const named = req.versions ?? [];
  return Buffer.concat([
    Buffer.from('krypton lease reply v1\0', 'latin1'),
    int(req.tenant.length, 1),
    Buffer.from(req.tenant, 'latin1'),
    int(req.service.length, 1),
    Buffer.from(req.service, 'latin1'),
    Buffer.from(req.recipientKey),
    Buffer.from(r.nonce),
    int(named.length, 1),
    ...named.map((v) => int(v, 4)),
    int(r.issuedAt, 8),
    int(r.epoch, 8),
    int(r.ttlSeconds, 4),
    int(r.oldestIncluded, 4),
    int(r.versions.length, 2),
    ...r.versions.flatMap((v) => [
      int(v.version, 4),
      int(v.state === 'ACTIVE' ? 1 : 2, 1),
      Buffer.from(v.enc),
      int(v.sealed.length, 2),
      Buffer.from(v.sealed),
    ]),
  ]);
}

/**
 * A lease reply made by someone who is not the Core: `key` (an L3 of the
 * attacker's choosing) sealed with HPKE to the Gateway's real recipient key
 * as version `version`, ACTIVE, echoing the request's nonce, and signed with
 * `signer` (another Ed25519 key) or not at all (a signature of zeros).
 */
export async function forgedLease(
  req: SeenRequest,
  key: Buffer,
  opts: { version?: number; signer?: { sign(m: Uint8Array): Buffer } } = {},
): Promise<ReplyFields & { signature: Buffer }> {
  const version = opts.version ?? 1;
  const issuedAt = Date.now();
  const { enc, sealed } = await coreSeal(
    req.recipientKey,
    leaseMessage(req.tenant, req.service, version, 1, issuedAt + 300_000, key),
  );
  const fields: ReplyFields = {
    nonce: req.nonce ?? Buffer.alloc(16),
    issuedAt,
    epoch: 0,
    ttlSeconds: 300,
    oldestIncluded: 1,
    versions: [{ version, state: 'ACTIVE', enc, sealed }],
  };
  return { ...fields, signature: opts.signer?.sign(leaseReplyBytes(req, fields)) ?? Buffer.alloc(64) };
}
