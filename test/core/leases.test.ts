/**
 * Lease issuance at the Core: every reply signed over the request it answers
 * (review M1), and old versions retired from the hot set and leased on
 * demand (review L7). The tenant-state check on every lease (review H3):
 * lease-tenant-check.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Core } from '../../src/core/core.js';
import { HpkeRecipient, scopes, storeStats } from '../../src/native/index.js';
import { newLeaseRequest, verifyLeaseReply, type LeaseRequest } from '../../src/protocol/lease.js';
import { GATEWAY, openTestCore } from './core-fixture.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
const T = 'acme';

describe('lease issuance', () => {
  let t: Awaited<ReturnType<typeof openTestCore>>;
  let core: Core;
  const recipient = HpkeRecipient.generate();
  const lease = (service: string, versions?: number[]) =>
    core.issueLease(GATEWAY, newLeaseRequest(T, service, recipient.publicKey, versions));
  const verify = (reply: unknown, req: LeaseRequest) =>
    verifyLeaseReply(reply, req, { corePublicKey: core.signer.publicKey, maxSkewMs: 1_000 }, t.clock.now());
  const hot = (service: string) => scopes.list(T, service).filter((v) => v.state !== 'REVOKED');

  beforeAll(async () => {
    t = await openTestCore();
    core = t.core;
    await core.init();
    await core.onboardTenant(T);
    for (const s of ['many', 'signed']) await core.defineScope(T, s);
    for (let i = 0; i < 39; i++) await core.rotate(T, 'many');
  });
  afterAll(async () => {
    recipient.destroy();
    await t?.cleanup();
  });

  it('every reply is signed by the Core over the request it answers, and echoes its nonce', async () => {
    const req = newLeaseRequest(T, 'signed', recipient.publicKey);
    const reply = await core.issueLease(GATEWAY, req);
    expect(reply.nonce.equals(Buffer.from(req.nonce))).toBe(true);
    expect(reply.issuedAt).toBe(t.clock.now());
    expect(verify(reply, req).versions.map((v) => [v.version, v.state])).toEqual([[1, 'ACTIVE']]);
    // The same reply is not a reply to another request.
    expect(() => verify(reply, { ...req, nonce: Buffer.alloc(16) })).toThrow(code('INVALID_LEASE'));
  });

  it('a scope with 40 versions leases 33: the ACTIVE one and the newest 32 DECRYPT_ONLY, and says older ones exist (L7)', async () => {
    const req = newLeaseRequest(T, 'many', recipient.publicKey);
    const reply = verify(await core.issueLease(GATEWAY, req), req);
    expect(reply.versions).toHaveLength(33);
    expect(reply.versions.map((v) => v.version)).toEqual(Array.from({ length: 33 }, (_, i) => i + 8));
    expect(reply.versions.at(-1)!.state).toBe('ACTIVE');
    expect(reply.oldestIncluded).toBe(8);
    // The Core keeps only those hot as well: rotation retired the others from its arena.
    expect(hot('many').map((v) => v.version)).toEqual(Array.from({ length: 33 }, (_, i) => i + 8));
    await core.rotate(T, 'many');
    const next = await lease('many');
    expect(next.versions.map((v) => v.version)).toEqual(Array.from({ length: 33 }, (_, i) => i + 9));
    expect(next.oldestIncluded).toBe(9);
    expect(hot('many')).toHaveLength(33);
  });

  it('an older version is leased on demand, alone and signed, without joining the hot set (L7)', async () => {
    const keys = storeStats().keys;
    const req = newLeaseRequest(T, 'many', recipient.publicKey, [1]);
    const reply = verify(await core.issueLease(GATEWAY, req), req);
    expect(reply.versions.map((v) => [v.version, v.state])).toEqual([[1, 'DECRYPT_ONLY']]);
    expect(reply.oldestIncluded).toBe(0);
    expect(hot('many').some((v) => v.version === 1)).toBe(false);
    expect(storeStats().keys).toBe(keys);
  });

  it('on demand, a revoked version is KEY_REVOKED and one that does not exist BAD_REQUEST', async () => {
    await core.revoke(T, 'many', 2);
    await expect(lease('many', [2])).rejects.toThrow(code('KEY_REVOKED'));
    await expect(lease('many', [999])).rejects.toThrow(code('BAD_REQUEST'));
    await expect(lease('nope', [1])).rejects.toThrow(code('UNKNOWN_SERVICE'));
  });

  it('refuses a request without a nonce (BAD_REQUEST), and a maxHotVersions outside 1..1024', async () => {
    await expect(
      core.issueLease(GATEWAY, { tenant: T, service: 'signed', recipientKey: recipient.publicKey }),
    ).rejects.toThrow(code('BAD_REQUEST'));
    await expect(t.reopen({ maxHotVersions: 0 })).rejects.toThrow(code('BAD_REQUEST'));
  });
});
