/**
 * Attacks with odd names (review H1): a service name that is not an id must
 * be refused at the edge, before anything is cached, leased or handed to
 * the addon, and nothing a request does may stop a revocation, the deadman
 * switch or shutdown from reaching every scope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseCache } from '../../src/gateway/lease-cache.js';
import { scopes, storeStats } from '../../src/native/index.js';
import { coreClientFor } from '../gateway/gateway-fixture.js';
import { httpCall, ok, openStage, refusal, type Stage } from './stage.js';

const POISON = ['not/an-id', '', 'x'.repeat(65), 'a b', 'caf\u00e9', 'new\nline', 'null\0byte', '%2F'];

/** A valid blob of acme/app with its service id bytes replaced (same length), so only the id rule can refuse it. */
function withServiceBytes(blob: Buffer, service: string): Buffer {
  const b = Buffer.from(blob);
  const t = b[4];
  b.write(service, 6 + t, 'latin1');
  return b;
}

describe('names that are not ids', () => {
  let stage: Stage;

  beforeAll(async () => {
    stage = await openStage({
      tenants: { acme: ['app', 'payroll'] },
      tokens: { wide: { tenant: 'acme', services: ['*'] } },
    });
  });
  afterAll(async () => {
    await stage?.stop();
  });

  it('a create naming a service that is not an id is BAD_REQUEST on every entrance, with no Core call and nothing cached', async () => {
    const c = await stage.ws(stage.tokens.wide);
    const served = await stage.leasesServed();
    for (const service of POISON) {
      expect(refusal(await c.call([1, 'key.create', { service }])), JSON.stringify(service)).toBe('BAD_REQUEST');
      expect(refusal(await c.call([2, 'key.create', { service, count: 2 }]))).toBe('BAD_REQUEST');
      expect(refusal(((await c.call([[3, 'key.create', { service }]])) as unknown[])[0])).toBe('BAD_REQUEST');
      for (const format of ['json', 'msgpack'] as const) {
        expect((await httpCall(stage, stage.tokens.wide, 'create', { service }, format)).body.code).toBe('BAD_REQUEST');
      }
    }
    expect(await stage.leasesServed()).toBe(served);
    expect(stage.gateway.cache.stats().scopes.map((s) => s.service)).not.toEqual(expect.arrayContaining(POISON));
  });

  it('a blob whose header names a service that is not an id is INVALID_BLOB, with no Core call', async () => {
    const c = await stage.ws(stage.tokens.wide);
    const good = ok(await c.call([1, 'key.create', { service: 'app' }])).blob;
    const served = await stage.leasesServed();
    for (const bad of ['a/p', 'a p', 'a\0p', 'a\u00e9']) {
      const blob = withServiceBytes(good, bad);
      if (blob.length !== good.length) continue; // multi-byte: not the same layout
      expect(refusal(await c.call([2, 'key.decrypt', { blob }]))).toBe('INVALID_BLOB');
      expect(refusal(await c.call([3, 'key.info', { blob }]))).toBe('INVALID_BLOB');
    }
    expect(await stage.leasesServed()).toBe(served);
  });

  it('after poisoned requests, an unlink of the tenant (tenant.revoked) still drops every one of its scopes: nothing is served from them', async () => {
    const c = await stage.ws(stage.tokens.wide);
    const app = ok(await c.call([1, 'key.create', { service: 'app' }]));
    ok(await c.call([2, 'key.create', { service: 'payroll' }]));
    for (const service of POISON) refusal(await c.call([3, 'key.create', { service }]));
    expect(scopes.lookup('acme', 'app')).not.toBe(0);
    expect(scopes.lookup('acme', 'payroll')).not.toBe(0);
    await stage.core.client('admin').request('DELETE', '/v1/admin/tenants/acme/l1');
    await expect
      .poll(() => [scopes.lookup('acme', 'app'), scopes.lookup('acme', 'payroll')], { timeout: 1_000, interval: 5 })
      .toEqual([0, 0]);
    expect(refusal(await c.call([4, 'key.decrypt', { blob: app.blob }]))).toBe('KEY_REVOKED');
    expect(refusal(await c.call([5, 'key.create', { service: 'app' }]))).toBe('KEY_REVOKED');
  });
});

describe('the lease cache facing odd names', () => {
  it('refuses ids that are not ids before any entry, fetch or native call; stop() then zeroizes every scope it held', async () => {
    const stage = await openStage({ tenants: { acme: ['app', 'payroll'] }, tokens: {} });
    const client = coreClientFor(stage.core);
    const cache = new LeaseCache({ core: client });
    try {
      await cache.scope('acme', 'app');
      await cache.scope('acme', 'payroll');
      for (const name of POISON) {
        await expect(cache.scope('acme', name)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
        await expect(cache.ensureVersion('acme', name, 1)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
        await expect(cache.scope(name, 'app')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      }
      expect(client.stats().leaseRequests).toBe(2);
      expect(
        cache
          .stats()
          .scopes.map((s) => s.service)
          .sort(),
      ).toEqual(['app', 'payroll']);
      const keysBefore = storeStats().keys;
      cache.stop();
      expect(scopes.lookup('acme', 'app')).toBe(0);
      expect(scopes.lookup('acme', 'payroll')).toBe(0);
      expect(storeStats().keys).toBeLessThan(keysBefore);
    } finally {
      cache.stop();
      await client.close();
      await stage.stop();
    }
  });
});

describe('the event follower', () => {
  it('does not pass an event its handler failed to apply: the Core delivers it again, and later events wait behind it', async () => {
    const stage = await openStage({ tenants: { acme: ['app'] }, tokens: {} });
    const client = coreClientFor(stage.core, { follow: { initialDelayMs: 50, maxDelayMs: 200 } });
    const seen: number[] = [];
    let failures = 0;
    const follower = client.followEvents(
      0,
      (ev) => {
        if (ev.type !== 'rotation') return;
        seen.push(ev.epoch);
        if (failures++ === 0) throw new Error('could not apply');
      },
      () => {},
    );
    try {
      await expect.poll(() => follower.connected()).toBe(true);
      const admin = stage.core.client('admin');
      await admin.request('POST', '/v1/admin/tenants/acme/services/app/rotate');
      await admin.request('POST', '/v1/admin/tenants/acme/services/app/rotate');
      await expect.poll(() => seen.length, { timeout: 3_000 }).toBeGreaterThanOrEqual(3);
      // The first rotation failed, was delivered again, and only then came the second.
      expect(seen[0]).toBe(seen[1]);
      expect(seen[2]).toBeGreaterThan(seen[1]);
      expect(follower.lastEpoch()).toBe(seen[2]);
    } finally {
      follower.close();
      await client.close();
      await stage.stop();
    }
  });
});
