/**
 * DR 4 (ACD-402 split brain): a Core that missed the news keeps serving
 * what its authorities have withdrawn. Its next State.Manifest shows it:
 * the Registry answers Key.Purge for a scope it deleted, the CMK Server
 * answers L1.Revoke for a tenant it unlinked, and the Gateway refuses both.
 *
 * "Missed the news" is made real by the queue: each time a Core that was
 * down comes back under a new actor id (a restored replica), with a new
 * queue that never held the events published while it was away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, openStage, SKIP_AMQP, waitUntil, type Stage } from './fixture.js';

describe.skipIf(SKIP_AMQP)('DR 4: split brain', () => {
  let stage: Stage;
  const events = async () =>
    ((await stage.cluster.call('core', 'GET', '/v1/admin/status')) as { orbital: { events: Record<string, number> } })
      .orbital.events;
  beforeAll(async () => {
    stage = await openStage();
    await stage.cluster.call('registry', 'POST', '/v1/registry/tenants/demo/services/billing', {});
    await stage.served('demo', 'billing');
    await stage.defineAndLink('other', 'app');
  }, 60_000);
  afterAll(async () => stage?.cleanup());

  it('a scope the Registry deleted is purged after the Core reports it', async () => {
    const { cluster } = stage;
    const gw = await stage.gateway();
    expect((await create(gw, 'billing')).ok).toBe(true);
    await cluster.stop('core');
    await cluster.call('registry', 'DELETE', '/v1/registry/tenants/demo/services/billing');
    await cluster.startCore(stage.coreStart('core-b'));

    const refused = await waitUntil('the Gateway to refuse billing', async () => {
      const r = await create(gw, 'billing');
      return r.ok ? null : r.code;
    });
    expect(refused).toBe('UNKNOWN_SERVICE');
    const t = (await cluster.call('core', 'GET', '/v1/admin/tenants/demo')) as {
      scopes: Array<{ service: string; deleted: boolean; versions: Array<{ state: string }> }>;
    };
    const billing = t.scopes.find((s) => s.service === 'billing')!;
    expect(billing.deleted).toBe(true);
    expect(billing.versions.every((v) => v.state === 'REVOKED')).toBe(true);
    expect(await events()).toMatchObject({ 'Key.Purge:applied': 1 });
    // The rest of the tenant is untouched.
    expect((await create(gw, 'app')).ok).toBe(true);
    gw.close();
  }, 60_000);

  it('a tenant the CMK Server unlinked is revoked after the Core reports it', async () => {
    const { cluster } = stage;
    const gw = await stage.gateway('other');
    expect((await create(gw, 'app')).ok).toBe(true);
    await cluster.stop('core');
    await cluster.call('cmk', 'DELETE', '/v1/cmk/tenants/other/l1');
    await cluster.startCore(stage.coreStart('core-c'));

    const refused = await waitUntil('the Gateway to refuse tenant other', async () => {
      const r = await create(gw, 'app');
      return r.ok ? null : r.code;
    });
    expect(refused).toBe('KEY_REVOKED');
    expect(((await cluster.call('core', 'GET', '/v1/admin/tenants/other')) as { state: string }).state).toBe('REVOKED');
    // It came from the CMK Server's reconciliation: this Core's queue never held the unlink.
    expect(await events()).toMatchObject({ 'L1.Revoke:applied': 1 });
    expect(await events()).not.toHaveProperty('L1.Reference:applied');
    const demo = await stage.gateway('demo');
    expect((await create(demo, 'app')).ok).toBe(true);
    demo.close();
    gw.close();
  }, 60_000);
});
