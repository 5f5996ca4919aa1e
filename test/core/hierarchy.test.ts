import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HOUR_MS } from '../../src/core/clock.js';
import type { Core } from '../../src/core/core.js';
import { createKey, HpkeRecipient, openBlob, openLease, scopeRef, scopes, storeStats } from '../../src/native/index.js';
import { GATEWAY, openTestCore } from './core-fixture.js';
import { newLeaseRequest } from '../../src/protocol/lease.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups) await c();
  cleanups = [];
});

async function fresh(over = {}) {
  const t = await openTestCore(over);
  cleanups.push(t.cleanup);
  return t;
}

async function withTenant(core: Core, tenant = 'acme', service = 'billing') {
  await core.onboardTenant(tenant);
  await core.defineScope(tenant, service);
  return { tenant, service };
}

describe('MasterKey: init, seal, unseal', () => {
  it('init returns 5 shares of which any 3 unseal; 2 are not enough; the sealed Core answers SEALED', async () => {
    const { core, reopen } = await fresh();
    const shares = await core.init();
    expect(shares).toHaveLength(5);
    await withTenant(core);
    core.seal();
    expect(core.sealStatus()).toMatchObject({ initialized: true, sealed: true, threshold: 3, shares: 5 });
    await expect(core.rotate('acme', 'billing')).rejects.toThrow(code('SEALED'));
    await expect(core.issueLease(GATEWAY, newLeaseRequest('acme', 'billing', Buffer.alloc(32)))).rejects.toThrow(
      code('SEALED'),
    );

    const restarted = await reopen();
    expect(restarted.sealStatus().sealed).toBe(true);
    expect((await restarted.unseal([shares[4], shares[1]])).progress).toBe(2);
    expect((await restarted.unseal([shares[2]])).sealed).toBe(false);
    expect(await restarted.rotate('acme', 'billing')).toBe(2);
  });

  it('wrong or duplicate shares are refused and reset the progress', async () => {
    const { core, reopen } = await fresh();
    const shares = await core.init();
    const other = await (await fresh()).core.init();
    const c = await reopen();
    await expect(c.unseal([shares[0], shares[0]])).rejects.toThrow(code('BAD_REQUEST'));
    await expect(c.unseal([shares[0], shares[1], other[2]])).rejects.toThrow(/do not reconstruct/);
    expect(c.sealStatus()).toMatchObject({ sealed: true, progress: 0 });
    const forged = Buffer.from(shares[2]);
    forged[5] ^= 1;
    await expect(c.unseal([shares[0], shares[1], forged])).rejects.toThrow(/do not reconstruct/);
    expect((await c.unseal([shares[0], shares[1], shares[2]])).sealed).toBe(false);
    await expect(c.init()).rejects.toThrow(/already initialized/);
  });

  it('sealing zeroizes every key the Core held (tier 1 IVKs, L2, L3)', async () => {
    const { core } = await fresh();
    const before = storeStats().keys;
    await core.init();
    await withTenant(core);
    await core.issueLease(GATEWAY, newLeaseRequest('acme', 'billing', HpkeRecipient.generate().publicKey));
    expect(storeStats().keys).toBeGreaterThan(before);
    core.seal();
    expect(storeStats().keys).toBe(before);
    expect(scopeRef('acme', 'billing')).toBeNull();
  });
});

describe('IVK manager (ADR-304)', () => {
  it('rotation puts the old version in GRACE; after the grace period it is evicted to tier 2 and faulted in on demand', async () => {
    const { core, clock, dir } = await fresh();
    await core.init();
    await core.onboardTenant('acme');
    expect((await core.ivk.status()).map((v) => [v.version, v.state, v.tier])).toEqual([[1, 'ACTIVE', 1]]);
    await core.ivk.rotate('on-demand');
    expect((await core.ivk.status()).map((v) => [v.version, v.state, v.tier])).toEqual([
      [1, 'GRACE', 1],
      [2, 'ACTIVE', 1],
    ]);
    clock.advance(24 * HOUR_MS + 1);
    await core.tick();
    expect((await core.ivk.status()).map((v) => [v.version, v.state, v.tier])).toEqual([
      [1, 'DEPRECATED', 2],
      [2, 'ACTIVE', 1],
    ]);
    const ivk1 = JSON.parse(readFileSync(join(dir, 'tier2', 'ivk-1.json'), 'utf8')) as { state: string };
    expect(ivk1.state).toBe('DEPRECATED');
    // The tenant's L2 is still under IVK 1: hydrating it faults IVK 1 in and re-wraps the L2 onto IVK 2.
    core.l2.evict('acme');
    await core.defineScope('acme', 'billing');
    const l2 = await core.ksi.read((tx) => tx.listL2('acme'));
    expect(l2[0].ivkVersion).toBe(2);
  });

  it('rotates on schedule and after the wrap count', async () => {
    const { core, clock } = await fresh({ ivkPolicy: { rotationPeriodMs: 10 * HOUR_MS, maxWraps: 3 } });
    await core.init();
    clock.advance(10 * HOUR_MS);
    await core.tick();
    expect(core.ivk.active).toBe(2);
    for (const t of ['t1', 't2', 't3']) await core.onboardTenant(t);
    await core.tick();
    expect(core.ivk.active).toBe(3);
  });

  it('a tampered IVK row in the KSI is refused and reported, never used', async () => {
    const { core, reopen } = await fresh();
    const shares = await core.init();
    await core.ivk.rotate('test');
    await core.ksi.tx(async (tx) => {
      const row = (await tx.getIvk(1))!;
      await tx.updateIvk({ ...row, hardExpiry: row.hardExpiry + 1e12 }); // extend its life without the MAC key
    });
    core.seal();
    const c = await reopen();
    await c.unseal(shares.slice(0, 3));
    expect(c.tamperReports()).toContainEqual({ source: 'ksi', version: 1 });
    await expect(c.ivk.unwrap(1, Buffer.alloc(72), Buffer.alloc(0))).rejects.toThrow(code('KEY_UNAVAILABLE'));
  });

  it('a tampered tier-2 file is detected and reported; the KSI copy is used instead', async () => {
    const { core, clock, dir } = await fresh();
    await core.init();
    await core.onboardTenant('acme');
    await core.ivk.rotate('test');
    clock.advance(25 * HOUR_MS);
    await core.tick();
    const file = join(dir, 'tier2', 'ivk-1.json');
    const form = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify({ ...form, state: 'ACTIVE' }));
    core.l2.evict('acme');
    await core.defineScope('acme', 'billing'); // hydrates the L2 under IVK 1
    expect(core.tamperReports()).toContainEqual({ source: 'tier2', version: 1 });
  });
});

