import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HpkeRecipient,
  loadPublicKey,
  openBlob,
  openLease,
  scopeRef,
  scopes,
  createKey,
} from '../../src/native/index.js';
import { verifyLeaseReply } from '../../src/protocol/lease.js';
import { MSGPACK_TYPE } from '../../src/http/index.js';
import { cli, launch, startCoreProcess, type CoreProcess } from './process-fixture.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
const T = 'acme';
const S = 'billing';
/** A lease request body: a fresh nonce each time, as a Gateway sends. */
const leaseReq = (tenant: string, service: string, recipientKey: Uint8Array) => ({
  tenant,
  service,
  recipientKey,
  nonce: randomBytes(16),
});

describe('the Core as a process (HTTP/2, TLS 1.3, client certificates)', () => {
  let core: CoreProcess;
  beforeAll(async () => {
    core = await startCoreProcess();
    const admin = ['admin', '--core', core.url, '--pki', core.pki];
    expect(cli([...admin, 'tenant', T]).status).toBe(0);
    const scope = cli([...admin, 'scope', T, S]);
    expect(scope.status, scope.stderr).toBe(0);
  });
  afterAll(async () => core?.cleanup());

  it('a gateway leases every version sealed to its recipient key, signed by the Core over its request, and the keys open what the lease promised', async () => {
    const admin = core.client('admin');
    await admin.request('POST', `/v1/admin/tenants/${T}/services/${S}/rotate`);
    const recipient = HpkeRecipient.generate();
    const gw = core.client('gateway');
    const req = leaseReq(T, S, recipient.publicKey);
    const r = await gw.request<unknown>('POST', '/v1/leases', req, { contentType: 'application/msgpack' });
    expect(r.status).toBe(200);
    const trust = { corePublicKey: loadPublicKey(join(core.pki, 'core-sign.pub')), maxSkewMs: 60_000 };
    const lease = verifyLeaseReply(r.body, req, trust, Date.now());
    expect(lease.versions.map((v) => [v.version, v.state])).toEqual([
      [1, 'DECRYPT_ONLY'],
      [2, 'ACTIVE'],
    ]);
    // The same reply is no answer to another request (another nonce).
    expect(() => verifyLeaseReply(r.body, { ...req, nonce: randomBytes(16) }, trust, Date.now())).toThrow(
      code('INVALID_LEASE'),
    );
    for (const v of lease.versions) openLease(recipient, { tenant: T, service: S, enc: v.enc, sealed: v.sealed });
    const k = createKey(scopeRef(T, S)!);
    expect(k.version).toBe(2);
    expect(openBlob(T, k.blob).equals(k.plaintext)).toBe(true);
    scopes.evict(T, S);
    recipient.destroy();
  });

  it('JSON bodies carry bytes as base64', async () => {
    const recipient = HpkeRecipient.generate();
    const r = await core.client('gateway').request<{ nonce: string; signature: string; versions: { enc: string }[] }>(
      'POST',
      '/v1/leases',
      {
        tenant: T,
        service: S,
        recipientKey: recipient.publicKey.toString('base64'),
        nonce: randomBytes(16).toString('base64'),
      },
      { contentType: 'application/json' },
    );
    expect(typeof r.body.versions[0].enc).toBe('string');
    expect(Buffer.from(r.body.versions[0].enc, 'base64')).toHaveLength(32);
    expect(Buffer.from(r.body.signature, 'base64')).toHaveLength(64);
    recipient.destroy();
  });

  it('the admin routes refuse a gateway identity, and unknown services are UNKNOWN_SERVICE', async () => {
    const gw = core.client('gateway');
    await expect(gw.request('POST', `/v1/admin/tenants/${T}/services/${S}/rotate`)).rejects.toThrow(code('FORBIDDEN'));
    await expect(gw.request('POST', '/v1/leases', leaseReq(T, 'nope', Buffer.alloc(32, 9)))).rejects.toThrow(
      code('UNKNOWN_SERVICE'),
    );
  });

  it('the event stream delivers rotations and revocations live, and a reconnecting client catches up from its epoch', async () => {
    const admin = core.client('admin');
    const gw = core.client('gateway');
    const seen: { epoch: number; type: string; version?: number }[] = [];
    let caughtUp!: () => void;
    const ready = new Promise<void>((r) => (caughtUp = r));
    const stream = gw.stream('/v1/events?since=0', (f) => {
      const e = f as { epoch: number; type: string; version?: number };
      if (e.type === 'caught-up') caughtUp();
      else if (e.type !== 'heartbeat') seen.push(e);
    });
    await ready;
    const start = seen.length;
    await admin.request('POST', `/v1/admin/tenants/${T}/services/${S}/rotate`);
    await expect.poll(() => seen.length).toBe(start + 1);
    expect(seen.at(-1)).toMatchObject({ type: 'rotation' });
    const last = seen.at(-1)!.epoch;
    stream.close();

    // While disconnected: a revocation. On reconnect, it is replayed from the epoch.
    await admin.request('POST', `/v1/admin/tenants/${T}/services/${S}/versions/1/revoke`);
    const replayed: { epoch: number; type: string; version?: number }[] = [];
    let done!: () => void;
    const caught = new Promise<void>((r) => (done = r));
    const again = gw.stream(`/v1/events?since=${last}`, (f) => {
      const e = f as { epoch: number; type: string; version?: number };
      if (e.type === 'caught-up') done();
      else if (e.type !== 'heartbeat') replayed.push(e);
    });
    await caught;
    again.close();
    expect(replayed).toEqual([expect.objectContaining({ epoch: last + 1, type: 'revocation', version: 1 })]);
  });

  it('sealed, the Core answers SEALED to everything but unseal and status; M of N shares unseal it', async () => {
    const admin = core.client('admin');
    const gw = core.client('gateway');
    await admin.request('POST', '/v1/admin/seal');
    await expect(gw.request('POST', '/v1/leases', leaseReq(T, S, Buffer.alloc(32, 1)))).rejects.toThrow(code('SEALED'));
    await expect(admin.request('POST', `/v1/admin/tenants/${T}/services/${S}/rotate`)).rejects.toThrow(code('SEALED'));
    expect((await admin.request<{ seal: { sealed: boolean } }>('GET', '/v1/admin/status')).body.seal.sealed).toBe(true);
    const { shares } = JSON.parse((await import('node:fs')).readFileSync(core.unsealFile, 'utf8')) as {
      shares: string[];
    };
    // Shares go on stdin, never on the command line.
    const first = cli(['admin', '--core', core.url, '--pki', core.pki, 'unseal'], {}, `${shares[0]}\n${shares[3]}\n`);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ sealed: true, progress: 2 });
    const bin = (i: number) => Buffer.from(shares[i], 'base64');
    await expect(
      admin.request('POST', '/v1/admin/unseal', { shares: [bin(3)] }, { contentType: MSGPACK_TYPE }),
    ).rejects.toThrow(code('BAD_REQUEST'));
    await admin.request(
      'POST',
      '/v1/admin/unseal',
      { shares: [bin(0), bin(3), bin(4)] },
      { contentType: MSGPACK_TYPE, secret: true },
    );
    const lease = await gw.request<{ versions: unknown[] }>(
      'POST',
      '/v1/leases',
      leaseReq(T, S, HpkeRecipient.generate().publicKey),
    );
    expect(lease.body.versions.length).toBeGreaterThan(0);
  });

  it('serves /healthz, /readyz and Prometheus /metrics', async () => {
    const gw = core.client('gateway');
    expect((await gw.request('GET', '/healthz')).status).toBe(200);
    expect((await gw.request('GET', '/readyz')).status).toBe(200);
    const m = await gw.request<Buffer>('GET', '/metrics');
    expect(String(m.body)).toContain(
      'krypton_core_request_duration_seconds_bucket{route="lease",outcome="ok",le="0.0001"}',
    );
  });
});

