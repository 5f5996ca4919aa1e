import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCmk, type RunningCmk } from '../../src/cmk/service.js';
import { makeEvent, type OrbitalEvent } from '../../src/protocol/orbital-events.js';
import { REPAIR_EVERY_MS } from '../../src/mesh/drift-repair.js';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import { captureLogger, waitFor } from '../mesh/helpers.js';
import { actorConfig, collect, summary, tempPki, type TempPki, meshAs, publishAs } from '../registry/fixtures.js';

let t: TempPki;
beforeAll(async () => {
  t = await tempPki('cmk');
});
afterAll(() => t.cleanup());

const SOFT = '/keys/acme.key';
const HSM = 'pkcs11:token=acme;object=l1;type=secret-key';

describe('CMK Server', () => {
  let bus: MemoryBus;
  let cmk: RunningCmk;
  let got: OrbitalEvent[];
  let beats: OrbitalEvent[];
  let clock: number;

  const start = async (heartbeatSeconds = 3600) => {
    const { logger } = captureLogger();
    bus = new MemoryBus({ logger });
    got = await collect(meshAs(bus, t, 'core'), 'core', ['L1.Reference', 'L1.Revoke']);
    beats = await collect(meshAs(bus, t, 'core'), 'core-hb', ['Sovereign.Heartbeat']);
    clock = Date.now();
    cmk = await startCmk({ ...actorConfig('cmk', t), heartbeatSeconds }, { bus, logger, now: () => clock });
  };
  const settle = async () => {
    await bus.idle();
    await cmk.runtime.outbox.flush();
    await bus.idle();
  };
  const manifest = (tenants: string[], at = 1_000) =>
    makeEvent('State.Manifest', 'core-eu1', { core: 'core-eu1', tenants, scopes: [], at });

  afterEach(async () => {
    await cmk.stop();
    await bus.close();
  });

  describe('links', () => {
    beforeEach(() => start());

    it('link emits L1.Reference link; unlink emits L1.Reference unlink and L1.Revoke', async () => {
      expect((await cmk.links.link('acme', 'soft', SOFT)).changed).toBe(true);
      expect((await cmk.links.link('acme', 'soft', SOFT)).changed).toBe(false);
      await cmk.links.link('acme', 'pkcs11', HSM);
      await cmk.links.unlink('acme');
      await settle();
      // L1.Revoke may overtake routine events (the priority lane): compare as a set.
      expect(got).toHaveLength(4);
      expect(summary(got)).toEqual(
        expect.arrayContaining([
          ['L1.Reference', { tenant: 'acme', action: 'link', kind: 'soft', ref: SOFT }],
          ['L1.Reference', { tenant: 'acme', action: 'link', kind: 'pkcs11', ref: HSM }],
          ['L1.Reference', { tenant: 'acme', action: 'unlink' }],
          ['L1.Revoke', { tenant: 'acme', reason: 'L1 unlinked' }],
        ]),
      );
      expect((await cmk.links.links())[0]).toMatchObject({ tenant: 'acme', state: 'UNLINKED', registry: null });
    });

    it('refuses bad references, PINs in URIs and unlinking what is not linked, emitting nothing', async () => {
      const l = cmk.links;
      await expect(l.link('acme', 'aws', 'arn:x')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(l.link('acme', 'soft', '')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(l.link('acme', 'soft', 'x'.repeat(2049))).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(l.link('acme', 'pkcs11', '/not/a/uri')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      const pin = l.link('acme', 'pkcs11', `${HSM}?pin-value=123456`);
      await expect(pin).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(pin).rejects.not.toThrow(/123456/);
      await expect(l.link('bad/tenant', 'soft', SOFT)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(l.unlink('acme')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await l.link('acme', 'soft', SOFT);
      await l.unlink('acme');
      await expect(l.unlink('acme')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await settle();
      expect(got.map((e) => e.type).sort()).toEqual(['L1.Reference', 'L1.Reference', 'L1.Revoke']);
    });

    it('records the tenants the Registry defines, in any order with links', async () => {
      await cmk.links.link('acme', 'soft', SOFT);
      await publishAs(bus, t, makeEvent('Tenant.Define', 'registry', { tenant: 'acme', action: 'onboard' }));
      await settle();
      expect((await cmk.links.links())[0]?.registry).toBe('ACTIVE');
      await publishAs(bus, t, makeEvent('Tenant.Define', 'registry', { tenant: 'acme', action: 'offboard' }));
      await settle();
      expect((await cmk.links.links())[0]?.registry).toBe('OFFBOARDED');
    });
  });

  describe('State.Manifest reconciliation', () => {
    beforeEach(async () => {
      await start();
      await cmk.links.link('linked', 'soft', SOFT);
      await cmk.links.link('hsm', 'pkcs11', HSM);
      await cmk.links.link('cut', 'soft', SOFT);
      await cmk.links.unlink('cut');
      await settle();
      got.length = 0;
    });

    it('revokes tenants served without a linked L1 and re-sends links missing from the Core', async () => {
      await publishAs(bus, t, manifest(['linked', 'cut', 'stranger']));
      await settle();
      // L1.Revoke travels in the priority lane, so it arrives first.
      expect(summary(got)).toEqual([
        ['L1.Revoke', { tenant: 'cut', reason: 'served without a linked L1' }],
        ['L1.Revoke', { tenant: 'stranger', reason: 'served without a linked L1' }],
        ['L1.Reference', { tenant: 'hsm', action: 'link', kind: 'pkcs11', ref: HSM }],
      ]);
      expect(await cmk.links.manifests()).toEqual([expect.objectContaining({ core: 'core-eu1', tenants: 3 })]);
    });

    it('sends a missing link to a Core again only once the repair period has passed, but revokes every time', async () => {
      await publishAs(bus, t, manifest(['cut'], 1_000));
      await publishAs(bus, t, manifest(['cut'], 2_000));
      await settle();
      expect(
        summary(got)
          .map(([type, p]) => `${type}:${(p as { tenant: string }).tenant}`)
          .sort(),
      ).toEqual(['L1.Reference:hsm', 'L1.Reference:linked', 'L1.Revoke:cut', 'L1.Revoke:cut']);
      clock += REPAIR_EVERY_MS;
      await publishAs(bus, t, manifest(['cut'], 3_000));
      await settle();
      expect(got).toHaveLength(7);
    });

    it('a Core in line gets nothing; a duplicated manifest changes nothing', async () => {
      const m = manifest(['linked', 'hsm'], 5_000);
      await publishAs(bus, t, m);
      await settle();
      const rows = await cmk.runtime.outbox.rows();
      await publishAs(bus, t, manifest(['cut'], 4_000)); // older: ignored
      await publishAs(bus, t, m);
      await settle();
      expect(got).toEqual([]);
      expect(await cmk.runtime.outbox.rows()).toEqual(rows);
      expect(cmk.runtime.metrics.render()).toContain(
        'krypton_orbital_events_handled_total{type="State.Manifest",outcome="duplicate"} 1',
      );
    });
  });

  it('publishes Sovereign.Heartbeat at start and every heartbeatSeconds, straight to the mesh', async () => {
    await start(1);
    await waitFor(() => beats.length >= 2, 10_000, 'two heartbeats');
    expect(beats[0]).toMatchObject({ type: 'Sovereign.Heartbeat', source: 'cmk', payload: { cmk: 'cmk' } });
    expect(await cmk.runtime.outbox.rows()).toEqual([]);
    expect(cmk.heartbeat.counts.sent).toBeGreaterThanOrEqual(2);
  });

  it('a heartbeat that cannot be published is counted, not thrown', async () => {
    await start(1);
    await bus.close();
    await waitFor(() => cmk.heartbeat.counts.failed >= 1, 10_000, 'a failed heartbeat');
    expect(cmk.runtime.metrics.render()).toContain('krypton_cmk_heartbeats_total{outcome="failed"}');
  });
});
