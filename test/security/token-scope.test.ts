/**
 * Attacks with a token: a token names one tenant and the services it may
 * use, and those services bound every operation that touches a key, on
 * every entrance (review H2); a stolen token is revoked without a restart,
 * and its open sessions close (docs/design.md section 4).
 */
import { spawnSync } from 'node:child_process';
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../core/process-fixture.js';
import { connect } from '../gateway/ws-fixture.js';
import { httpCall, ok, openStage, refusal, type Stage } from './stage.js';

const errorOf = (r: unknown) => (r as [unknown, 1, { code: string; message: string }])[2];

describe('a token limited to one service', () => {
  let stage: Stage;
  let payroll: Buffer; // a blob of acme/payroll, whose key this Gateway holds
  let app: { plaintext: Buffer; blob: Buffer };
  let tampered: Buffer;
  let payrollMany: Buffer[];

  beforeAll(async () => {
    stage = await openStage({
      tenants: { acme: ['app', 'payroll'] },
      tokens: { wide: { tenant: 'acme', services: ['*'] }, narrow: { tenant: 'acme', services: ['app'] } },
    });
    const wide = await stage.ws(stage.tokens.wide);
    payroll = ok(await wide.call([1, 'key.create', { service: 'payroll' }])).blob;
    app = ok(await wide.call([2, 'key.create', { service: 'app' }]));
    tampered = Buffer.from(app.blob);
    tampered[tampered.length - 1] ^= 1;
    payrollMany = (
      ok(await wide.call([3, 'key.create', { service: 'payroll', count: 300 }])).keys as { blob: Buffer }[]
    ).map((k) => k.blob);
  });
  afterAll(async () => {
    await stage?.stop();
  });

  it('cannot decrypt, rewrap or inspect a blob of another service over WebSocket, even though that key is leased here: the same INVALID_BLOB as a tampered blob', async () => {
    const n = await stage.ws(stage.tokens.narrow);
    const tamperedAnswer = errorOf(await n.call([1, 'key.decrypt', { blob: tampered }]));
    expect(tamperedAnswer.code).toBe('INVALID_BLOB');
    for (const [op, params] of [
      ['key.decrypt', { blob: payroll }],
      ['key.decrypt', { blob: payroll, context: Buffer.from('ctx') }],
      ['key.decrypt', { blobs: [app.blob, payroll] }],
      ['key.rewrap', { blob: payroll }],
      ['key.rewrap', { blobs: [payroll] }],
      ['key.info', { blob: payroll }],
    ] as const) {
      expect(errorOf(await n.call([2, op, params])), `${op} ${JSON.stringify(Object.keys(params))}`).toEqual(
        tamperedAnswer,
      );
    }
    // Its own service still works, and nothing leaks into a neighbour's reply in the same frame.
    const frame = (await n.call([
      [1, 'key.decrypt', { blob: payroll }],
      [2, 'key.decrypt', { blob: app.blob }],
      [3, 'key.create', { service: 'payroll' }],
    ])) as unknown[];
    expect(refusal(frame[0])).toBe('INVALID_BLOB');
    expect(ok(frame[1]).plaintext.equals(app.plaintext)).toBe(true);
    expect(refusal(frame[2])).toBe('FORBIDDEN');
  });

  it('cannot decrypt or rewrap it over HTTP, in JSON or in msgpack', async () => {
    for (const format of ['json', 'msgpack'] as const) {
      for (const op of ['decrypt', 'rewrap'] as const) {
        const r = await httpCall(stage, stage.tokens.narrow, op, { blob: payroll }, format);
        expect(r, `${op} ${format}`).toMatchObject({ status: 400, body: { code: 'INVALID_BLOB' } });
      }
      const own = await httpCall(stage, stage.tokens.narrow, 'decrypt', { blob: app.blob }, format);
      expect(Buffer.from(own.body.plaintext as Uint8Array).equals(app.plaintext)).toBe(true);
    }
  });

  it('cannot open them in bulk either (300 blobs go to the worker threads): refused before any of them is opened', async () => {
    const n = await stage.ws(stage.tokens.narrow);
    const bulkBefore = await bulkTasks(stage);
    expect(refusal(await n.call([1, 'key.decrypt', { blobs: payrollMany }]))).toBe('INVALID_BLOB');
    expect(refusal(await n.call([2, 'key.rewrap', { blobs: payrollMany }]))).toBe('INVALID_BLOB');
    expect(await bulkTasks(stage)).toBe(bulkBefore); // decided before any crypto: no task ran
    // The wide token opens the same batch on the worker threads.
    const w = await stage.ws(stage.tokens.wide);
    expect(ok(await w.call([3, 'key.decrypt', { blobs: payrollMany }])).plaintexts.length).toBe(300);
    expect(await bulkTasks(stage)).toBe(bulkBefore + 1);
  });

  it('a blob of another service does not make the Gateway lease that service for it', async () => {
    const fresh = await stage.startGateway();
    const n = await connect(`ws://127.0.0.1:${fresh.server.port}/v1/ws`, stage.tokens.narrow);
    try {
      const served = await stage.leasesServed();
      expect(refusal(await n.call([1, 'key.decrypt', { blob: payroll }]))).toBe('INVALID_BLOB');
      expect(await stage.leasesServed()).toBe(served);
    } finally {
      n.close();
    }
  });
});

