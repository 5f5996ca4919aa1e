/**
 * The lease contract (src/protocol/lease.ts): the signed bytes against an
 * encoding written here from the documented layout, the one validator of a
 * reply, and verification (nonce, issue time, signature) on its own.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { SigningKey } from '../../src/native/index.js';
import {
  checkLeaseReply,
  checkLeaseRequest,
  leaseSignedBytes,
  newLeaseRequest,
  signLeaseReply,
  verifyLeaseReply,
  type LeaseRequest,
  type UnsignedLeaseReply,
} from '../../src/protocol/lease.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
const T = 'acme';
const S = 'billing';
const SEALED = 50 + T.length + S.length + 16;

const core = SigningKey.fromSeed(randomBytes(32));
const other = SigningKey.fromSeed(randomBytes(32));
afterAll(() => {
  core.destroy();
  other.destroy();
});

function unsigned(req: LeaseRequest, over: Partial<UnsignedLeaseReply> = {}): UnsignedLeaseReply {
  return {
    nonce: Buffer.from(req.nonce),
    issuedAt: Date.now(),
    ttlSeconds: 300,
    epoch: 41,
    oldestIncluded: 3,
    versions: [
      { version: 3, state: 'DECRYPT_ONLY', enc: randomBytes(32), sealed: randomBytes(SEALED) },
      { version: 4, state: 'ACTIVE', enc: randomBytes(32), sealed: randomBytes(SEALED) },
    ],
    ...over,
  };
}

/** The documented layout, written out independently of the implementation. */
function expectedBytes(req: LeaseRequest, r: UnsignedLeaseReply): Buffer {
  const u8 = (n: number) => Buffer.from([n]);
  const u16 = (n: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n);
    return b;
  };
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const u64 = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  const named = req.versions ?? [];
  return Buffer.concat([
    Buffer.from('krypton lease reply v1\0', 'latin1'),
    u8(req.tenant.length),
    Buffer.from(req.tenant),
    u8(req.service.length),
    Buffer.from(req.service),
    Buffer.from(req.recipientKey),
    Buffer.from(req.nonce),
    u8(named.length),
    ...named.map(u32),
    u64(r.issuedAt),
    u64(r.epoch),
    u32(r.ttlSeconds),
    u32(r.oldestIncluded),
    u16(r.versions.length),
    ...r.versions.flatMap((v) => [
      u32(v.version),
      u8(v.state === 'ACTIVE' ? 1 : 2),
      v.enc,
      u16(v.sealed.length),
      v.sealed,
    ]),
  ]);
}

