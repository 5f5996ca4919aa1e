import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pkiClient } from '../../src/dev/core-process.js';
import type { MtlsClient } from '../../src/http/index.js';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import { startRegistry, type RunningRegistry } from '../../src/registry/service.js';
import { captureLogger } from '../mesh/helpers.js';
import { actorConfig, collect, summary, tempPki, type TempPki, meshAs } from './fixtures.js';
import { anyOf } from '../helpers/matchers.js';

describe('Registry admin API (HTTP/2, mTLS)', () => {
  let t: TempPki;
  let bus: MemoryBus;
  let reg: RunningRegistry;
  let admin: MtlsClient;
  let gateway: MtlsClient;

  beforeAll(async () => {
    t = await tempPki('registry-api');
    const { logger } = captureLogger();
    bus = new MemoryBus({ logger });
    reg = await startRegistry(actorConfig('registry', t), { bus, logger });
    const url = `https://127.0.0.1:${reg.port}`;
    admin = pkiClient(t.pki, url, 'admin');
    gateway = pkiClient(t.pki, url, 'gateway');
  });

  afterAll(async () => {
    await admin.close();
    await gateway.close();
    await reg.stop();
    await bus.close();
    t.cleanup();
  });

  it('onboards, defines, lists, deletes and offboards; each change reaches the mesh', async () => {
    const got = await collect(meshAs(bus, t, 'core'));
    expect((await admin.request('POST', '/v1/registry/tenants/acme')).body).toMatchObject({
      tenant: 'acme',
      state: 'ACTIVE',
      changed: true,
    });
    expect(
      (await admin.request('POST', '/v1/registry/tenants/acme/services/app', { rotateAfterSeconds: 600 })).body,
    ).toMatchObject({
      service: 'app',
      state: 'DEFINED',
      rotateAfterSeconds: 600,
    });
    await admin.request('POST', '/v1/registry/tenants/acme/services/logs');
    await admin.request('DELETE', '/v1/registry/tenants/acme/services/logs');
    const list = (await admin.request<{ tenants: unknown[] }>('GET', '/v1/registry/tenants')).body;
    expect(list.tenants).toEqual([
      expect.objectContaining({
        tenant: 'acme',
        state: 'ACTIVE',
        scopes: [
          expect.objectContaining({ service: 'app', state: 'DEFINED' }),
          expect.objectContaining({ service: 'logs', state: 'DELETED' }),
        ],
      }),
    ]);
    await admin.request('DELETE', '/v1/registry/tenants/acme');
    await reg.runtime.outbox.flush();
    await bus.idle();
    expect(summary(got).map(([type, p]) => `${type} ${(p as { action: string }).action}`)).toEqual([
      'Tenant.Define onboard',
      'Key.Define define',
      'Key.Define define',
      'Key.Define delete',
      'Tenant.Define offboard',
    ]);
  });

  it('answers with catalogue codes for unknown tenants and bad bodies', async () => {
    await expect(admin.request('DELETE', '/v1/registry/tenants/ghost')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await admin.request('POST', '/v1/registry/tenants/beta');
    await expect(
      admin.request('POST', '/v1/registry/tenants/beta/services/app', { rotateAfterSeconds: 5 }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(
      admin.request('POST', '/v1/registry/tenants/beta/services/app', { rotate: 600 }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(admin.request('DELETE', '/v1/registry/tenants/beta/services/none')).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('serves status, metrics and health to admins', async () => {
    const status = (await admin.request<Record<string, unknown>>('GET', '/v1/registry/status')).body;
    expect(status).toMatchObject({
      id: 'registry',
      outboxPending: anyOf(Number),
      mesh: { transport: 'memory', connected: true },
      manifests: [],
    });
    const metrics = (await admin.request('GET', '/metrics')).body;
    expect(String(metrics)).toContain('krypton_registry_outbox_pending');
    expect((await admin.request('GET', '/healthz')).body).toEqual({ ok: true });
    expect((await admin.request('GET', '/readyz')).body).toMatchObject({ ok: true });
  });

  it('refuses the gateway certificate', async () => {
    await expect(gateway.request('GET', '/v1/registry/tenants')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(gateway.request('POST', '/v1/registry/tenants/evil')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(JSON.stringify((await admin.request('GET', '/v1/registry/tenants')).body)).not.toContain('evil');
  });
});
