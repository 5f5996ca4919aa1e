/**
 * An unlink at the CMK Server reaches Gateways as a revocation: the Core
 * revokes the tenant on L1.Revoke and its Gateways answer KEY_REVOKED, while
 * other tenants are served. A relink serves the same keys again. (How fast
 * is measured by `npm run bench`, not asserted here.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, decrypt, openStage, SKIP_AMQP, waitUntil, type Stage } from './fixture.js';

describe.skipIf(SKIP_AMQP)('unlink at the CMK Server', () => {
  let stage: Stage;
  beforeAll(async () => {
    stage = await openStage();
    await stage.defineAndLink('other', 'app');
  }, 60_000);
  afterAll(async () => stage?.cleanup());

  it('makes the Gateway refuse the tenant with KEY_REVOKED; a relink serves the same keys', async () => {
    const { cluster } = stage;
    const gw = await stage.gateway('demo');
    const other = await stage.gateway('other');
    const made = await create(gw, 'app');
    expect(made.ok).toBe(true);

    const t0 = performance.now();
    await cluster.call('cmk', 'DELETE', '/v1/cmk/tenants/demo/l1');
    const code = await waitUntil('KEY_REVOKED', async () => {
      const r = await create(gw, 'app');
      return r.ok ? null : r.code;
    });
    console.log(`unlink -> Gateway refusing: ${(performance.now() - t0).toFixed(1)} ms`);
    expect(code).toBe('KEY_REVOKED');
    expect((await decrypt(gw, made.blob!)).code).toBe('KEY_REVOKED');
    expect((await create(other, 'app')).ok).toBe(true);

    await cluster.call('cmk', 'POST', '/v1/cmk/tenants/demo/l1', { kind: 'soft', ref: stage.l1('demo') });
    await waitUntil('the relinked tenant to be served', async () => (await create(gw, 'app')).ok);
    expect((await decrypt(gw, made.blob!)).plaintext!.equals(made.plaintext!)).toBe(true);
    gw.close();
    other.close();
  }, 60_000);
});
