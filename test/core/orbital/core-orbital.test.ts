import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSoftL1Key } from '../../../src/core/l1/index.js';
import { CoreOrbital } from '../../../src/core/orbital/node.js';
import { MemoryBus } from '../../../src/mesh/memory-bus.js';
import type { Mesh } from '../../../src/mesh/mesh.js';
import { makeEvent, type EventType, type OrbitalEvent, type Payloads } from '../../../src/protocol/orbital-events.js';
import { testKeyring } from '../../mesh/keyring.js';
import { HpkeRecipient } from '../../../src/native/index.js';
import { captureLogger, waitFor } from '../../mesh/helpers.js';
import { GATEWAY, openTestCore } from '../core-fixture.js';
import { newLeaseRequest } from '../../../src/protocol/lease.js';

const HOUR = 3_600_000;
const code = (c: string): unknown => expect.objectContaining({ code: c });

const keys = testKeyring();

describe('the Core on Orbital', () => {
  let t: Awaited<ReturnType<typeof openTestCore>>;
  let bus: MemoryBus;
  /** The actors' endpoints: the Registry and the CMK Server (played by the test) and the Core's. */
  let as: Record<'registry' | 'cmk' | 'core', Mesh>;
  let node: CoreOrbital;
  let manifests: Array<Payloads['State.Manifest']>;
  let l1: string;
  let shares: Buffer[];

  beforeEach(async () => {
    t = await openTestCore();
    shares = await t.core.init();
    const { logger } = captureLogger();
    bus = new MemoryBus({ logger });
    as = {
      registry: keys.on(bus, 'registry'),
      cmk: keys.on(bus, 'cmk'),
      core: keys.on(bus, 'core-a', { now: () => t.clock.now() }),
    };
    manifests = [];
    await as.registry.subscribe('registry', ['State.Manifest'], async (e) => {
      if (e.type === 'State.Manifest') manifests.push(e.payload);
    });
    node = await CoreOrbital.attach(t.core, {
      id: 'core-a',
      mesh: as.core,
      logger,
      manifestSeconds: 3600,
      sovereignTtlSeconds: 24 * 3600,
    });
    l1 = join(t.dir, 'demo.l1');
    createSoftL1Key(l1);
  });

  afterEach(async () => {
    await node.stop();
    await bus.close();
    await t.cleanup();
  });

  const send = async <T extends EventType>(
    type: T,
    payload: Payloads[T],
    source = type.startsWith('L1') || type === 'Sovereign.Heartbeat' ? 'cmk' : 'registry',
  ): Promise<OrbitalEvent> => {
    const e = makeEvent(type, source, payload, { at: t.clock.now() }) as OrbitalEvent;
    await as[source as 'registry' | 'cmk'].publish(e);
    await bus.idle();
    return e;
  };
  const lease = (tenant: string, service: string) => {
    const r = HpkeRecipient.generate();
    return t.core.issueLease(GATEWAY, newLeaseRequest(tenant, service, r.publicKey)).finally(() => r.destroy());
  };
  const versions = (tenant: string, service: string) => t.core.ksi.read((tx) => tx.listL3(tenant, service));

  it('serves a tenant once the Registry defined it and the CMK Server linked its L1, in either order', async () => {
    await send('Tenant.Define', { tenant: 'acme', action: 'onboard' });
    await send('Key.Define', { tenant: 'acme', service: 'billing', action: 'define', rotateAfterSeconds: 3600 });
    // Defined, but not served: no L1 yet, so no L2 and no keys.
    expect(await t.core.ksi.read((tx) => tx.listL2('acme'))).toEqual([]);
    await expect(lease('acme', 'billing')).rejects.toThrow();

    await send('L1.Reference', { tenant: 'acme', action: 'link', kind: 'soft', ref: l1 });
    const [l2] = await t.core.ksi.read((tx) => tx.listL2('acme'));
    expect(l2.wrappedSovereign).not.toBeNull();
    expect((await lease('acme', 'billing')).versions.map((v) => v.version)).toEqual([1]);

    // The other order: the link first, then the Registry's definitions.
    await send('L1.Reference', { tenant: 'zeta', action: 'link', kind: 'soft', ref: l1 });
    expect((await t.core.tenants.get('zeta'))!.state).toBe('OFFBOARDED');
    await send('Tenant.Define', { tenant: 'zeta', action: 'onboard' });
    await send('Key.Define', { tenant: 'zeta', service: 'api', action: 'define' });
    expect((await lease('zeta', 'api')).versions).toHaveLength(1);
  });

  it('a duplicated or redelivered event changes nothing, and older news about a subject is dropped', async () => {
    await send('Tenant.Define', { tenant: 'acme', action: 'onboard' });
    await send('L1.Reference', { tenant: 'acme', action: 'link', kind: 'soft', ref: l1 });
    const define = await send('Key.Define', { tenant: 'acme', service: 'billing', action: 'define' });
    const audit = async () => (await t.core.ksi.read((tx) => tx.auditSince(0, 10_000))).length;
    const before = await audit();
    await as.registry.publish(define);
    await bus.idle();
    expect(await audit()).toBe(before);

    t.clock.advance(1000);
    await send('Key.Define', { tenant: 'acme', service: 'billing', action: 'delete' });
    // A define stamped before the delete (a retry that lost its place) must not bring the scope back.
    const stale = makeEvent(
      'Key.Define',
      'registry',
      { tenant: 'acme', service: 'billing', action: 'define' },
      { at: t.clock.now() - 500 },
    );
    await as.registry.publish(stale);
    await bus.idle();
    expect((await t.core.ksi.read((tx) => tx.getScope('acme', 'billing')))!.deleted).toBe(true);
    expect(node.status().events).toMatchObject({ 'Key.Define:duplicate': 1, 'Key.Define:stale': 1 });
  });

  it('Key.Purge deletes the scope and destroys every version; the manifest no longer lists it', async () => {
    await send('Tenant.Define', { tenant: 'acme', action: 'onboard' });
    await send('L1.Reference', { tenant: 'acme', action: 'link', kind: 'soft', ref: l1 });
    await send('Key.Define', { tenant: 'acme', service: 'billing', action: 'define' });
    await t.core.rotate('acme', 'billing');
    await bus.idle();
    let n = manifests.length;
    await node.publishManifest();
    await waitFor(() => manifests.length === n + 1);
    expect(manifests.at(-1)).toMatchObject({
      core: 'core-a',
      tenants: ['acme'],
      scopes: [{ tenant: 'acme', service: 'billing' }],
    });

    const seen: string[] = [];
    t.core.events.subscribe((e) => seen.push(`${e.type}:${e.service}`));
    await send('Key.Purge', { tenant: 'acme', service: 'billing' });
    expect(seen).toEqual(['scope.deleted:billing']);
    expect((await versions('acme', 'billing')).map((v) => v.state)).toEqual(['REVOKED', 'REVOKED']);
    await expect(lease('acme', 'billing')).rejects.toThrow(code('UNKNOWN_SERVICE'));
    n = manifests.length;
    await node.publishManifest();
    await waitFor(() => manifests.length === n + 1);
    expect(manifests.at(-1)!.scopes).toEqual([]);
  });

  it('L1.Revoke kills the tenant at once (tenant.revoked for Gateways, L2 left only under the L1); a relink brings the same keys back', async () => {
    await send('Tenant.Define', { tenant: 'acme', action: 'onboard' });
    await send('L1.Reference', { tenant: 'acme', action: 'link', kind: 'soft', ref: l1 });
    await send('Key.Define', { tenant: 'acme', service: 'billing', action: 'define' });
    const seen: string[] = [];
    t.core.events.subscribe((e) => seen.push(`${e.type}:${e.tenant}`));
    await send('L1.Revoke', { tenant: 'acme', reason: 'served without a linked L1' });
    expect(seen).toEqual(['tenant.revoked:acme']);
    await expect(lease('acme', 'billing')).rejects.toThrow(code('KEY_REVOKED'));
    // Not just a state: the IVK-side binding is gone. Even a KSI forced back
    // to ACTIVE (a bug, or someone with write access) cannot serve the L2.
    const [l2] = await t.core.ksi.read((tx) => tx.listL2('acme'));
    expect(l2.wrappedActive.length).toBe(0);
    const row = (await t.core.tenants.get('acme'))!;
    await t.core.ksi.tx((tx) => tx.putTenant({ ...row, state: 'ACTIVE' }));
    await expect(lease('acme', 'billing')).rejects.toThrow(/held only under its L1/);
    await t.core.ksi.tx((tx) => tx.putTenant(row));
    t.clock.advance(1000);
    await send('L1.Reference', { tenant: 'acme', action: 'link', kind: 'soft', ref: l1 });
    expect((await lease('acme', 'billing')).versions.map((v) => v.version)).toEqual([1]);
  });

  it('offboarding stops serving; onboarding again serves the same versions', async () => {
    await send('Tenant.Define', { tenant: 'acme', action: 'onboard' });
    await send('L1.Reference', { tenant: 'acme', action: 'link', kind: 'soft', ref: l1 });
    await send('Key.Define', { tenant: 'acme', service: 'billing', action: 'define' });
    t.clock.advance(1000);
    await send('Tenant.Define', { tenant: 'acme', action: 'offboard' });
    await expect(lease('acme', 'billing')).rejects.toThrow(code('KEY_REVOKED'));
    t.clock.advance(1000);
    await send('Tenant.Define', { tenant: 'acme', action: 'onboard' });
    expect((await lease('acme', 'billing')).versions.map((v) => v.version)).toEqual([1]);
  });

  it('deadman: silence past the Strict Sovereign TTL pauses key serving with a reason; a heartbeat resumes it', async () => {
    await send('Tenant.Define', { tenant: 'acme', action: 'onboard' });
    await send('L1.Reference', { tenant: 'acme', action: 'link', kind: 'soft', ref: l1 });
    await send('Key.Define', { tenant: 'acme', service: 'billing', action: 'define' });
    await send('Sovereign.Heartbeat', { cmk: 'cmk', at: t.clock.now() });
    const seen: string[] = [];
    t.core.events.subscribe((e) => seen.push(e.type));
    t.clock.advance(23 * HOUR);
    await expect(lease('acme', 'billing')).resolves.toBeDefined();
    t.clock.advance(2 * HOUR);
    // Gateways are told at once, so they drop their leases rather than serve until they expire.
    await waitFor(() => seen.includes('serving.paused'), 5_000, 'serving.paused');
    await expect(lease('acme', 'billing')).rejects.toThrow(
      /sovereign deadman: no word from the CMK Server for 25h00m \(Strict Sovereign TTL 24h00m\)/,
    );
    expect(node.status().sovereignty).toMatchObject({ serving: false, cmk: 'cmk', silentSeconds: 25 * 3600 });
    await send('Sovereign.Heartbeat', { cmk: 'cmk', at: t.clock.now() });
    await expect(lease('acme', 'billing')).resolves.toBeDefined();
    expect(node.status().sovereignty).toMatchObject({ serving: true, reason: null });
    await waitFor(() => seen.includes('serving.resumed'), 5_000, 'serving.resumed');
  });

  it('the time last heard survives a restart: a restarted Core gets no fresh TTL', async () => {
    await send('Sovereign.Heartbeat', { cmk: 'cmk', at: t.clock.now() });
    await node.stop();
    t.clock.advance(25 * HOUR);
    node = await CoreOrbital.attach(t.core, {
      id: 'core-a',
      mesh: as.core,
      logger: captureLogger().logger,
      manifestSeconds: 3600,
      sovereignTtlSeconds: 24 * 3600,
    });
    expect(node.deadman.state().serving).toBe(false);
  });

  it('a sealed Core does not consume: events wait in its queue and are applied after unseal', async () => {
    t.core.seal();
    await waitFor(() => node.status().consuming === false);
    await send('Tenant.Define', { tenant: 'acme', action: 'onboard' });
    expect(await t.core.tenants.get('acme')).toBeNull();
    await t.core.unseal(shares);
    await waitFor(async () => (await t.core.tenants.get('acme'))?.state === 'ACTIVE', 5_000, 'the queued event');
    expect(bus.status().deadLettered).toBe(0);
  });
});
