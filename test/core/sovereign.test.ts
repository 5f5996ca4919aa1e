import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPkcs11L1Key, destroyPkcs11L1Key } from '../../src/core/l1/index.js';
import { createKey, HpkeRecipient, openBlob, openLease, scopeRef, scopes } from '../../src/native/index.js';
import { GATEWAY, openTestCore } from './core-fixture.js';
import { missing, PIN, skip, SoftHsm } from './l1/softhsm.js';
import { newLeaseRequest } from '../../src/protocol/lease.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
const T = 'sovereign-co';
const S = 'ledger';

describe.skipIf(skip)(`a tenant whose L1 lives in SoftHSM2${missing ? ` (${missing})` : ''}`, () => {
  let hsm: SoftHsm;
  let ref: string;
  beforeAll(async () => {
    hsm = new SoftHsm();
    hsm.initToken('tenant-l1');
    ref = await createPkcs11L1Key(hsm.uri('tenant-l1', 'l1-key'), 'l1-key');
    expect(ref).not.toContain(PIN);
  });
  afterAll(() => hsm?.remove());

  it('link, unlink (keys unusable at once), and recovery of the L2 through its sovereign binding', async () => {
    const t = await openTestCore({ l1Pin: PIN });
    try {
      const { core } = t;
      await core.init();
      await core.onboardTenant(T, { kind: 'pkcs11', ref });
      await core.defineScope(T, S);
      const [l2] = await core.ksi.read((tx) => tx.listL2(T));
      expect(l2.wrappedSovereign).not.toBeNull();
      await core.l3.versions(T, S); // hydrate the scope into the store
      const before = createKey(scopeRef(T, S)!);

      const events: string[] = [];
      core.events.subscribe((e) => events.push(`${e.type}:${e.tenant}`));
      await core.tenants.unlinkL1(T);
      expect(events).toEqual([`tenant.revoked:${T}`]);
      expect(scopeRef(T, S)).toBeNull();
      const recipient = HpkeRecipient.generate();
      await expect(core.issueLease(GATEWAY, newLeaseRequest(T, S, recipient.publicKey))).rejects.toThrow(
        code('KEY_REVOKED'),
      );

      // The IVK-side binding is lost too (as in a region loss): only the L1 can bring the L2 back.
      await core.ksi.tx(async (tx) => tx.updateL2({ ...l2, wrappedActive: Buffer.alloc(l2.wrappedActive.length) }));
      await core.tenants.linkL1(T, { kind: 'pkcs11', ref });
      const lease = await core.issueLease(GATEWAY, newLeaseRequest(T, S, recipient.publicKey));
      scopes.evict(T, S);
      for (const v of lease.versions) openLease(recipient, { tenant: T, service: S, enc: v.enc, sealed: v.sealed });
      expect(openBlob(T, before.blob).equals(before.plaintext)).toBe(true);
      recipient.destroy();
    } finally {
      await t.cleanup();
    }
  });

  it('when the L1 key is destroyed in the HSM, the L2 cannot be recovered', async () => {
    const t = await openTestCore({ l1Pin: PIN });
    try {
      const { core } = t;
      hsm.initToken('doomed');
      const doomed = await createPkcs11L1Key(hsm.uri('doomed', 'l1'), 'l1');
      await core.init();
      await core.onboardTenant('doomed-co', { kind: 'pkcs11', ref: doomed });
      await core.tenants.unlinkL1('doomed-co');
      await destroyPkcs11L1Key(hsm.uri('doomed', 'l1'));
      await expect(core.tenants.linkL1('doomed-co', { kind: 'pkcs11', ref: doomed })).rejects.toThrow(
        code('KEY_UNAVAILABLE'),
      );
    } finally {
      await t.cleanup();
    }
  });
});
