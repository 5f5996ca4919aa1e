import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeEvent, type OrbitalEvent, type Scope } from '../../src/protocol/orbital-events.js';
import { REPAIR_EVERY_MS } from '../../src/mesh/drift-repair.js';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import { startRegistry, type RunningRegistry } from '../../src/registry/service.js';
import { captureLogger } from '../mesh/helpers.js';
import { actorConfig, collect, summary, tempPki, type TempPki, meshAs, publishAs } from './fixtures.js';

let t: TempPki;
beforeAll(async () => {
  t = await tempPki('registry');
});
afterAll(() => t.cleanup());

describe('Registry', () => {
  let bus: MemoryBus;
  let reg: RunningRegistry;
  let got: OrbitalEvent[];
  let lines: Array<Record<string, unknown>>;
  let store: string;
  let clock: number;

  beforeEach(async () => {
    const captured = captureLogger();
    lines = captured.lines;
    bus = new MemoryBus({ logger: captured.logger });
    const config = actorConfig('registry', t);
    store = config.store.slice('sqlite:'.length);
    clock = Date.now();
    reg = await startRegistry(config, { bus, logger: captured.logger, now: () => clock });
    got = await collect(meshAs(bus, t, 'core'));
  });

  afterEach(async () => {
    await reg.stop();
    await bus.close();
  });

  /** Everything written is published and every consumer has drained. */
  const settle = async () => {
    await bus.idle();
    await reg.runtime.outbox.flush();
    await bus.idle();
  };
  const manifest = (tenants: string[], scopes: Scope[], at = 1_000, core = 'core-eu1') =>
    makeEvent('State.Manifest', core, { core, tenants, scopes, at });

  it('emits exactly one event per change, and none when nothing changes', async () => {
    const r = reg.registry;
    expect((await r.onboard('acme')).changed).toBe(true);
    expect((await r.onboard('acme')).changed).toBe(false);
    await r.defineScope('acme', 'billing', 3600);
    await r.defineScope('acme', 'billing', 3600);
    await r.defineScope('acme', 'billing', null);
    await r.defineScope('acme', 'audit', undefined);
    await r.deleteScope('acme', 'audit');
    await r.deleteScope('acme', 'audit');
    await settle();
    expect(summary(got)).toEqual([
      ['Tenant.Define', { tenant: 'acme', action: 'onboard' }],
      ['Key.Define', { tenant: 'acme', service: 'billing', action: 'define', rotateAfterSeconds: 3600 }],
      ['Key.Define', { tenant: 'acme', service: 'billing', action: 'define', rotateAfterSeconds: null }],
      ['Key.Define', { tenant: 'acme', service: 'audit', action: 'define', rotateAfterSeconds: null }],
      ['Key.Define', { tenant: 'acme', service: 'audit', action: 'delete' }],
    ]);
    expect(got.every((e) => e.source === 'registry')).toBe(true);
  });

  it('offboarding deletes the scopes and emits one Tenant.Define offboard', async () => {
    const r = reg.registry;
    await r.onboard('acme');
    await r.defineScope('acme', 'billing', null);
    await settle();
    got.length = 0;
    await r.offboard('acme');
    await settle();
    expect(summary(got)).toEqual([['Tenant.Define', { tenant: 'acme', action: 'offboard' }]]);
    const [view] = await r.list();
    expect(view).toMatchObject({
      tenant: 'acme',
      state: 'OFFBOARDED',
      scopes: [{ service: 'billing', state: 'DELETED' }],
    });
    await expect(r.defineScope('acme', 'billing', null)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('refuses unknown tenants and scopes (NOT_FOUND) and bad ids or policies (BAD_REQUEST), emitting nothing', async () => {
    const r = reg.registry;
    await expect(r.offboard('ghost')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(r.defineScope('ghost', 'app', null)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await r.onboard('acme');
    await expect(r.deleteScope('acme', 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(r.onboard('bad id')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(r.defineScope('acme', 'x'.repeat(65), null)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    for (const bad of [59, 60.5, '3600', -1])
      await expect(r.defineScope('acme', 'app', bad)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await settle();
    expect(summary(got)).toEqual([['Tenant.Define', { tenant: 'acme', action: 'onboard' }]]);
  });

  it('a change that rolls back after writing emits nothing and leaves the state as it was', async () => {
    const r = reg.registry;
    await r.onboard('acme');
    await r.defineScope('acme', 'billing', null);
    await settle();
    const before = await reg.runtime.outbox.rows();
    // A real failure inside offboard, after it has written the tenant row.
    const db = new Database(store);
    db.exec(`CREATE TRIGGER fail_scope_update BEFORE UPDATE ON scopes BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    try {
      await expect(r.offboard('acme')).rejects.toThrow();
    } finally {
      db.exec('DROP TRIGGER fail_scope_update');
      db.close();
    }
    await settle();
    expect(await reg.runtime.outbox.rows()).toEqual(before);
    expect((await r.list())[0]).toMatchObject({ state: 'ACTIVE', scopes: [{ state: 'DEFINED' }] });
    expect(got).toHaveLength(2);
  });

  describe('State.Manifest reconciliation', () => {
    beforeEach(async () => {
      const r = reg.registry;
      await r.onboard('acme');
      await r.defineScope('acme', 'billing', 86400);
      await r.defineScope('acme', 'old', null);
      await r.deleteScope('acme', 'old');
      await r.onboard('gone');
      await r.defineScope('gone', 'app', null);
      await r.offboard('gone');
      await settle();
      got.length = 0;
    });

    it('purges deleted scopes and those of offboarded tenants, re-offboards tenants, leaves unknown ones alone', async () => {
      await publishAs(
        bus,
        t,
        manifest(
          ['acme', 'gone', 'stranger'],
          [
            { tenant: 'acme', service: 'billing' },
            { tenant: 'acme', service: 'old' },
            { tenant: 'gone', service: 'app' },
            { tenant: 'acme', service: 'never' },
          ],
        ),
      );
      await settle();
      expect(summary(got)).toEqual([
        ['Key.Purge', { tenant: 'acme', service: 'old' }],
        ['Key.Purge', { tenant: 'gone', service: 'app' }],
        ['Tenant.Define', { tenant: 'gone', action: 'offboard' }],
      ]);
      expect(lines.some((l) => String(l.msg).includes('never defined here'))).toBe(true);
      expect((await reg.registry.manifests())[0]).toMatchObject({ core: 'core-eu1', at: 1_000, tenants: 3, scopes: 4 });
    });

    it('repairs drift: a fresh Core that serves nothing gets every live tenant and scope again', async () => {
      await publishAs(bus, t, manifest([], []));
      await settle();
      expect(summary(got)).toEqual([
        ['Tenant.Define', { tenant: 'acme', action: 'onboard' }],
        ['Key.Define', { tenant: 'acme', service: 'billing', action: 'define', rotateAfterSeconds: 86400 }],
      ]);
    });

    it('repeats a repair to the same Core only once the repair period has passed; another Core gets it at once', async () => {
      await publishAs(bus, t, manifest([], [], 1_000));
      await settle();
      expect(got).toHaveLength(2);
      await publishAs(bus, t, manifest([], [], 2_000));
      await publishAs(bus, t, manifest([], [], 2_000, 'core-us1'));
      await settle();
      expect(got).toHaveLength(4);
      clock += REPAIR_EVERY_MS;
      await publishAs(bus, t, manifest([], [], 3_000));
      await settle();
      expect(got).toHaveLength(6);
    });

    it('a Core in line with the intent gets nothing', async () => {
      await publishAs(bus, t, manifest(['acme'], [{ tenant: 'acme', service: 'billing' }]));
      await settle();
      expect(got).toEqual([]);
    });

    it('a duplicated or redelivered manifest changes nothing; an older one of the same Core is ignored', async () => {
      const m = manifest([], [], 2_000);
      await publishAs(bus, t, m);
      await settle();
      const rows = await reg.runtime.outbox.rows();
      expect(got).toHaveLength(2);
      await publishAs(bus, t, m);
      await settle();
      expect(await reg.runtime.outbox.rows()).toEqual(rows);
      await publishAs(bus, t, manifest([], [], 1_500));
      await settle();
      expect(await reg.runtime.outbox.rows()).toEqual(rows);
      expect(got).toHaveLength(2);
      expect((await reg.registry.manifests())[0]?.at).toBe(2_000);
      const metrics = reg.runtime.metrics.render();
      expect(metrics).toContain('krypton_orbital_events_handled_total{type="State.Manifest",outcome="duplicate"} 1');
      expect(metrics).toContain('krypton_orbital_events_handled_total{type="State.Manifest",outcome="applied"} 2');
    });
  });
});
