/**
 * Attack: an unauthenticated caller on the Core's health port (plain HTTP,
 * no client certificate, as a kubelet probe or anyone on the pod network
 * reaches it) tries the routes of the mTLS API and reads what the health
 * answers say. It gets up/ready and nothing else: no lease, admin, event or
 * metrics route, no body naming a tenant, a service or a key, and a sealed
 * Core is reported as not ready (a real `krypton core` process).
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, launch, startCoreProcess, type CoreProcess } from '../core/process-fixture.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

let core: CoreProcess;
let health: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const port = await freePort();
  health = `http://127.0.0.1:${port}`;
  env = { KRYPTON_CORE_HEALTH_PORT: String(port) };
  core = await startCoreProcess({ env });
  // A tenant and a service exist, so there is something to leak.
  for (const args of [
    ['tenant', 'acme-secret-tenant'],
    ['scope', 'acme-secret-tenant', 'payroll-secret-service'],
  ]) {
    const r = cli(['admin', '--core', core.url, '--pki', core.pki, ...args]);
    if (r.status !== 0) throw new Error(r.stderr);
  }
}, 60_000);
afterAll(async () => {
  await core?.cleanup();
});

describe('the Core health port leaks nothing', () => {
  it('answers up and ready in two fixed bodies', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const r = await fetch(`${health}${path}`);
      expect([path, r.status, await r.text()]).toEqual([path, 200, '{"ok":true}']);
    }
  });

  it('reaches no route of the mTLS API: leases, events, admin, audit and metrics are 404 with an empty body', async () => {
    for (const [method, path, body] of [
      ['POST', '/v1/leases', JSON.stringify({ tenant: 'acme-secret-tenant', service: 'payroll-secret-service' })],
      ['GET', '/v1/events', undefined],
      ['GET', '/v1/admin/status', undefined],
      ['POST', '/v1/admin/seal', '{}'],
      ['POST', '/v1/admin/unseal', '{}'],
      ['GET', '/v1/admin/tenants/acme-secret-tenant', undefined],
      ['GET', '/v1/admin/audit', undefined],
      ['GET', '/metrics', undefined],
    ] as const) {
      const r = await fetch(`${health}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body !== undefined ? { body } : {}),
      });
      const text = await r.text();
      expect([method, path, r.status, text]).toEqual([method, path, 404, '']);
    }
    // The Core is still unsealed and serving: the probes changed nothing.
    const status = await core.client('admin').request('GET', '/v1/admin/status');
    expect(status.status).toBe(200);
    expect(JSON.stringify(status.body)).toContain('"sealed":false');
  });

  it('a sealed Core is not ready (503), still alive (200), and says no more', async () => {
    await core.stop();
    core = await launch({ ...core, env, sealed: true });
    const ready = await fetch(`${health}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([503, '{"ok":false}']);
    const live = await fetch(`${health}/healthz`);
    expect([live.status, await live.text()]).toEqual([200, '{"ok":true}']);
  }, 60_000);

  it('a health port already taken stops the Core at start, with the reason, instead of serving without it', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      await core.stop();
      const r = cli(['core', 'run', '--config', core.config, '--unseal-file', core.unsealFile], {
        KRYPTON_CORE_HEALTH_PORT: String(taken),
      });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('EADDRINUSE');
    } finally {
      blocker.close();
    }
  }, 60_000);
});
