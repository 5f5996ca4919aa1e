import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreClient } from '../../src/gateway/core-client.js';
import { LeaseCache, type LeaseCacheOptions } from '../../src/gateway/lease-cache.js';
import { createKey, openBlob, scopeRef, scopes } from '../../src/native/index.js';
import { launch, startCoreProcess, type CoreProcess } from '../core/process-fixture.js';
import { admin, blobFromOtherGateway, coreClientFor } from './gateway-fixture.js';
import { startTcpProxy } from './tcp-proxy.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
const T = 'acme';
const stateOf = (s: string, v: number) => scopes.list(T, s).find((x) => x.version === v)?.state;

describe('lease cache against a real Core process', () => {
  let core: CoreProcess;
  const open: { cache: LeaseCache; client: CoreClient }[] = [];
  const gateway = (opts: Partial<LeaseCacheOptions> & { client?: CoreClient } = {}) => {
    const client = opts.client ?? coreClientFor(core);
    const cache = new LeaseCache({ ...opts, core: client });
    open.push({ cache, client });
    return { cache, client };
  };

  beforeAll(async () => {
    core = await startCoreProcess();
    await admin(core).tenant(T);
    for (const s of ['burst', 'rot', 'rev', 'fol', 'ens', 'newver']) await admin(core).scope(T, s);
  });
  afterAll(async () => {
    for (const { cache, client } of open) {
      cache.stop();
      await client.close();
    }
    await core?.cleanup();
  });

  it('a burst of 10,000 concurrent misses on a cold scope makes exactly one Core call, and every caller gets the same scope', async () => {
    const { cache, client } = gateway();
    const served = await admin(core).leasesServed();
    expect(cache.scopeSync(T, 'burst')).toBeNull();
    const refs = await Promise.all(Array.from({ length: 10_000 }, () => cache.scope(T, 'burst')));
    expect(client.stats().leaseRequests).toBe(1);
    expect(await admin(core).leasesServed()).toBe(served + 1);
    expect(new Set(refs).size).toBe(1);
    // The hot path now answers without a promise, with the very same object.
    expect(cache.scopeSync(T, 'burst')).toBe(refs[0]);
    const k = createKey(refs[0]);
    expect(openBlob(T, k.blob).equals(k.plaintext)).toBe(true);
  });

  it('a burst of misses on an unknown service is one Core call, and every caller gets the same UNKNOWN_SERVICE', async () => {
    const { cache, client } = gateway();
    const results = await Promise.allSettled(Array.from({ length: 1_000 }, () => cache.scope(T, 'nope')));
    expect(client.stats().leaseRequests).toBe(1);
    const reasons = new Set(results.map((r): unknown => (r as PromiseRejectedResult).reason));
    expect(reasons.size).toBe(1);
    expect([...reasons][0]).toEqual(code('UNKNOWN_SERVICE'));
  });

  it('a rotation at the Core is picked up from the event stream: new blobs use the new ACTIVE version', async () => {
    const { cache } = gateway();
    const ref = await cache.scope(T, 'rot');
    const before = createKey(ref).version;
    const t0 = Date.now();
    const next = await admin(core).rotate(T, 'rot');
    expect(next).toBe(before + 1);
    await expect.poll(() => createKey(cache.scopeSync(T, 'rot')!).version, { timeout: 2_000, interval: 10 }).toBe(next);
    const tookMs = Date.now() - t0;
    expect(tookMs).toBeLessThan(1_000);
    expect(cache.stats().scopes.find((s) => s.service === 'rot')).toMatchObject({
      activeVersion: next,
      versions: [before, next],
    });
  });

  it('a revocation destroys the version within 1 s: the store shows REVOKED and its blobs fail with KEY_REVOKED', async () => {
    const { cache } = gateway();
    const old = createKey(await cache.scope(T, 'rev'));
    const next = await admin(core).rotate(T, 'rev');
    await expect.poll(() => createKey(cache.scopeSync(T, 'rev')!).version, { timeout: 2_000, interval: 10 }).toBe(next);
    expect(openBlob(T, old.blob).equals(old.plaintext)).toBe(true);

    const t0 = Date.now();
    await admin(core).revoke(T, 'rev', old.version);
    await expect.poll(() => stateOf('rev', old.version), { timeout: 1_000, interval: 5 }).toBe('REVOKED');
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(() => openBlob(T, old.blob)).toThrow(code('KEY_REVOKED'));
    expect(await cache.ensureVersion(T, 'rev', old.version)).toBe('revoked');
    const delay = cache.stats().revocationDelayMs;
    expect(delay.count).toBe(1);
    expect(delay.last).toBeLessThan(1_000);
    // The scope keeps working on its ACTIVE version.
    expect(createKey(cache.scopeSync(T, 'rev')!).version).toBe(next);
  });

  it('the event follower catches up after a disconnect: a revocation made while it was cut off is applied on reconnect', async () => {
    const proxy = await startTcpProxy(core.port);
    try {
      const client = coreClientFor(
        { url: proxy.url, pki: core.pki },
        { follow: { initialDelayMs: 100, maxDelayMs: 300 } },
      );
      const { cache } = gateway({ client });
      const old = createKey(await cache.scope(T, 'fol'));
      const next = await admin(core).rotate(T, 'fol');
      await expect.poll(() => cache.stats().scopes[0]?.activeVersion, { timeout: 2_000 }).toBe(next);
      await expect.poll(() => cache.stats().connected).toBe(true);
      const leases = client.stats().leaseRequests;

      proxy.pause();
      await expect.poll(() => cache.stats().connected).toBe(false);
      await admin(core).revoke(T, 'fol', old.version);
      await sleep(500);
      // Cut off: nothing told this Gateway yet.
      expect(stateOf('fol', old.version)).toBe('DECRYPT_ONLY');
      expect(cache.readiness()).toMatchObject({ ready: true });

      proxy.resume();
      await expect.poll(() => stateOf('fol', old.version), { timeout: 3_000, interval: 10 }).toBe('REVOKED');
      expect(() => openBlob(T, old.blob)).toThrow(code('KEY_REVOKED'));
      // The replay comes before the Core's caught-up frame, which marks the stream live again.
      await expect.poll(() => cache.stats().connected).toBe(true);
      // It came from the replayed stream, not from a new lease.
      expect(client.stats().leaseRequests).toBe(leases);
    } finally {
      await proxy.close();
    }
  });

  it('ensureVersion: a blob of a cold scope opens after one fetch; a bogus version stays absent without hammering the Core', async () => {
    const { cache, client } = gateway();
    const made = await blobFromOtherGateway(core, T, 'ens');
    expect(() => openBlob(T, made.blob)).toThrow(code('INVALID_BLOB'));
    expect(await cache.ensureVersion(T, 'ens', made.version)).toBe('held');
    expect(client.stats().leaseRequests).toBe(1);
    expect(openBlob(T, made.blob).equals(made.plaintext)).toBe(true);

    expect(await cache.ensureVersion(T, 'ens', 999)).toBe('absent');
    const after = client.stats().leaseRequests;
    expect(after).toBeLessThanOrEqual(2);
    const answers = await Promise.all(Array.from({ length: 100 }, () => cache.ensureVersion(T, 'ens', 1000)));
    expect(new Set(answers)).toEqual(new Set(['absent']));
    expect(client.stats().leaseRequests).toBe(after);
  });

  it('ensureVersion: a blob of a version this Gateway has not leased yet opens after one fetch', async () => {
    const proxy = await startTcpProxy(core.port);
    try {
      const client = coreClientFor(
        { url: proxy.url, pki: core.pki },
        { follow: { initialDelayMs: 2_000, maxDelayMs: 4_000 } },
      );
      const { cache } = gateway({ client, probeIntervalMs: 0 });
      const v1 = createKey(await cache.scope(T, 'newver')).version;
      // Cut this Gateway off so it misses the rotation; another Gateway makes a blob under the new version.
      proxy.pause();
      const v2 = await admin(core).rotate(T, 'newver');
      const made = await blobFromOtherGateway(core, T, 'newver');
      expect(made.version).toBe(v2);
      expect(v2).toBeGreaterThan(v1);
      expect(() => openBlob(T, made.blob)).toThrow(code('INVALID_BLOB'));
      proxy.resume();
      const leases = client.stats().leaseRequests;
      expect(await cache.ensureVersion(T, 'newver', v2)).toBe('held');
      expect(client.stats().leaseRequests).toBe(leases + 1);
      expect(openBlob(T, made.blob).equals(made.plaintext)).toBe(true);
      expect(await cache.ensureVersion(T, 'newver', v1)).toBe('held');
    } finally {
      await proxy.close();
    }
  });

  it('the circuit breaker opens after consecutive failures, fails fast while open, half-opens later and closes on success', async () => {
    const proxy = await startTcpProxy(core.port);
    try {
      const client = coreClientFor(
        { url: proxy.url, pki: core.pki },
        { retry: { maxAttempts: 1 }, breaker: { consecutiveFailures: 3, halfOpenAfterMs: 400 } },
      );
      const { cache } = gateway({ client, failureTtlMs: 0 });
      expect(client.circuitState()).toBe('closed');
      proxy.pause();
      for (let i = 0; i < 3; i++) await expect(cache.scope(T, 'burst')).rejects.toThrow(code('KEY_UNAVAILABLE'));
      expect(client.circuitState()).toBe('open');
      expect(cache.stats().circuit).toBe('open');
      const sent = client.stats().leaseRequests;
      await expect(cache.scope(T, 'burst')).rejects.toThrow(/circuit open/);
      expect(client.stats().leaseRequests).toBe(sent);
      await sleep(450);
      expect(client.circuitState()).toBe('half-open');
      proxy.resume();
      await cache.scope(T, 'burst');
      expect(client.circuitState()).toBe('closed');
    } finally {
      await proxy.close();
    }
  });
});

