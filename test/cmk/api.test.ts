import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCmk, type RunningCmk } from '../../src/cmk/service.js';
import { pkiClient } from '../../src/dev/core-process.js';
import type { MtlsClient } from '../../src/http/index.js';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import { captureLogger } from '../mesh/helpers.js';
import { actorConfig, collect, tempPki, type TempPki, meshAs } from '../registry/fixtures.js';

describe('CMK Server admin API (HTTP/2, mTLS)', () => {
  let t: TempPki;
  let bus: MemoryBus;
  let cmk: RunningCmk;
  let admin: MtlsClient;
  let gateway: MtlsClient;

  beforeAll(async () => {
    t = await tempPki('cmk-api');
    const { logger } = captureLogger();
    bus = new MemoryBus({ logger });
    await bus.declare('core-hb', ['Sovereign.Heartbeat']);
    cmk = await startCmk({ ...actorConfig('cmk', t), heartbeatSeconds: 3600 }, { bus, logger });
    const url = `https://127.0.0.1:${cmk.port}`;
    admin = pkiClient(t.pki, url, 'admin');
    gateway = pkiClient(t.pki, url, 'gateway');
  });

  afterAll(async () => {
    await admin.close();
    await gateway.close();
    await cmk.stop();
    await bus.close();
    t.cleanup();
  });

  it('links, lists and unlinks; the events reach the mesh', async () => {
    const got = await collect(meshAs(bus, t, 'core'), 'core', ['L1.Reference', 'L1.Revoke']);
    expect(
      (await admin.request('POST', '/v1/cmk/tenants/acme/l1', { kind: 'soft', ref: '/keys/acme.key' })).body,
    ).toMatchObject({ state: 'LINKED', changed: true });
    expect((await admin.request<{ links: unknown[] }>('GET', '/v1/cmk/links')).body.links).toEqual([
      expect.objectContaining({ tenant: 'acme', kind: 'soft', state: 'LINKED' }),
    ]);
    expect((await admin.request('DELETE', '/v1/cmk/tenants/acme/l1')).body).toMatchObject({ state: 'UNLINKED' });
    await cmk.runtime.outbox.flush();
    await bus.idle();
    expect(got.map((e) => e.type).sort()).toEqual(['L1.Reference', 'L1.Reference', 'L1.Revoke']);
  });

  it('refuses bad bodies and unknown links with catalogue codes', async () => {
    await expect(
      admin.request('POST', '/v1/cmk/tenants/acme/l1', { kind: 'pkcs11', ref: 'pkcs11:token=a?pin-value=1234' }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(admin.request('POST', '/v1/cmk/tenants/acme/l1', { kind: 'soft' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(
      admin.request('POST', '/v1/cmk/tenants/acme/l1', { kind: 'soft', ref: '/k', extra: 1 }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(admin.request('DELETE', '/v1/cmk/tenants/nobody/l1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('serves status (heartbeats included), metrics and health; refuses the gateway certificate', async () => {
    const status = (await admin.request<Record<string, unknown>>('GET', '/v1/cmk/status')).body;
    expect(status).toMatchObject({
      id: 'cmk',
      links: { total: 1, linked: 0 },
      heartbeats: { sent: 1, failed: 0, intervalSeconds: 3600 },
      manifests: [],
    });
    expect(String((await admin.request('GET', '/metrics')).body)).toContain(
      'krypton_cmk_heartbeats_total{outcome="sent"} 1',
    );
    expect((await admin.request('GET', '/readyz')).body).toMatchObject({ ok: true });
    await expect(gateway.request('POST', '/v1/cmk/tenants/acme/l1', { kind: 'soft', ref: '/k' })).rejects.toMatchObject(
      { code: 'FORBIDDEN' },
    );
    await expect(gateway.request('GET', '/v1/cmk/links')).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});