async function bulkTasks(stage: Stage): Promise<number> {
  const m = /krypton_gateway_bulk_tasks_total\{op="open"\} (\d+)/.exec(stage.gateway.metrics.render());
  const r = /krypton_gateway_bulk_tasks_total\{op="rewrap"\} (\d+)/.exec(stage.gateway.metrics.render());
  return Number(m?.[1] ?? 0) + Number(r?.[1] ?? 0);
}

describe('a stolen token, revoked', () => {
  let stage: Stage;

  beforeAll(async () => {
    stage = await openStage({
      tenants: { acme: ['app'] },
      tokens: { stolen: { tenant: 'acme', services: ['*'] }, other: { tenant: 'acme', services: ['*'] } },
    });
  });
  afterAll(async () => {
    await stage?.stop();
  });

  it('`krypton token revoke` closes its open sessions within 1 s and refuses it from then on; other tokens keep working, with no restart', async () => {
    const victim = await stage.ws(stage.tokens.stolen);
    const bystander = await stage.ws(stage.tokens.other);
    ok(await victim.call([1, 'key.create', { service: 'app' }]));
    const closed = new Promise<{ code: number; at: number }>((resolve) =>
      victim.ws.once('close', (code: number) => resolve({ code, at: Date.now() })),
    );
    const t0 = Date.now();
    const r = spawnSync(
      process.execPath,
      ['--secure-heap=65536', CLI, 'token', 'revoke', stage.tokenIds.stolen, '--file', stage.tokensFile],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const { code, at } = await closed;
    expect(code).toBe(4401);
    expect(at - t0).toBeLessThan(1_000);
    await expect(connect(stage.wsUrl, stage.tokens.stolen)).rejects.toMatchObject({ status: 401 });
    expect((await httpCall(stage, stage.tokens.stolen, 'create', { service: 'app' }, 'json')).status).toBe(401);
    ok(await bystander.call([2, 'key.create', { service: 'app' }]));
  });

  it('a frame that races the revocation is not served: the session is closed instead', async () => {
    const victim = await stage.ws(stage.tokens.other);
    ok(await victim.call([1, 'ping', {}]));
    const closed = new Promise<number>((resolve) => victim.ws.once('close', (code: number) => resolve(code)));
    // Revoke in the file, then send at once, before the watcher can have noticed.
    spawnSync(process.execPath, [
      '--secure-heap=65536',
      CLI,
      'token',
      'revoke',
      stage.tokenIds.other,
      '--file',
      stage.tokensFile,
    ]);
    stage.gateway.tokens.reload();
    victim.ws.send(pack([2, 'key.create', { service: 'app' }]));
    expect(await closed).toBe(4401);
  });
});
