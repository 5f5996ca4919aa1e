/**
 * DR 2 (ACD-402 tier 2): the Registry process dies. The Core keeps serving
 * and rotating; new definitions wait; nothing the Registry committed is
 * lost: a definition committed just before the crash, whose event had not
 * left the outbox yet, reaches the Core once the Registry is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, openStage, SKIP_AMQP, waitUntil, type Stage } from './fixture.js';

describe.skipIf(SKIP_AMQP)('DR 2: the Registry is killed', () => {
  let stage: Stage;
  beforeAll(async () => {
    stage = await openStage({ demoRotateAfterSeconds: 60 });
  }, 60_000);
  afterAll(async () => stage?.cleanup());

  it('the Core serves and rotates without it; a committed definition survives the crash', async () => {
    const { cluster, proxies } = stage;
    // The set-up's own events have left the outbox (on a loaded machine they may still be on their way).
    const pending = async () =>
      ((await cluster.call('registry', 'GET', '/v1/registry/status')) as { outboxPending: number }).outboxPending;
    await waitUntil('the Registry outbox drained', async () => ((await pending()) === 0 ? true : null));
    // A definition committed while the Registry cannot reach the broker, then the crash.
    await proxies.registry.cut();
    await cluster.call('registry', 'POST', '/v1/registry/tenants/demo/services/billing', { rotateAfterSeconds: null });
    expect(await pending()).toBe(1);
    await cluster.kill('registry');
    proxies.registry.heal();

    const gw = await stage.gateway();
    expect((await create(gw, 'app')).ok).toBe(true);
    stage.advanceCore(61_000);
    await waitUntil('a scheduled rotation without the Registry', async () =>
      (await stage.served('demo', 'app')).length >= 2 ? true : null,
    );
    expect((await create(gw, 'app')).ok).toBe(true);
    // New definitions wait for the Registry: the Core has not heard of billing.
    const scopes = (await cluster.call('core', 'GET', '/v1/admin/tenants/demo')) as {
      scopes: Array<{ service: string }>;
    };
    expect(scopes.scopes.map((s) => s.service)).not.toContain('billing');

    // It comes back on the same store: the outbox row is sent and the Core serves billing.
    await cluster.startRegistry();
    await stage.served('demo', 'billing');
    expect((await create(gw, 'billing')).ok).toBe(true);
    gw.close();
  }, 90_000);
});
