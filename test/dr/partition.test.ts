/**
 * DR 1 (ACD-402 tier 1): the mesh is unreachable. The Core keeps serving
 * and rotating on schedule, the Gateway is unaffected, and the events the
 * Registry and the CMK Server committed meanwhile wait in their outboxes
 * and reach the Core once the broker is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, decrypt, openStage, SKIP_AMQP, waitUntil, type Stage } from './fixture.js';

describe.skipIf(SKIP_AMQP)('DR 1: partition from the mesh', () => {
  let stage: Stage;
  beforeAll(async () => {
    stage = await openStage({ demoRotateAfterSeconds: 60 });
  }, 60_000);
  afterAll(async () => stage?.cleanup());

  it('keeps serving and rotating; outboxed definitions arrive after the broker returns', async () => {
    const { cluster, proxies } = stage;
    const gw = await stage.gateway();
    const before = await create(gw, 'app');
    expect(before.ok).toBe(true);

    // Every actor loses the broker.
    for (const p of Object.values(proxies)) await p.cut();
    await waitUntil('the Core to see the mesh down', async () => {
      const s = (await cluster.call('core', 'GET', '/v1/admin/status')) as {
        orbital: { mesh: { connected: boolean } };
      };
      return !s.orbital.mesh.connected;
    });

    // The Registry and the CMK Server still take changes: they wait in the outboxes.
    await cluster.call('registry', 'POST', '/v1/registry/tenants/demo/services/reports', { rotateAfterSeconds: null });
    await cluster.call('registry', 'POST', '/v1/registry/tenants/other');
    await cluster.call('registry', 'POST', '/v1/registry/tenants/other/services/app', {});
    await cluster.call('cmk', 'POST', '/v1/cmk/tenants/other/l1', { kind: 'soft', ref: stage.l1('other') });
    const registryStatus = (await cluster.call('registry', 'GET', '/v1/registry/status')) as { outboxPending: number };
    const cmkStatus = (await cluster.call('cmk', 'GET', '/v1/cmk/status')) as { outboxPending: number };
    expect(registryStatus.outboxPending).toBe(3);
    expect(cmkStatus.outboxPending).toBe(1);

    // The Core rotates on schedule (its clock moves past the 60 s period) and the Gateway goes on.
    stage.advanceCore(61_000);
    const versions = await waitUntil('a scheduled rotation', async () => {
      const v = await stage.served('demo', 'app');
      return v.length >= 2 ? v : null;
    });
    expect(versions.filter((v) => v.state === 'ACTIVE')).toHaveLength(1);
    const during = await create(gw, 'app');
    expect(during.ok).toBe(true);
    expect((await decrypt(gw, before.blob!)).plaintext!.equals(before.plaintext!)).toBe(true);
    // Nothing of the cut-off definitions has reached the Core.
    const reports = (await cluster.call('core', 'GET', '/v1/admin/tenants/demo')) as {
      scopes: Array<{ service: string }>;
    };
    expect(reports.scopes.map((s) => s.service)).toEqual(['app']);

    // The broker returns: the outboxes drain and the Core serves what was defined meanwhile.
    for (const p of Object.values(proxies)) p.heal();
    await stage.served('demo', 'reports');
    await stage.served('other', 'app');
    await waitUntil('the outboxes to drain', async () => {
      const r = (await cluster.call('registry', 'GET', '/v1/registry/status')) as { outboxPending: number };
      const c = (await cluster.call('cmk', 'GET', '/v1/cmk/status')) as { outboxPending: number };
      return r.outboxPending === 0 && c.outboxPending === 0;
    });
    gw.close();
    // The Gateway reads tokens at start; it serves the new scope of demo at once.
    const gw2 = await stage.gateway();
    expect((await create(gw2, 'reports')).ok).toBe(true);
    gw2.close();
  }, 90_000);
});
