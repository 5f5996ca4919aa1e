/**
 * A version's state has one home, src/native/keystore.ts: the names and
 * their numbers (native/status.h) in KeyState, and VersionState, the states
 * of a version that holds a key. The lease contract, the lease message and
 * the key store all read it; these fail when one of them drifts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createKey,
  destroyKey,
  generateKey,
  HpkeRecipient,
  importKey,
  isVersionState,
  KeyState,
  leaseSealedSize,
  openLease,
  scopeRef,
  scopes,
  sealLease,
  type VersionState,
} from '../../src/native/index.js';
import { checkLeaseReply, leaseSignedBytes, newLeaseRequest } from '../../src/protocol/lease.js';
import type { UnsignedLeaseReply } from '../../src/protocol/lease.js';
import { coreSeal, leaseMessage } from '../helpers/lease.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
const STATES: VersionState[] = ['ACTIVE', 'DECRYPT_ONLY'];
const NOT_STATES: unknown[] = ['REVOKED', 'active', 'Decrypt_Only', '', 1, 2, null, undefined];

const recipient = HpkeRecipient.generate();
afterAll(() => recipient.destroy());

describe('the states of a version that holds a key', () => {
  it('are ACTIVE and DECRYPT_ONLY, numbered 1 and 2; REVOKED (3) holds none', () => {
    expect(KeyState).toEqual({ ACTIVE: 1, DECRYPT_ONLY: 2, REVOKED: 3 });
    for (const s of STATES) expect(isVersionState(s)).toBe(true);
    for (const s of NOT_STATES) expect(isVersionState(s)).toBe(false);
  });

  it("the numbers are the addon's: a message naming state 2 opens as DECRYPT_ONLY, 1 as ACTIVE", async () => {
    for (const [n, name] of [
      [2, 'DECRYPT_ONLY'],
      [1, 'ACTIVE'],
    ] as const) {
      const lease = await coreSeal(recipient.publicKey, leaseMessage('vs', 'num', 1, n, 5n, randomBytes(32)));
      expect(openLease(recipient, { tenant: 'vs', service: 'num', ...lease }).state).toBe(name);
      scopes.evict('vs', 'num');
    }
  });

  it('the key store binds by those numbers: only an ACTIVE version makes keys', () => {
    scopes.bind('vs', 'bind', 1, 'DECRYPT_ONLY', generateKey());
    expect(() => createKey(scopeRef('vs', 'bind')!)).toThrow(code('KEY_UNAVAILABLE'));
    scopes.bind('vs', 'bind', 2, 'ACTIVE', generateKey());
    expect(createKey(scopeRef('vs', 'bind')!).version).toBe(2);
    scopes.evict('vs', 'bind');
  });

  it('sealLease takes only those states', () => {
    const key = importKey(randomBytes(32));
    const p = { recipientPublicKey: recipient.publicKey, key, tenant: 'vs', service: 'seal', version: 1, expiresAt: 0 };
    for (const state of STATES) {
      const lease = sealLease({ ...p, state });
      expect(openLease(recipient, { tenant: 'vs', service: 'seal', ...lease }).state).toBe(state);
      scopes.evict('vs', 'seal');
    }
    expect(() => sealLease({ ...p, state: 'REVOKED' as VersionState })).toThrow(code('BAD_REQUEST'));
    destroyKey(key);
  });
});

describe('the lease contract carries the state by name, and signs its number', () => {
  const req = newLeaseRequest('vs', 'lease', randomBytes(32), [7]);
  const SEALED = leaseSealedSize('vs', 'lease');
  const reply = (state: unknown): UnsignedLeaseReply & { signature: Buffer } => ({
    nonce: Buffer.from(req.nonce),
    issuedAt: 1,
    ttlSeconds: 60,
    epoch: 1,
    oldestIncluded: 0,
    versions: [{ version: 7, state: state as VersionState, enc: randomBytes(32), sealed: randomBytes(SEALED) }],
    signature: randomBytes(64),
  });

  it('accepts exactly the version states', () => {
    for (const s of STATES) expect(checkLeaseReply(reply(s), req).versions[0].state).toBe(s);
    for (const s of NOT_STATES) expect(() => checkLeaseReply(reply(s), req)).toThrow(code('INVALID_LEASE'));
  });

  it('the signed bytes differ in one byte, the KeyState number', () => {
    const r = reply('ACTIVE');
    const active = leaseSignedBytes(req, r);
    const decryptOnly = leaseSignedBytes(req, { ...r, versions: [{ ...r.versions[0], state: 'DECRYPT_ONLY' }] });
    const at = [...active.keys()].filter((i) => active[i] !== decryptOnly[i]);
    expect(at).toHaveLength(1);
    expect([active[at[0]], decryptOnly[at[0]]]).toEqual([KeyState.ACTIVE, KeyState.DECRYPT_ONLY]);
  });
});
