import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  destroyKey,
  HpkeAead,
  HpkeRecipient,
  hpkeKat,
  importKey,
  LEASE_INFO,
  openLease,
  scopeRef,
  scopes,
  sealLease,
  secureHeapUsed,
  storeStats,
} from '../../src/native/index.js';
import {
  coreSeal,
  expectScopeKeyIs,
  hpkeSuite as suite,
  LEASE_HPKE_INFO as info,
  leaseMessage,
} from '../helpers/lease.js';
import { hex, loadVectors } from '../helpers/vectors.js';

interface A1Vectors {
  setup: { info: string; skEm: string; pkEm: string; skRm: string; pkRm: string; enc: string };
  encryptions: { 'sequence number': string; pt: string; aad: string; ct: string }[];
}

const a1 = loadVectors<A1Vectors>('hpke-rfc9180-a1-base.json');

const code = (c: string): unknown => expect.objectContaining({ code: c });

describe('HPKE RFC 9180 A.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode)', () => {
  const s = a1.setup;

  for (const e of a1.encryptions) {
    const seq = Number(e['sequence number']);
    it(`sequence number ${seq}: seal with skEm to pkRm gives enc = pkEm and the listed ciphertext`, () => {
      const out = hpkeKat.seal({
        aead: HpkeAead.AES_128_GCM,
        skE: hex(s.skEm),
        pkR: hex(s.pkRm),
        info: hex(s.info),
        aad: hex(e.aad),
        seq,
        plaintext: hex(e.pt),
      });
      expect(out.enc.toString('hex')).toBe(s.pkEm);
      expect(out.enc.toString('hex')).toBe(s.enc);
      expect(out.ciphertext.toString('hex')).toBe(e.ct);
    });

    it(`sequence number ${seq}: open with skRm recovers the plaintext; another sequence number does not open`, () => {
      const p = { aead: HpkeAead.AES_128_GCM, skR: hex(s.skRm), enc: hex(s.enc), info: hex(s.info), aad: hex(e.aad) };
      expect(hpkeKat.open({ ...p, seq, ciphertext: hex(e.ct) }).toString('hex')).toBe(e.pt);
      expect(() => hpkeKat.open({ ...p, seq: seq + 1, ciphertext: hex(e.ct) })).toThrow(code('INVALID_LEASE'));
    });
  }

  it("a generated recipient private key is allocated in OpenSSL's secure heap and freed from it on destroy", () => {
    HpkeRecipient.generate().destroy(); // first use seeds OpenSSL's DRBG, itself in the secure heap
    const before = secureHeapUsed();
    const recipient = HpkeRecipient.generate();
    expect(secureHeapUsed()).toBeGreaterThan(before);
    recipient.destroy();
    expect(secureHeapUsed()).toBe(before);
  });

  it('a recipient imported from skRm has public key pkRm', () => {
    const r = HpkeRecipient.import(hex(s.skRm));
    expect(r.publicKey.toString('hex')).toBe(s.pkRm);
    r.destroy();
  });

  it('AES-256-GCM seal interoperates with @hpke/core open (aead_id 2)', async () => {
    const kp = await suite.kem.generateKeyPair();
    const pkR = Buffer.from(await suite.kem.serializePublicKey(kp.publicKey));
    const out = hpkeKat.seal({
      aead: HpkeAead.AES_256_GCM,
      skE: randomBytes(32),
      pkR,
      info,
      aad: Buffer.from('aad'),
      plaintext: Buffer.from('hello'),
    });
    const pt = await suite.open({ recipientKey: kp, enc: out.enc, info }, out.ciphertext, Buffer.from('aad'));
    expect(Buffer.from(pt).toString()).toBe('hello');
  });

  it('seal to an all-zero (low-order) recipient key is refused: the DH output would be zero', () => {
    const p = {
      aead: HpkeAead.AES_256_GCM,
      skE: randomBytes(32),
      pkR: Buffer.alloc(32),
      plaintext: Buffer.from('x'),
    } as const;
    expect(() => hpkeKat.seal(p)).toThrow(code('BAD_REQUEST'));
  });
});