describe('L3 keys, leases and events', () => {
  it('a lease opened with the addon yields keys that open blobs the Core created under the same L3', async () => {
    const { core } = await fresh();
    await core.init();
    const { tenant, service } = await withTenant(core);
    await core.rotate(tenant, service);
    const recipient = HpkeRecipient.generate();
    const lease = await core.issueLease(GATEWAY, newLeaseRequest(tenant, service, recipient.publicKey));
    expect(lease.versions.map((v) => [v.version, v.state])).toEqual([
      [1, 'DECRYPT_ONLY'],
      [2, 'ACTIVE'],
    ]);
    expect(lease.ttlSeconds).toBe(300);
    const made = createKey(scopeRef(tenant, service)!);
    // Play the Gateway: drop the Core's copy, then install the lease.
    scopes.evict(tenant, service);
    for (const v of lease.versions) openLease(recipient, { tenant, service, enc: v.enc, sealed: v.sealed });
    expect(openBlob(tenant, made.blob).equals(made.plaintext)).toBe(true);
    recipient.destroy();
  });

  it('a gateway identity not allowed for a tenant cannot lease its keys', async () => {
    const { core } = await fresh({ gateways: { 'spiffe://krypton.dev/gateway/eu': ['acme'] } });
    await core.init();
    await withTenant(core, 'acme');
    await withTenant(core, 'globex');
    const pk = HpkeRecipient.generate().publicKey;
    await expect(
      core.issueLease('spiffe://krypton.dev/gateway/eu', newLeaseRequest('globex', 'billing', pk)),
    ).rejects.toThrow(code('FORBIDDEN'));
    await expect(
      core.issueLease('spiffe://krypton.dev/gateway/other', newLeaseRequest('acme', 'billing', pk)),
    ).rejects.toThrow(code('FORBIDDEN'));
    await expect(
      core.issueLease('spiffe://krypton.dev/gateway/eu', newLeaseRequest('acme', 'nope', pk)),
    ).rejects.toThrow(code('UNKNOWN_SERVICE'));
  });

  it('rotation and revocation append events with monotonic epochs; a subscriber catches up from its epoch', async () => {
    const { core } = await fresh();
    await core.init();
    const { tenant, service } = await withTenant(core);
    const live: number[] = [];
    const stop = core.events.subscribe((e) => live.push(e.epoch));
    await core.rotate(tenant, service); // epoch 1: rotation to v2
    await core.revoke(tenant, service, 1); // epoch 2: revocation of v1
    await core.revoke(tenant, service, 2); // epochs 3, 4: revocation of v2 and rotation to v3
    stop();
    expect(live).toEqual([1, 2, 3, 4]);
    const caughtUp = await core.events.since(2);
    expect(caughtUp.map((e) => [e.epoch, e.type, e.version])).toEqual([
      [3, 'revocation', 2],
      [4, 'rotation', 3],
    ]);
    const lease = await core.issueLease(GATEWAY, newLeaseRequest(tenant, service, HpkeRecipient.generate().publicKey));
    expect(lease.epoch).toBe(4);
    expect(lease.versions.map((v) => [v.version, v.state])).toEqual([[3, 'ACTIVE']]);
  });

  it('an L3 scope rotates on its period', async () => {
    const { core, clock } = await fresh();
    await core.init();
    await core.onboardTenant('acme');
    await core.defineScope('acme', 'billing', 3600);
    clock.advance(3599_000);
    await core.tick();
    expect(scopes.list('acme', 'billing').length).toBe(0); // not hydrated, not rotated
    clock.advance(1000);
    await core.tick();
    const rows = await core.ksi.read((tx) => tx.listL3('acme', 'billing'));
    expect(rows.map((r) => [r.version, r.state])).toEqual([
      [1, 'DECRYPT_ONLY'],
      [2, 'ACTIVE'],
    ]);
  });

  it('every lease, rotation and revocation is in the hash-chained audit log', async () => {
    const { core } = await fresh();
    await core.init();
    await withTenant(core);
    await core.rotate('acme', 'billing', 'spiffe://krypton.dev/admin');
    const rows = await core.ksi.read((tx) => tx.auditSince(0, 100));
    expect(rows.map((r) => r.action)).toEqual([
      'master.init',
      'ivk.rotate',
      'tenant.onboard',
      'l2.create',
      'scope.define',
      'l3.rotate',
    ]);
    expect(rows.at(-1)).toMatchObject({ actor: 'spiffe://krypton.dev/admin', target: 'acme/billing@2' });
    for (let i = 1; i < rows.length; i++) expect(rows[i].prevHash).toBe(rows[i - 1].hash);
  });
});
