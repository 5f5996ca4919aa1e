import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCmk } from '../../src/cmk/service.js';
import { makeEvent } from '../../src/protocol/orbital-events.js';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import { startRegistry } from '../../src/registry/service.js';
import { captureLogger } from '../mesh/helpers.js';
import { actorConfig, collect, summary, tempPki, type TempPki, meshAs, publishAs } from './fixtures.js';

const PG_URL = process.env.KRYPTON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RUN = randomBytes(5).toString('hex');
const schemas = [`registry_${RUN}`, `cmk_${RUN}`];
const urlFor = (schema: string) => {
  const u = new URL(PG_URL);
  u.searchParams.set('schema', schema);
  return u.toString();
};

describe.skipIf(process.env.KRYPTON_SKIP_PG === '1')('Registry and CMK Server on PostgreSQL', () => {
  let t: TempPki;
  beforeAll(async () => {
    t = await tempPki('actors-pg');
  });
  afterAll(async () => {
    t.cleanup();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await c.end();
  });

  it('onboards, links, reconciles a manifest once, and keeps its state across a restart', async () => {
    const { logger } = captureLogger();
    const bus = new MemoryBus({ logger });
    const got = await collect(meshAs(bus, t, 'core'), 'core', [
      'Tenant.Define',
      'Key.Define',
      'L1.Reference',
      'L1.Revoke',
      'Key.Purge',
    ]);
    const regConfig = actorConfig('registry', t, { store: urlFor(schemas[0]) });
    const cmkConfig = { ...actorConfig('cmk', t, { store: urlFor(schemas[1]) }), heartbeatSeconds: 3600 };
    let reg = await startRegistry(regConfig, { bus, logger });
    const cmk = await startCmk(cmkConfig, { bus, logger });
    try {
      await reg.registry.onboard('acme');
      await reg.registry.defineScope('acme', 'app', 3600);
      await cmk.links.link('acme', 'soft', '/keys/acme.key');
      const m = makeEvent('State.Manifest', 'core-eu1', { core: 'core-eu1', tenants: [], scopes: [], at: 1 });
      await publishAs(bus, t, m);
      await publishAs(bus, t, m);
      await bus.idle();
      await reg.runtime.outbox.flush();
      await cmk.runtime.outbox.flush();
      await bus.idle();
      const types = summary(got).map(([type, p]) => `${type} ${(p as { action?: string }).action}`);
      // Once for the operations, once more for the drift the (single, duplicated) manifest showed.
      expect(types.sort()).toEqual([
        'Key.Define define',
        'Key.Define define',
        'L1.Reference link',
        'L1.Reference link',
        'Tenant.Define onboard',
        'Tenant.Define onboard',
      ]);
      expect((await cmk.links.links())[0]).toMatchObject({ tenant: 'acme', state: 'LINKED', registry: 'ACTIVE' });

      await reg.stop();
      reg = await startRegistry(regConfig, { bus, logger });
      expect(await reg.registry.list()).toEqual([
        expect.objectContaining({
          tenant: 'acme',
          scopes: [expect.objectContaining({ service: 'app', rotateAfterSeconds: 3600 })],
        }),
      ]);
      expect(await reg.runtime.outbox.pending()).toBe(0);
    } finally {
      await reg.stop();
      await cmk.stop();
      await bus.close();
    }
  });
});