describe('gateway policy', () => {
  it("a gateway identity cannot lease another tenant's keys", async () => {
    const core = await startCoreProcess({ gateways: { 'spiffe://krypton.dev/gateway/default': ['globex'] } });
    try {
      const admin = ['admin', '--core', core.url, '--pki', core.pki];
      for (const t of ['acme', 'globex']) {
        cli([...admin, 'tenant', t]);
        cli([...admin, 'scope', t, 'app']);
      }
      const gw = core.client('gateway');
      const pk = HpkeRecipient.generate().publicKey;
      await expect(gw.request('POST', '/v1/leases', leaseReq('acme', 'app', pk))).rejects.toThrow(code('FORBIDDEN'));
      expect((await gw.request('POST', '/v1/leases', leaseReq('globex', 'app', pk))).status).toBe(200);
    } finally {
      await core.cleanup();
    }
  });

  it('a restarted Core comes up sealed and keeps its keys', async () => {
    const core = await startCoreProcess();
    try {
      cli(['admin', '--core', core.url, '--pki', core.pki, 'tenant', 'acme']);
      cli(['admin', '--core', core.url, '--pki', core.pki, 'scope', 'acme', 'app']);
      await core.stop();
      const again = await launch({ ...core, sealed: true });
      const gw = again.client('gateway');
      await expect(gw.request('POST', '/v1/leases', leaseReq('acme', 'app', Buffer.alloc(32, 3)))).rejects.toThrow(
        code('SEALED'),
      );
      await again.stop();
    } finally {
      await core.cleanup();
    }
  });
});
