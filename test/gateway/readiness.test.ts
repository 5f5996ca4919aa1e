/**
 * Readiness that works for an orchestrator (docs/design.md section 4): the
 * Gateway reaches the Core's event stream at start, so /readyz is 200 with
 * no request made; it stays 200 through a Core outage while every held
 * lease is live; and, being unauthenticated, it names no tenant or service.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, openStage, type Stage } from '../security/stage.js';
import { connect } from './ws-fixture.js';
import { arrayContaining } from '../helpers/matchers.js';

const readyz = async (stage: Stage) => {
  const r = await fetch(`${stage.httpUrl}/readyz`);
  return { status: r.status, text: await r.text() };
};

describe('/readyz', () => {
  let stage: Stage;

  beforeAll(async () => {
    stage = await openStage({
      tenants: { 'acme-secret-tenant': ['payroll-secret-service'] },
      tokens: { app: { tenant: 'acme-secret-tenant', services: ['*'] } },
      gateway: { maxLeaseTtlSeconds: 2 },
    });
  });
  afterAll(async () => {
    await stage?.stop();
  });

  it('is 200 soon after start with no request made: the Gateway connected to the Core at start', async () => {
    expect(stage.gateway.cache.stats().scopes).toEqual([]);
    await expect.poll(async () => (await readyz(stage)).status, { timeout: 10_000, interval: 100 }).toBe(200);
    expect(stage.gateway.cache.stats().connected).toBe(true);
    expect(stage.gateway.core.stats().leaseCalls).toBe(0);
  });

  it('a lease past its expiry whose timers have not run yet (a busy event loop) is reported without its tenant or service', async () => {
    const g = await stage.startGateway({ maxLeaseTtlSeconds: 1 });
    const c = await connect(`ws://127.0.0.1:${g.server.port}/v1/ws`, stage.tokens.app);
    try {
      ok(await c.call([1, 'key.create', { service: 'payroll-secret-service' }]));
      // Hold the event loop past the lease's end: neither its refresh nor its expiry timer can run.
      const until = Date.now() + 1_100;
      while (Date.now() < until);
      const r = g.cache.readiness();
      expect(r.reasons.join(' ')).toContain('expired');
      expect(JSON.stringify(r)).not.toMatch(/acme|payroll/);
    } finally {
      c.close();
    }
  });

  it('stays 200 through a Core outage while the held lease is live, then 503 once it expired; and never names a tenant or service', async () => {
    const c = await stage.ws(stage.tokens.app);
    ok(await c.call([1, 'key.create', { service: 'payroll-secret-service' }]));
    await stage.core.stop();
    const during = await readyz(stage);
    expect(during.status).toBe(200);
    await expect.poll(async () => (await readyz(stage)).status, { timeout: 5_000, interval: 100 }).toBe(503);
    for (const r of [during, await readyz(stage)]) {
      expect(r.text).not.toContain('acme');
      expect(r.text).not.toContain('payroll');
    }
    expect(JSON.parse((await readyz(stage)).text)).toMatchObject({
      ready: false,
      reasons: arrayContaining(['the Core is not reachable']),
    });
  });
});