describe('lease cache through a Core outage', () => {
  const TTL = 3;
  let core: CoreProcess;
  let restarted: CoreProcess | undefined;
  beforeAll(async () => {
    core = await startCoreProcess({ env: { KRYPTON_CORE_LEASE_TTL: String(TTL) } });
    await admin(core).tenant(T);
    await admin(core).scope(T, 'down');
    await admin(core).tenant('globex');
    await admin(core).scope('globex', 'app');
  });
  afterAll(async () => {
    await restarted?.stop();
    await core?.cleanup();
  });

  it('serves until the lease expires, then zeroizes the scope and fails closed; recovers when the Core returns', async () => {
    const client = coreClientFor(core, {
      retry: { maxAttempts: 1 },
      timeoutMs: 1_000,
      breaker: { consecutiveFailures: 3, halfOpenAfterMs: 300 },
      follow: { initialDelayMs: 100, maxDelayMs: 300 },
    });
    const cache = new LeaseCache({ core: client, retryRefreshMs: 200, failureTtlMs: 100 });
    try {
      const ref = await cache.scope(T, 'down');
      const k = createKey(ref);
      const ttlLeft = cache.stats().scopes[0].ttlLeftMs;
      expect(ttlLeft).toBeGreaterThan(TTL * 1000 - 1_000);
      expect(ttlLeft).toBeLessThanOrEqual(TTL * 1000);
      const expiresAt = Date.now() + ttlLeft;
      await core.stop();

      // Within the lease: still served, still ready.
      while (Date.now() < expiresAt - 300) {
        expect(cache.scopeSync(T, 'down')).toBe(ref);
        expect(openBlob(T, k.blob).equals(k.plaintext)).toBe(true);
        await sleep(100);
      }
      expect(cache.readiness().ready).toBe(true);

      // Past it: zeroized and fail closed.
      await expect.poll(() => cache.scopeSync(T, 'down'), { timeout: 1_500, interval: 20 }).toBeNull();
      expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
      expect(scopeRef(T, 'down')).toBeNull();
      expect(() => openBlob(T, k.blob)).toThrow();
      await expect(cache.scope(T, 'down')).rejects.toThrow(code('KEY_UNAVAILABLE'));
      expect(cache.readiness()).toMatchObject({ ready: false });
      expect(cache.readiness().reasons).toContain('the Core is not reachable');

      // The Core comes back on the same address: the next request leases again.
      restarted = await launch({
        ...core,
        env: { KRYPTON_CORE_LEASE_TTL: String(TTL), KRYPTON_CORE_PORT: String(core.port) },
      });
      await expect
        .poll(
          () =>
            cache.scope(T, 'down').then(
              () => true,
              () => false,
            ),
          { timeout: 5_000, interval: 100 },
        )
        .toBe(true);
      expect(openBlob(T, k.blob).equals(k.plaintext)).toBe(true);
      await expect.poll(() => cache.readiness().ready, { timeout: 3_000 }).toBe(true);

      // And it keeps the lease alive by refreshing ahead of expiry.
      const first = cache.stats().scopes[0];
      await sleep(TTL * 1000 + 200);
      expect(cache.scopeSync(T, 'down')).not.toBeNull();
      expect(cache.stats().scopes[0].leaseAgeMs).toBeLessThan(first.leaseAgeMs + TTL * 1000);
    } finally {
      cache.stop();
      await client.close();
    }
  });

  it('a tenant revocation evicts every scope of the tenant and fails it closed with KEY_REVOKED', async () => {
    const server = restarted ?? core;
    const client = coreClientFor(server);
    const cache = new LeaseCache({ core: client, failureTtlMs: 0 });
    try {
      await cache.scope('globex', 'app');
      await expect.poll(() => cache.stats().connected).toBe(true);
      await server.client('admin').request('DELETE', '/v1/admin/tenants/globex/l1');
      await expect.poll(() => cache.scopeSync('globex', 'app'), { timeout: 1_000, interval: 5 }).toBeNull();
      expect(scopeRef('globex', 'app')).toBeNull();
      await expect(cache.scope('globex', 'app')).rejects.toThrow(code('KEY_REVOKED'));
    } finally {
      cache.stop();
      await client.close();
    }
  });

  it('stop() zeroizes every held scope and destroys the recipient key', async () => {
    const server = restarted ?? core;
    const client = coreClientFor(server);
    const cache = new LeaseCache({ core: client });
    await cache.scope(T, 'down');
    expect(scopeRef(T, 'down')).not.toBeNull();
    cache.stop();
    expect(scopeRef(T, 'down')).toBeNull();
    await expect(cache.scope(T, 'down')).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await client.close();
  });
});
