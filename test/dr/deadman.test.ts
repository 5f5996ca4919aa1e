/**
 * DR 5 (ACD-402 deadman switch): the Core's clock is moved past the Strict
 * Sovereign TTL while the CMK Server is silent (stopped). Key serving stops
 * everywhere, the Gateway included, with the reason in the Core's status
 * and metrics; the CMK Server's next heartbeat restores it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, openStage, SKIP_AMQP, waitUntil, type Stage } from './fixture.js';

describe.skipIf(SKIP_AMQP)('DR 5: the deadman switch', () => {
  let stage: Stage;
  beforeAll(async () => {
    stage = await openStage({ sovereignTtlSeconds: 3600 });
  }, 60_000);
  afterAll(async () => stage?.cleanup());

  const sovereignty = async () =>
    (
      (await stage.cluster.call('core', 'GET', '/v1/admin/status')) as {
        orbital: { sovereignty: { serving: boolean; reason: string | null; silentSeconds: number } };
      }
    ).orbital.sovereignty;

  it('silence past the TTL stops key serving; a heartbeat restores it', async () => {
    const { cluster } = stage;
    const gw = await stage.gateway();
    expect((await create(gw, 'app')).ok).toBe(true);
    expect((await sovereignty()).serving).toBe(true);

    await cluster.stop('cmk');
    // 59 minutes of silence: still within the TTL.
    stage.advanceCore(59 * 60_000);
    expect((await create(gw, 'app')).ok).toBe(true);
    // Past it: the Core pauses, and tells the Gateway, which drops its leases.
    stage.advanceCore(2 * 60_000);
    const code = await waitUntil('the Gateway to refuse', async () => {
      const r = await create(gw, 'app');
      return r.ok ? null : r.code;
    });
    expect(code).toBe('KEY_UNAVAILABLE');
    const paused = await sovereignty();
    expect(paused.serving).toBe(false);
    expect(paused.reason).toMatch(
      /^sovereign deadman: no word from the CMK Server for 1h0[01]m \(Strict Sovereign TTL 1h00m\)/,
    );
    const metrics = (await stage.cluster.admin('core').request('GET', '/metrics')).body as string;
    expect(String(metrics)).toMatch(/^krypton_core_serving_paused 1$/m);

    // The CMK Server returns; its first heartbeat restores serving.
    await cluster.startCmk();
    await waitUntil('serving to resume', async () => (await sovereignty()).serving);
    await waitUntil('the Gateway to serve again', async () => (await create(gw, 'app')).ok);
    gw.close();
  }, 90_000);
});
