/**
 * Authenticated events at the actors that consume Core manifests and
 * Registry definitions (review M2): the Registry and the CMK Server take a
 * State.Manifest only from a Core they trust, signed by it, and the CMK
 * Server a Tenant.Define only from the Registry. A forged manifest would
 * otherwise steer reconciliation (purges, revocations, re-sent links) and
 * plant an audit head; the mesh dead-letters it before the handler runs.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCmk, type RunningCmk } from '../../src/cmk/service.js';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import { startRegistry, type RunningRegistry } from '../../src/registry/service.js';
import { makeEvent, type OrbitalEvent } from '../../src/protocol/orbital-events.js';
import { actorConfig, collect, meshAs, pkiAuth, publishAs, tempPki, type TempPki } from '../registry/fixtures.js';
import { signedBy, unsigned } from '../security/orbital-stage.js';
import { captureLogger, waitFor } from './helpers.js';
import { freshKey } from './keyring.js';
import { objectContaining } from '../helpers/matchers.js';

let t: TempPki;
beforeAll(async () => {
  t = await tempPki('signed-events');
});
afterAll(() => t.cleanup());

describe('forged events at the Registry and the CMK Server', () => {
  let bus: MemoryBus;
  let reg: RunningRegistry;
  let cmk: RunningCmk;
  let got: OrbitalEvent[];
  let lines: Array<Record<string, unknown>>;

  beforeEach(async () => {
    const captured = captureLogger();
    lines = captured.lines;
    bus = new MemoryBus({ logger: captured.logger });
    reg = await startRegistry(actorConfig('registry', t), { bus, logger: captured.logger });
    cmk = await startCmk({ ...actorConfig('cmk', t), heartbeatSeconds: 3600 }, { bus, logger: captured.logger });
    got = await collect(meshAs(bus, t, 'core'), 'core', [
      'Key.Purge',
      'L1.Revoke',
      'Tenant.Define',
      'Key.Define',
      'L1.Reference',
    ]);
    await reg.registry.onboard('acme');
    await reg.registry.defineScope('acme', 'billing', null);
    await reg.registry.deleteScope('acme', 'billing');
    await cmk.links.link('acme', 'soft', '/keys/acme.key');
    await settle();
    got.length = 0;
  });
  afterEach(async () => {
    await cmk.stop();
    await reg.stop();
    await bus.close();
  });

  const settle = async () => {
    await bus.idle();
    await reg.runtime.outbox.flush();
    await cmk.runtime.outbox.flush();
    await bus.idle();
  };
  const reasons = () =>
    lines
      .filter((l) => l['msg'] === 'orbital: event dead-lettered' && l['consumer'] !== null)
      .map((l) => String(l['reason']));
  /**
   * A manifest in which core-eu1 serves the deleted scope and a tenant never linked: genuine, it would draw a Key.Purge
   * and an L1.Revoke.
   */
  const manifest = (source = 'core-eu1') =>
    makeEvent('State.Manifest', source, {
      core: source,
      tenants: ['acme', 'ghost'],
      scopes: [{ tenant: 'acme', service: 'billing' }],
      at: Date.now(),
      audit: { seq: 99, hash: `m1:${'0'.repeat(64)}` },
    });

  it('a forged State.Manifest (unsigned, a stranger claiming a Core, the Registry posing as one) steers no reconciliation and records no audit head', async () => {
    const registryKey = pkiAuth(t, 'registry');
    const stranger = freshKey();
    try {
      bus.publishRaw(unsigned(manifest()));
      bus.publishRaw(signedBy(manifest(), stranger).toString());
      bus.publishRaw(signedBy(manifest('registry'), registryKey.key).toString());
      await settle();
    } finally {
      registryKey.destroy();
      stranger.destroy();
    }
    expect(got).toEqual([]);
    expect(await reg.registry.manifests()).toEqual([]);
    expect(await cmk.links.manifests()).toEqual([]);
    // Each body reached both consumers, and each refused it.
    expect(reasons()).toHaveLength(6);
    expect(reasons().filter((r) => /not signed/.test(r))).toHaveLength(2);
    expect(reasons().filter((r) => /registry \(role registry\) may not send State.Manifest/.test(r))).toHaveLength(2);

    // The genuine Core's manifest is reconciled, and its audit head recorded.
    await publishAs(bus, t, manifest());
    await settle();
    await waitFor(() => got.length === 2);
    expect(got.map((e) => e.type).sort()).toEqual(['Key.Purge', 'L1.Revoke']);
    expect(await reg.registry.manifests()).toEqual([
      expect.objectContaining({
        core: 'core-eu1',
        auditHead: objectContaining({ seq: 99, arg: `99:m1:${'0'.repeat(64)}` }),
      }),
    ]);
  });

  it('the CMK Server takes a Tenant.Define only from the Registry', async () => {
    const forged = makeEvent('Tenant.Define', 'core-eu1', { tenant: 'acme', action: 'offboard' });
    await publishAs(bus, t, manifest()); // a trusted Core, so the key is genuine; only the role is wrong
    await settle();
    const before = (await cmk.links.links())[0].registry;
    expect(before).toBe('ACTIVE');
    const coreKey = pkiAuth(t, 'core-eu1');
    try {
      bus.publishRaw(signedBy(forged, coreKey.key).toString());
      await settle();
    } finally {
      coreKey.destroy();
    }
    expect((await cmk.links.links())[0].registry).toBe('ACTIVE');
    expect(reasons().at(-1)).toMatch(/core-eu1 \(role core\) may not send Tenant.Define: only the registry may/);
  });

  it('an audit head that goes backwards is kept out and reported', async () => {
    await publishAs(bus, t, manifest());
    await settle();
    const older = makeEvent('State.Manifest', 'core-eu1', {
      core: 'core-eu1',
      tenants: [],
      scopes: [],
      at: Date.now() + 1,
      audit: { seq: 42, hash: `m1:${'1'.repeat(64)}` },
    });
    await publishAs(bus, t, older);
    await settle();
    expect((await reg.registry.manifests())[0].auditHead).toMatchObject({ seq: 99 });
    expect(lines.some((l) => /audit head core-eu1 published is behind the one on file/.test(String(l['msg'])))).toBe(
      true,
    );
  });
});