describe('the lease contract', () => {
  const trust = { corePublicKey: core.publicKey, maxSkewMs: 60_000 };

  it('a request carries a fresh 16-byte nonce each time', () => {
    const a = newLeaseRequest(T, S, randomBytes(32));
    const b = newLeaseRequest(T, S, a.recipientKey);
    expect(a.nonce.length).toBe(16);
    expect(Buffer.from(a.nonce).equals(Buffer.from(b.nonce))).toBe(false);
    expect(a.versions).toBeUndefined();
  });

  it('the signed bytes are exactly the documented layout, for a full lease and for named versions', () => {
    const req = newLeaseRequest(T, S, randomBytes(32));
    const r = unsigned(req);
    expect(leaseSignedBytes(req, r).equals(expectedBytes(req, r))).toBe(true);
    const named = newLeaseRequest(T, S, req.recipientKey, [2]);
    const rn = unsigned(named, {
      oldestIncluded: 0,
      versions: [{ version: 2, state: 'DECRYPT_ONLY', enc: randomBytes(32), sealed: randomBytes(SEALED) }],
    });
    expect(leaseSignedBytes(named, rn).equals(expectedBytes(named, rn))).toBe(true);
  });

  it('a reply the Core signed verifies against the request it answers', () => {
    const req = newLeaseRequest(T, S, randomBytes(32));
    const reply = signLeaseReply(core, req, unsigned(req));
    expect(verifyLeaseReply(reply, req, trust, Date.now()).versions.map((v) => v.version)).toEqual([3, 4]);
  });

  it('changing any signed field of the reply, or of the request it is checked against, fails verification (INVALID_LEASE)', () => {
    const req = newLeaseRequest(T, S, randomBytes(32));
    const reply = signLeaseReply(core, req, unsigned(req));
    const flip = (b: Buffer, i = 0) => {
      const c = Buffer.from(b);
      c[i] ^= 1;
      return c;
    };
    const v0 = reply.versions[0];
    const altered: unknown[] = [
      { ...reply, issuedAt: reply.issuedAt + 1 },
      { ...reply, epoch: reply.epoch + 1 },
      { ...reply, ttlSeconds: 299 },
      { ...reply, oldestIncluded: 2 },
      { ...reply, versions: [{ ...v0, enc: flip(v0.enc) }, reply.versions[1]] },
      { ...reply, versions: [{ ...v0, sealed: flip(v0.sealed, SEALED - 1) }, reply.versions[1]] },
      { ...reply, versions: [{ ...v0, version: 2 }, reply.versions[1]] },
      { ...reply, versions: [reply.versions[1]] },
      { ...reply, signature: flip(reply.signature, 63) },
    ];
    for (const a of altered) expect(() => verifyLeaseReply(a, req, trust, Date.now())).toThrow(code('INVALID_LEASE'));
    for (const r of [
      { ...req, tenant: 'acmf' },
      { ...req, recipientKey: flip(Buffer.from(req.recipientKey)) },
      { ...req, versions: [4] },
    ]) {
      expect(() => verifyLeaseReply(reply, r, trust, Date.now())).toThrow(code('INVALID_LEASE'));
    }
  });

  it('refuses a reply signed by another key, one to another nonce, and one issued outside the allowed skew', () => {
    const req = newLeaseRequest(T, S, randomBytes(32));
    expect(() => verifyLeaseReply(signLeaseReply(other, req, unsigned(req)), req, trust, Date.now())).toThrow(
      /signature/,
    );
    const another = { ...req, nonce: randomBytes(16) };
    expect(() => verifyLeaseReply(signLeaseReply(core, another, unsigned(another)), req, trust, Date.now())).toThrow(
      /nonce/,
    );
    const old = signLeaseReply(core, req, unsigned(req, { issuedAt: Date.now() - 61_000 }));
    expect(() => verifyLeaseReply(old, req, trust, Date.now())).toThrow(/ms from this clock/);
    const ahead = signLeaseReply(core, req, unsigned(req, { issuedAt: Date.now() + 61_000 }));
    expect(() => verifyLeaseReply(ahead, req, trust, Date.now())).toThrow(code('INVALID_LEASE'));
  });

  it('the validator checks shape and exact lengths: enc, sealed, nonce, signature, states, order and the versions asked for', () => {
    const req = newLeaseRequest(T, S, randomBytes(32));
    const good = { ...unsigned(req), signature: randomBytes(64) };
    expect(() => checkLeaseReply(good, req)).not.toThrow();
    const v = good.versions;
    const bad: unknown[] = [
      null,
      [],
      { ...good, nonce: randomBytes(15) },
      { ...good, signature: randomBytes(65) },
      { ...good, ttlSeconds: 0 },
      { ...good, ttlSeconds: 3601 },
      { ...good, epoch: -1 },
      { ...good, issuedAt: 1.5 },
      { ...good, oldestIncluded: 0 },
      { ...good, oldestIncluded: 4 },
      { ...good, versions: [] },
      { ...good, versions: [{ ...v[0], enc: randomBytes(31) }, v[1]] },
      { ...good, versions: [{ ...v[0], sealed: randomBytes(SEALED + 1) }, v[1]] },
      { ...good, versions: [v[1], v[0]] },
      { ...good, versions: [{ ...v[0], state: 'ACTIVE' }, v[1]] },
      { ...good, versions: [v[0]] },
      { ...good, versions: [{ ...v[0], state: 'REVOKED' }, v[1]] },
      { ...good, versions: [{ ...v[0], enc: 'x'.repeat(32) }, v[1]] },
    ];
    for (const b of bad) expect(() => checkLeaseReply(b, req)).toThrow(code('INVALID_LEASE'));
    // Named versions: exactly those, oldestIncluded 0.
    const named = newLeaseRequest(T, S, req.recipientKey, [2]);
    const one = { version: 2, state: 'DECRYPT_ONLY', enc: randomBytes(32), sealed: randomBytes(SEALED) };
    expect(() => checkLeaseReply({ ...good, oldestIncluded: 0, versions: [one] }, named)).not.toThrow();
    expect(() => checkLeaseReply({ ...good, oldestIncluded: 0, versions: [{ ...one, version: 1 }] }, named)).toThrow(
      code('INVALID_LEASE'),
    );
    expect(() => checkLeaseReply({ ...good, oldestIncluded: 3, versions: [one] }, named)).toThrow(
      code('INVALID_LEASE'),
    );
    expect(() => checkLeaseReply({ ...good, oldestIncluded: 0, versions: [] }, named)).toThrow(code('INVALID_LEASE'));
  });

  it('the Core refuses a request without a 16-byte nonce, a 32-byte recipient key, valid ids or ascending named versions (BAD_REQUEST)', () => {
    const ok = newLeaseRequest(T, S, randomBytes(32));
    expect(checkLeaseRequest(ok)).toEqual(ok);
    const bad: unknown[] = [
      { ...ok, nonce: undefined },
      { ...ok, nonce: randomBytes(8) },
      { ...ok, recipientKey: randomBytes(33) },
      { ...ok, tenant: 'a/b' },
      { ...ok, versions: [] },
      { ...ok, versions: [2, 1] },
      { ...ok, versions: [0] },
      { ...ok, versions: Array.from({ length: 33 }, (_, i) => i + 1) },
    ];
    for (const b of bad) expect(() => checkLeaseRequest(b)).toThrow(code('BAD_REQUEST'));
  });
});
