/**
 * Old versions retire (review L7): a lease carries the ACTIVE version and
 * the newest 32 DECRYPT_ONLY ones; a blob of an older version still opens,
 * leased on demand; the arena's size and use are metrics on the Core and
 * the Gateway, so a fast rotation policy neither exhausts it unseen nor at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseCache } from '../../src/gateway/lease-cache.js';
import { scopes } from '../../src/native/index.js';
import { ok, openStage, type Stage } from '../security/stage.js';
import { admin, coreClientFor } from './gateway-fixture.js';
import { connect } from './ws-fixture.js';

const T = 'acme';
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const metric = (text: string, name: string): number => {
  const m = new RegExp(`^${name} (\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?)$`, 'm').exec(text);
  if (m === null) throw new Error(`no ${name} in the metrics`);
  return Number(m[1]);
};

describe('old versions (review L7)', () => {
  let stage: Stage;
  /** blobs[v]: a blob made under version v of acme/old. */
  const blobs = new Map<number, { blob: Buffer; plaintext: Buffer }>();
  let coreUsedBefore = 0;
  const coreMetrics = async () => String((await stage.core.client('admin').request('GET', '/metrics')).body);

  beforeAll(async () => {
    stage = await openStage({
      tenants: { [T]: ['old', 'meter', 'cold'] },
      tokens: { app: { tenant: T, services: ['*'] } },
    });
    coreUsedBefore = metric(await coreMetrics(), 'krypton_arena_used_bytes');
    const c = await stage.ws(stage.tokens.app);
    for (let v = 1; v <= 40; v++) {
      if (v > 1) expect(await admin(stage.core).rotate(T, 'old')).toBe(v);
      // Through the Gateway that follows the rotations: its lease moves on with them.
      for (let tries = 0; !blobs.has(v); tries++) {
        if (tries > 250) throw new Error(`the Gateway did not move on to version ${v}`);
        const made = ok(await c.call([v, 'key.create', { service: 'old' }]));
        if (made.blob.readUInt32BE(6 + T.length + 3) === v)
          blobs.set(v, { blob: Buffer.from(made.blob), plaintext: Buffer.from(made.plaintext) });
        else await new Promise((r) => setTimeout(r, 20));
      }
    }
  }, 120_000);
  afterAll(async () => {
    await stage?.stop();
  });

  it('a scope with 40 versions is leased as 33 (ACTIVE and the newest 32), and a blob of version 1 still decrypts through a fresh Gateway, leased on demand', async () => {
    const g = await stage.startGateway();
    const c = await connect(`ws://127.0.0.1:${g.server.port}/v1/ws`, stage.tokens.app);
    try {
      expect(ok(await c.call([1, 'key.create', { service: 'old' }])).blob.readUInt32BE(6 + T.length + 3)).toBe(40);
      const leased = () => g.cache.stats().scopes.find((s) => s.service === 'old')!;
      expect(leased().versions).toEqual(range(8, 40));
      expect(leased().activeVersion).toBe(40);
      // Older than the lease: not taken for absent, but leased on its own.
      for (const v of [1, 5, 7, 8, 40]) {
        const r = ok(await c.call([2, 'key.decrypt', { blob: blobs.get(v)!.blob }]));
        expect(r.plaintext.equals(blobs.get(v)!.plaintext)).toBe(true);
      }
      expect(leased().versions).toEqual([1, 5, 7, ...range(8, 40)]);
      // The on-demand versions are DECRYPT_ONLY: new keys still go under version 40.
      expect(ok(await c.call([3, 'key.create', { service: 'old' }])).blob.readUInt32BE(6 + T.length + 3)).toBe(40);
    } finally {
      c.close();
    }
  });

  it('a revoked old version is KEY_REVOKED when a blob names it, not absent', async () => {
    await admin(stage.core).revoke(T, 'old', 2);
    const g = await stage.startGateway();
    const c = await connect(`ws://127.0.0.1:${g.server.port}/v1/ws`, stage.tokens.app);
    try {
      const r = (await c.call([1, 'key.decrypt', { blob: blobs.get(2)!.blob }])) as [number, number, { code: string }];
      expect(r[1]).toBe(1);
      expect(r[2].code).toBe('KEY_REVOKED');
    } finally {
      c.close();
    }
  });

  it('versions leased on demand are capped per scope: the oldest-bound goes first, and comes back on demand', async () => {
    // 37 versions: 5..37 hot, 1..4 only on demand. Nothing else in this process leases acme/cold.
    for (let i = 0; i < 36; i++) await admin(stage.core).rotate(T, 'cold');
    const client = coreClientFor(stage.core);
    const cache = new LeaseCache({ core: client, maxColdVersions: 2 });
    const older = () =>
      scopes
        .list(T, 'cold')
        .map((x) => x.version)
        .filter((v) => v < 5);
    try {
      await cache.scope(T, 'cold');
      expect(older()).toEqual([]);
      for (const v of [1, 2, 3]) expect(await cache.ensureVersion(T, 'cold', v)).toBe('held');
      expect(older()).toEqual([2, 3]);
      expect(await cache.ensureVersion(T, 'cold', 1)).toBe('held');
      expect(older()).toEqual([1, 3]);
      expect(scopes.list(T, 'cold')).toHaveLength(35);
    } finally {
      cache.stop();
      await client.close();
    }
  });

  it('the arena is a metric on the Core and the Gateway, and its use moves: up with what is leased, bounded under rotation', async () => {
    const coreAfter = await coreMetrics();
    expect(metric(coreAfter, 'krypton_arena_bytes')).toBeGreaterThanOrEqual(256 * 1024);
    const coreUsed = metric(coreAfter, 'krypton_arena_used_bytes');
    expect(coreUsed).toBeGreaterThan(coreUsedBefore);
    // Ten more rotations: the Core retires as many old versions from its arena as it adds.
    for (let i = 0; i < 10; i++) await admin(stage.core).rotate(T, 'old');
    expect(metric(await coreMetrics(), 'krypton_arena_used_bytes')).toBe(coreUsed);

    const gatewayMetrics = async () => (await fetch(`${stage.httpUrl}/metrics`)).text();
    const before = await gatewayMetrics();
    expect(metric(before, 'krypton_arena_bytes')).toBeGreaterThanOrEqual(256 * 1024);
    const c = await stage.ws(stage.tokens.app);
    ok(await c.call([1, 'key.create', { service: 'meter' }]));
    expect(metric(await gatewayMetrics(), 'krypton_arena_used_bytes')).toBeGreaterThan(
      metric(before, 'krypton_arena_used_bytes'),
    );
  });
});
