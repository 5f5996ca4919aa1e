/**
 * DR 3 (ACD-402 tier 3): a region's Core is lost with its local state (tier
 * 1 in memory, tier-2 IVK files on disk). A fresh Core on the replicated
 * KSI (PostgreSQL), unsealed by the same operators, hydrates from it and
 * from the Registry's definitions and the CMK Server's references (sent
 * again when its first manifest shows what it lacks), and serves the same L3
 * versions: blobs made before the loss still decrypt through a Gateway.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, decrypt, info, openStage, SKIP_AMQP, waitUntil, type Stage } from './fixture.js';

const PG = process.env.KRYPTON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SCHEMA = `krypton_dr_${process.pid}_${Date.now().toString(36)}`;

describe.skipIf(SKIP_AMQP)('DR 3: region loss', () => {
  let stage: Stage;
  beforeAll(async () => {
    stage = await openStage({ ksi: `${PG}?schema=${SCHEMA}` });
  }, 60_000);
  afterAll(async () => {
    await stage?.cleanup();
    const c = new pg.Client({ connectionString: PG });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await c.end();
  });

  it('a fresh Core on the replicated KSI serves the same versions; old blobs decrypt', async () => {
    const { cluster } = stage;
    const gw = await stage.gateway();
    const v1 = await create(gw, 'app');
    await cluster.call('core', 'POST', '/v1/admin/tenants/demo/services/app/rotate');
    // The rotation reaches the Gateway as an event; wait for a blob under version 2.
    const v2 = await waitUntil('a blob under version 2', async () => {
      const r = await create(gw, 'app');
      return (await info(gw, r.blob!)).version === 2 ? r : null;
    });
    expect((await info(gw, v1.blob!)).version).toBe(1);
    gw.close();
    const before = ((await stage.served('demo', 'app')) as Array<{ version: number; state: string }>).map((v) => [
      v.version,
      v.state,
    ]);

    // The region goes: the Core and its Gateway die, the Core's local state is destroyed.
    await cluster.kill('gateway');
    await cluster.kill('core');
    rmSync(join(stage.dir, 'core-core-a'), { recursive: true, force: true });
    // Meanwhile the Registry defines a scope the lost Core never heard of.
    await cluster.call('registry', 'POST', '/v1/registry/tenants/demo/services/later', {});

    // The survivor: a new Core (its own queue, empty local state) on the same KSI.
    await cluster.startCore(stage.coreStart('core-b'));
    await cluster.startGateway();
    expect((await stage.served('demo', 'app')).map((v) => [v.version, v.state])).toEqual(before);
    await stage.served('demo', 'later');

    const g = await stage.gateway();
    for (const old of [v1, v2]) expect((await decrypt(g, old.blob!)).plaintext!.equals(old.plaintext!)).toBe(true);
    expect((await create(g, 'later')).ok).toBe(true);
    g.close();
  }, 120_000);
});