describe('leases, interoperating with @hpke/core (AES-256-GCM, info "krypton lease v1")', () => {
  it('uses the info string of the contract', () => {
    expect(LEASE_INFO).toBe('krypton lease v1');
  });

  it('a lease sealed by @hpke/core opens into the store, and the bound key is the known key', async () => {
    const recipient = HpkeRecipient.generate();
    const known = randomBytes(32);
    const expiresAt = Date.now() + 300_000;
    const { enc, sealed } = await coreSeal(
      recipient.publicKey,
      leaseMessage('acme', 'billing', 7, 1, expiresAt, known),
    );
    const r = openLease(recipient, { tenant: 'acme', service: 'billing', enc, sealed });
    expect(r).toEqual({ scopeId: scopeRef('acme', 'billing')!.id, version: 7, state: 'ACTIVE', expiresAt });
    expect(scopes.list('acme', 'billing')).toEqual([expect.objectContaining({ version: 7, state: 'ACTIVE' })]);
    expectScopeKeyIs('acme', 'billing', known);
    recipient.destroy();
  });

  it('sealLease from a known stored key opens in @hpke/core to the exact lease message', async () => {
    const known = randomBytes(32);
    const handle = importKey(known);
    const kp = await suite.kem.generateKeyPair();
    const pkR = Buffer.from(await suite.kem.serializePublicKey(kp.publicKey));
    const expiresAt = 1_900_000_000_123;
    const { enc, sealed } = sealLease({
      recipientPublicKey: pkR,
      key: handle,
      tenant: 'acme',
      service: 'orders',
      version: 3,
      state: 'DECRYPT_ONLY',
      expiresAt,
    });
    expect(enc.length).toBe(32);
    expect(sealed.length).toBe(50 + 4 + 6 + 16);
    const pt = Buffer.from(await suite.open({ recipientKey: kp, enc, info }, sealed));
    expect(pt.equals(leaseMessage('acme', 'orders', 3, 2, expiresAt, known))).toBe(true);
    // Field by field, as a Gateway would read it.
    expect(pt.subarray(0, 3).toString('hex')).toBe('4b4c01');
    expect(pt.subarray(4, 8).toString()).toBe('acme');
    expect(pt.subarray(9, 15).toString()).toBe('orders');
    expect(pt.readUInt32BE(15)).toBe(3);
    expect(pt[19]).toBe(2);
    expect(Number(pt.readBigUInt64BE(20))).toBe(expiresAt);
    expect(pt.subarray(28).equals(known)).toBe(true);
    destroyKey(handle);
  });

  it('every lease uses a fresh ephemeral key: two seals of one key differ', () => {
    const recipient = HpkeRecipient.generate();
    const handle = importKey(randomBytes(32));
    const p = {
      recipientPublicKey: recipient.publicKey,
      key: handle,
      tenant: 'acme',
      service: 'x',
      version: 1,
      state: 'ACTIVE',
      expiresAt: 1,
    } as const;
    const a = sealLease(p);
    const b = sealLease(p);
    expect(a.enc.equals(b.enc)).toBe(false);
    expect(a.sealed.equals(b.sealed)).toBe(false);
    destroyKey(handle);
    recipient.destroy();
  });

  it('a lease for another tenant or service is INVALID_LEASE and binds nothing', () => {
    const recipient = HpkeRecipient.generate();
    const handle = importKey(randomBytes(32));
    const lease = sealLease({
      recipientPublicKey: recipient.publicKey,
      key: handle,
      tenant: 'tena',
      service: 'svc1',
      version: 1,
      state: 'ACTIVE',
      expiresAt: 1,
    });
    const keys = storeStats().keys;
    for (const [tenant, service] of [
      ['tenb', 'svc1'], // same lengths: opens, parses, then the names differ
      ['tena', 'svc2'],
      ['tenantb', 'svc1'], // other lengths: the size alone refuses it
      ['tena', 's'],
    ] as const) {
      expect(() => openLease(recipient, { tenant, service, ...lease })).toThrow(code('INVALID_LEASE'));
      expect(scopes.lookup(tenant, service)).toBe(0);
    }
    expect(storeStats().keys).toBe(keys);
    expect(openLease(recipient, { tenant: 'tena', service: 'svc1', ...lease }).version).toBe(1);
    destroyKey(handle);
    recipient.destroy();
  });

  it('a flipped bit anywhere in enc or sealed, or a wrong length, is INVALID_LEASE and leaves no key behind', () => {
    const recipient = HpkeRecipient.generate();
    const handle = importKey(randomBytes(32));
    const { enc, sealed } = sealLease({
      recipientPublicKey: recipient.publicKey,
      key: handle,
      tenant: 'tamper',
      service: 'svc',
      version: 1,
      state: 'ACTIVE',
      expiresAt: 1,
    });
    const keys = storeStats().keys;
    const open = (e: Buffer, s: Buffer) => () =>
      openLease(recipient, { tenant: 'tamper', service: 'svc', enc: e, sealed: s });
    for (let bit = 0; bit < enc.length * 8; bit++) {
      const bad = Buffer.from(enc);
      bad[bit >> 3] ^= 1 << (bit & 7);
      expect(open(bad, sealed)).toThrow(code('INVALID_LEASE'));
    }
    for (let bit = 0; bit < sealed.length * 8; bit++) {
      const bad = Buffer.from(sealed);
      bad[bit >> 3] ^= 1 << (bit & 7);
      expect(open(enc, bad)).toThrow(code('INVALID_LEASE'));
    }
    expect(open(enc.subarray(0, 31), sealed)).toThrow(code('INVALID_LEASE'));
    expect(open(Buffer.concat([enc, Buffer.alloc(1)]), sealed)).toThrow(code('INVALID_LEASE'));
    expect(open(enc, sealed.subarray(0, sealed.length - 1))).toThrow(code('INVALID_LEASE'));
    expect(open(enc, Buffer.concat([sealed, Buffer.alloc(1)]))).toThrow(code('INVALID_LEASE'));
    expect(open(Buffer.alloc(32), sealed)).toThrow(code('INVALID_LEASE')); // low-order enc: zero DH output
    expect(storeStats().keys).toBe(keys);
    expect(scopes.lookup('tamper', 'svc')).toBe(0);
    destroyKey(handle);
    recipient.destroy();
  });

  it('only the recipient it was sealed to can open a lease', () => {
    const a = HpkeRecipient.generate();
    const b = HpkeRecipient.generate();
    const handle = importKey(randomBytes(32));
    const lease = sealLease({
      recipientPublicKey: a.publicKey,
      key: handle,
      tenant: 'acme',
      service: 'other',
      version: 1,
      state: 'ACTIVE',
      expiresAt: 1,
    });
    expect(() => openLease(b, { tenant: 'acme', service: 'other', ...lease })).toThrow(code('INVALID_LEASE'));
    destroyKey(handle);
    a.destroy();
    b.destroy();
  });

  it('a destroyed recipient cannot open a lease (KEY_UNAVAILABLE), and destroy is idempotent', () => {
    const recipient = HpkeRecipient.generate();
    const handle = importKey(randomBytes(32));
    const lease = sealLease({
      recipientPublicKey: recipient.publicKey,
      key: handle,
      tenant: 'acme',
      service: 'gone',
      version: 1,
      state: 'ACTIVE',
      expiresAt: 1,
    });
    recipient.destroy();
    recipient.destroy();
    expect(recipient.destroyed).toBe(true);
    expect(() => openLease(recipient, { tenant: 'acme', service: 'gone', ...lease })).toThrow(code('KEY_UNAVAILABLE'));
    expect(scopes.lookup('acme', 'gone')).toBe(0);
    destroyKey(handle);
  });

  it('a lease for a version already revoked cannot rebind it (KEY_REVOKED) and its key is destroyed', () => {
    const recipient = HpkeRecipient.generate();
    const handle = importKey(randomBytes(32));
    const lease = sealLease({
      recipientPublicKey: recipient.publicKey,
      key: handle,
      tenant: 'acme',
      service: 'rev',
      version: 4,
      state: 'ACTIVE',
      expiresAt: 1,
    });
    expect(openLease(recipient, { tenant: 'acme', service: 'rev', ...lease }).version).toBe(4);
    scopes.setState('acme', 'rev', 4, 'REVOKED');
    const keys = storeStats().keys;
    expect(() => openLease(recipient, { tenant: 'acme', service: 'rev', ...lease })).toThrow(code('KEY_REVOKED'));
    expect(storeStats().keys).toBe(keys);
    expect(scopes.list('acme', 'rev')).toEqual([{ version: 4, state: 'REVOKED', handle: 0 }]);
    destroyKey(handle);
    recipient.destroy();
  });

  it('a revocation that arrives before the lease also keeps the version out (KEY_REVOKED)', () => {
    const recipient = HpkeRecipient.generate();
    const handle = importKey(randomBytes(32));
    const v1 = sealLease({
      recipientPublicKey: recipient.publicKey,
      key: handle,
      tenant: 'acme',
      service: 'early',
      version: 1,
      state: 'ACTIVE',
      expiresAt: 1,
    });
    const v2 = sealLease({
      recipientPublicKey: recipient.publicKey,
      key: handle,
      tenant: 'acme',
      service: 'early',
      version: 2,
      state: 'ACTIVE',
      expiresAt: 1,
    });
    openLease(recipient, { tenant: 'acme', service: 'early', ...v1 });
    scopes.setState('acme', 'early', 2, 'REVOKED');
    expect(() => openLease(recipient, { tenant: 'acme', service: 'early', ...v2 })).toThrow(code('KEY_REVOKED'));
    destroyKey(handle);
    recipient.destroy();
  });

  it('a newer ACTIVE lease demotes the previous ACTIVE version to DECRYPT_ONLY', () => {
    const recipient = HpkeRecipient.generate();
    const handle = importKey(randomBytes(32));
    for (const version of [1, 2]) {
      const lease = sealLease({
        recipientPublicKey: recipient.publicKey,
        key: handle,
        tenant: 'acme',
        service: 'rot',
        version,
        state: 'ACTIVE',
        expiresAt: 1,
      });
      openLease(recipient, { tenant: 'acme', service: 'rot', ...lease });
    }
    expect(scopes.list('acme', 'rot').map((v) => [v.version, v.state])).toEqual([
      [1, 'DECRYPT_ONLY'],
      [2, 'ACTIVE'],
    ]);
    destroyKey(handle);
    recipient.destroy();
  });

  it('sealLease validates its arguments (BAD_REQUEST) and needs a stored 32-byte key', () => {
    const recipient = HpkeRecipient.generate();
    const handle = importKey(randomBytes(32));
    const short = importKey(randomBytes(16));
    const base = {
      recipientPublicKey: recipient.publicKey,
      key: handle,
      tenant: 'acme',
      service: 'v',
      version: 1,
      state: 'ACTIVE',
      expiresAt: 1,
    } as const;
    expect(() => sealLease({ ...base, recipientPublicKey: Buffer.alloc(31) })).toThrow(code('BAD_REQUEST'));
    expect(() => sealLease({ ...base, recipientPublicKey: Buffer.alloc(32) })).toThrow(code('BAD_REQUEST'));
    expect(() => sealLease({ ...base, version: 0 })).toThrow(code('BAD_REQUEST'));
    expect(() => sealLease({ ...base, state: 'REVOKED' as 'ACTIVE' })).toThrow(code('BAD_REQUEST'));
    expect(() => sealLease({ ...base, expiresAt: -1 })).toThrow(code('BAD_REQUEST'));
    expect(() => sealLease({ ...base, expiresAt: 2 ** 53 })).toThrow(code('BAD_REQUEST'));
    expect(() => sealLease({ ...base, tenant: 'a/b' })).toThrow(code('BAD_REQUEST'));
    expect(() => sealLease({ ...base, key: short })).toThrow(code('BAD_REQUEST'));
    destroyKey(handle);
    expect(() => sealLease({ ...base, key: handle })).toThrow(code('KEY_UNAVAILABLE'));
    destroyKey(short);
    recipient.destroy();
  });
});
