/**
 * The tenant-state check on every lease (review H3): whatever the Core still
 * holds in memory, a tenant that is not ACTIVE gets no lease.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Core } from '../../src/core/core.js';
import { HpkeRecipient, scopes } from '../../src/native/index.js';
import { GATEWAY, openTestCore } from './core-fixture.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
const T = 'acme';
const S = 'cached';

describe('the tenant check on every lease (H3)', () => {
  let t: Awaited<ReturnType<typeof openTestCore>>;
  let core: Core;
  const recipient = HpkeRecipient.generate();
  // A request as on the wire (src/protocol/lease.ts): a fresh nonce each time.
  const lease = (versions?: number[]) =>
    core.issueLease(GATEWAY, {
      tenant: T,
      service: S,
      recipientKey: recipient.publicKey,
      nonce: randomBytes(16),
      ...(versions ? { versions } : {}),
    });

  beforeAll(async () => {
    t = await openTestCore();
    core = t.core;
    await core.init();
    await core.onboardTenant(T);
    await core.defineScope(T, S);
    await core.rotate(T, S);
  });
  afterAll(async () => {
    recipient.destroy();
    await t?.cleanup();
  });

  it('a lease for a tenant that is not ACTIVE (REVOKED, OFFBOARDED) is refused KEY_REVOKED, even while its keys are still cached', async () => {
    await lease();
    const cached = () => scopes.list(T, S).filter((v) => v.state !== 'REVOKED').length;
    expect(cached()).toBe(2);
    // The tenant's state changes in the KSI and nothing evicts its keys: what the review's race left behind.
    const row = (await core.ksi.read((tx) => tx.getTenant(T)))!;
    for (const state of ['REVOKED', 'OFFBOARDED'] as const) {
      await core.ksi.tx((tx) => tx.putTenant({ ...row, state }));
      expect(cached()).toBe(2);
      await expect(lease()).rejects.toThrow(code('KEY_REVOKED'));
      // A version leased on demand as well.
      await expect(lease([1])).rejects.toThrow(code('KEY_REVOKED'));
      // The refusal is audited as a denial, in the transaction that read the state.
      const last = await core.ksi.read(async (tx) =>
        (await tx.auditSince(0, 100_000)).filter((r) => r.action === 'lease.issue').at(-1),
      );
      expect(last).toMatchObject({ target: `${T}/${S}`, outcome: 'denied', details: { reason: 'KEY_REVOKED' } });
    }
    await core.ksi.tx((tx) => tx.putTenant(row));
    await expect(lease()).resolves.toBeDefined();
  });
});
