import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  destroyKey,
  HpkeRecipient,
  importKey,
  LEASE_FIXED_BYTES,
  openLease,
  scopeRef,
  sealLease,
  storeStats,
} from '../../src/native/index.js';
import {
  coreSeal as sealTo,
  expectScopeKeyIs,
  hpkeSuite as suite,
  LEASE_HPKE_INFO as info,
  leaseMessage,
} from '../helpers/lease.js';

const recipient = HpkeRecipient.generate();
const coreSeal = (message: Buffer) => sealTo(recipient.publicKey, message);
afterAll(() => recipient.destroy());

const code = (c: string): unknown => expect.objectContaining({ code: c });

describe('lease message round trip (sealLease -> openLease)', () => {
  const cases = [
    { tenant: 't', service: 's', version: 1, state: 'ACTIVE', expiresAt: 0 },
    {
      tenant: 'T'.repeat(64),
      service: 'S'.repeat(64),
      version: 0xffffffff,
      state: 'DECRYPT_ONLY',
      expiresAt: Number.MAX_SAFE_INTEGER,
    },
    { tenant: 'acme.eu-1_~', service: 'pay-ments', version: 42, state: 'ACTIVE', expiresAt: 1_750_000_000_000 },
  ] as const;

  for (const c of cases) {
    it(`ids of ${c.tenant.length}/${c.service.length} bytes, version ${c.version}, ${c.state}, expiry ${c.expiresAt} survive exactly`, () => {
      const known = randomBytes(32);
      const handle = importKey(known);
      const lease = sealLease({ recipientPublicKey: recipient.publicKey, key: handle, ...c });
      expect(lease.sealed.length).toBe(LEASE_FIXED_BYTES + c.tenant.length + c.service.length + 16);
      const r = openLease(recipient, { tenant: c.tenant, service: c.service, ...lease });
      expect(r).toEqual({
        scopeId: scopeRef(c.tenant, c.service)!.id,
        version: c.version,
        state: c.state,
        expiresAt: c.expiresAt,
      });
      if (c.state === 'ACTIVE') expectScopeKeyIs(c.tenant, c.service, known);
      destroyKey(handle);
    });
  }

  it('a well-formed message sealed by @hpke/core opens (the control for the malformed cases below)', async () => {
    const lease = await coreSeal(leaseMessage('good', 'svc', 1, 1, 5n, randomBytes(32)));
    expect(openLease(recipient, { tenant: 'good', service: 'svc', ...lease })).toMatchObject({
      version: 1,
      state: 'ACTIVE',
      expiresAt: 5,
    });
  });
});

describe('malformed lease messages sealed by @hpke/core are INVALID_LEASE and bind nothing', () => {
  const tenant = 'mal';
  const service = 'form';
  const good = (): Buffer => leaseMessage(tenant, service, 1, 1, 5n, randomBytes(32));
  const at = { t: 3, s: 4 + tenant.length, version: 5 + tenant.length + service.length };
  const with_ = (i: number, v: number): Buffer => {
    const m = good();
    m[i] = v;
    return m;
  };

  const malformed: [string, () => Buffer][] = [
    ['wrong magic (first byte)', () => with_(0, 0x4a)],
    ['wrong magic (second byte: a blob\'s "K4")', () => with_(1, 0x34)],
    ['format version 2', () => with_(2, 0x02)],
    ['format version 0', () => with_(2, 0x00)],
    ['truncated by one byte', () => good().subarray(0, -1)],
    ['truncated to the header', () => good().subarray(0, 10)],
    ['empty', () => Buffer.alloc(0)],
    ['a trailing byte', () => Buffer.concat([good(), Buffer.from([0])])],
    ['tenant length 0', () => with_(at.t, 0)],
    ['tenant length 65', () => with_(at.t, 65)],
    ['tenant length one more than the bytes present', () => with_(at.t, tenant.length + 1)],
    ['service length 0', () => with_(at.s, 0)],
    ['service length 65', () => with_(at.s, 65)],
    ['service length one less (the message then has a trailing byte)', () => with_(at.s, service.length - 1)],
    ['version 0', () => leaseMessage(tenant, service, 0, 1, 5n, randomBytes(32))],
    ['state 0', () => leaseMessage(tenant, service, 1, 0, 5n, randomBytes(32))],
    ['state 3 (REVOKED is never leased)', () => leaseMessage(tenant, service, 1, 3, 5n, randomBytes(32))],
    ['state 255', () => leaseMessage(tenant, service, 1, 255, 5n, randomBytes(32))],
    ['a tenant byte outside [A-Za-z0-9._~-]', () => with_(4, 0x2f)],
    ['a NUL byte in the service', () => with_(at.s + 1, 0x00)],
    ['a key of 31 bytes', () => leaseMessage(tenant, service, 1, 1, 5n, randomBytes(31))],
    ['a key of 33 bytes', () => leaseMessage(tenant, service, 1, 1, 5n, randomBytes(33))],
    // JS time is a number: an expiry it cannot hold exactly is refused.
    ['an expiry above 2^53 - 1 ms', () => leaseMessage(tenant, service, 1, 1, 2n ** 53n, randomBytes(32))],
    ['an expiry of 2^64 - 1 ms', () => leaseMessage(tenant, service, 1, 1, 2n ** 64n - 1n, randomBytes(32))],
  ];

  for (const [what, make] of malformed) {
    it(what, async () => {
      const keys = storeStats().keys;
      const lease = await coreSeal(make());
      expect(() => openLease(recipient, { tenant, service, ...lease })).toThrow(code('INVALID_LEASE'));
      expect(scopeRef(tenant, service)).toBeNull();
      expect(storeStats().keys).toBe(keys);
    });
  }

  // The cases above of the wrong length stop at the size check. Asked for a
  // scope whose size matches, the same bytes reach the parser itself.
  for (const [what, make, asked] of [
    ['truncated by one byte, sized for the scope asked for', () => good().subarray(0, -1), 'for'],
    ['a trailing byte, sized for the scope asked for', () => Buffer.concat([good(), Buffer.from([0])]), 'forms'],
  ] as const) {
    it(what, async () => {
      const keys = storeStats().keys;
      const lease = await coreSeal(make());
      expect(lease.sealed.length).toBe(LEASE_FIXED_BYTES + tenant.length + asked.length + 16);
      expect(() => openLease(recipient, { tenant, service: asked, ...lease })).toThrow(code('INVALID_LEASE'));
      expect(scopeRef(tenant, asked)).toBeNull();
      expect(storeStats().keys).toBe(keys);
    });
  }

  it('the same message sealed with a different info string or a non-empty AAD does not open', async () => {
    const pk = await suite.kem.deserializePublicKey(recipient.publicKey);
    const a = await suite.seal({ recipientPublicKey: pk, info: Buffer.from('krypton lease v2') }, good());
    const b = await suite.seal({ recipientPublicKey: pk, info }, good(), Buffer.from('aad'));
    for (const s of [a, b]) {
      expect(() =>
        openLease(recipient, { tenant, service, enc: Buffer.from(s.enc), sealed: Buffer.from(s.ct) }),
      ).toThrow(code('INVALID_LEASE'));
    }
    expect(scopeRef(tenant, service)).toBeNull();
  });
});
