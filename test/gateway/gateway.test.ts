import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareDevCore, spawnDevCore } from '../../src/dev/core-process.js';
import { spawnService } from '../../src/dev/spawn.js';
import { startDevStack, type DevStack } from '../../src/dev/stack.js';
import { createToken } from '../../src/gateway/tokens.js';
import { connect, type KeyResult, type WsClient } from './ws-fixture.js';

type Reply = [unknown, 0 | 1, unknown];
const ok = (r: unknown): KeyResult => {
  const [, status, result] = r as Reply;
  expect(status, JSON.stringify(result)).toBe(0);
  return result as KeyResult;
};
const err = (r: unknown) => {
  const [, status, result] = r as Reply;
  expect(status).toBe(1);
  return (result as { code: string }).code;
};

describe('the Gateway through the real processes', () => {
  let dir: string;
  let stack: DevStack;
  let other: string;
  let narrow: string;
  let c: WsClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'krypton-gw-'));
    other = createToken(join(dir, 'tokens.json'), 'other', ['*']).token;
    narrow = createToken(join(dir, 'tokens.json'), 'demo', ['billing']).token;
    stack = await startDevStack({ dir, corePort: 0, gatewayPort: 0 });
    c = await connect(stack.gatewayUrl, stack.token);
  });
  afterAll(async () => {
    c?.close();
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates and decrypts single keys, counted batches and array frames, in order', async () => {
    const one = ok(await c.call([1, 'key.create', { service: 'app' }]));
    expect(one.plaintext).toHaveLength(32);
    expect(ok(await c.call([2, 'key.decrypt', { blob: one.blob }])).plaintext.equals(one.plaintext)).toBe(true);
    const batch = (await c.call([
      [10, 'key.create', { service: 'app' }],
      [11, 'ping', {}],
      [12, 'key.create', { service: 'app', count: 3 }],
    ])) as Reply[];
    expect(batch.map((r) => r[0])).toEqual([10, 11, 12]);
    const keys = ok(batch[2]).keys;
    expect(keys).toHaveLength(3);
    const dec = ok(await c.call([13, 'key.decrypt', { blobs: keys.map((k) => k.blob) }]));
    expect(dec.plaintexts.map((p) => p.toString('hex'))).toEqual(keys.map((k) => k.plaintext.toString('hex')));
  });

  it('the HTTP API speaks JSON with base64 bytes, and msgpack', async () => {
    const base = `http://127.0.0.1:${stack.gateway.port}/v1/keys`;
    const headers = { authorization: `Bearer ${stack.token}`, 'content-type': 'application/json' };
    const created = (await (
      await fetch(`${base}/create`, { method: 'POST', headers, body: JSON.stringify({ service: 'app' }) })
    ).json()) as { plaintext: string; blob: string };
    const opened = await fetch(`${base}/decrypt`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ blob: created.blob }),
    });
    expect(((await opened.json()) as { plaintext: string }).plaintext).toBe(created.plaintext);
    const bad = await fetch(`${base}/decrypt`, {
      method: 'POST',
      headers: { ...headers, authorization: 'Bearer nope-nope-nope-nope-nope' },
      body: '{}',
    });
    expect(bad.status).toBe(401);
    const mp = await fetch(`${base}/create`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/msgpack' },
      body: new Uint8Array(pack({ service: 'app' })),
    });
    expect(mp.status).toBe(200);
    expect(mp.headers.get('content-type')).toBe('application/msgpack');
  });

  it('binds the caller context: the wrong one is INVALID_BLOB', async () => {
    const ctx = Buffer.from('table=users;row=7');
    const k = ok(await c.call([1, 'key.create', { service: 'app', context: ctx }]));
    expect(ok(await c.call([2, 'key.decrypt', { blob: k.blob, context: ctx }])).plaintext.equals(k.plaintext)).toBe(
      true,
    );
    expect(err(await c.call([3, 'key.decrypt', { blob: k.blob, context: Buffer.from('table=users;row=8') }]))).toBe(
      'INVALID_BLOB',
    );
    expect(err(await c.call([4, 'key.decrypt', { blob: k.blob }]))).toBe('INVALID_BLOB');
  });

  it("refuses another tenant's blob, and a service outside the token", async () => {
    const k = ok(await c.call([1, 'key.create', { service: 'app' }]));
    const o = await connect(stack.gatewayUrl, other);
    expect(err(await o.call([1, 'key.decrypt', { blob: k.blob }]))).toBe('INVALID_BLOB');
    expect(err(await o.call([2, 'key.info', { blob: k.blob }]))).toBe('INVALID_BLOB');
    o.close();
    const n = await connect(stack.gatewayUrl, narrow);
    expect(err(await n.call([1, 'key.create', { service: 'app' }]))).toBe('FORBIDDEN');
    n.close();
  });

  it('rewraps after rotation: the blob moves to the ACTIVE version and still holds the same key', async () => {
    const k = ok(await c.call([1, 'key.create', { service: 'app' }]));
    const before = ok(await c.call([2, 'key.info', { blob: k.blob }]));
    await stack.core.client('admin').request('POST', '/v1/admin/tenants/demo/services/app/rotate');
    let moved: Partial<KeyResult> = {};
    await expect
      .poll(async () => {
        moved = ok(await c.call([3, 'key.rewrap', { blob: k.blob }]));
        return (ok(await c.call([4, 'key.info', { blob: moved.blob }])) as { version: number }).version;
      })
      .toBe((before as { version: number }).version + 1);
    expect(ok(await c.call([5, 'key.decrypt', { blob: moved.blob }])).plaintext.equals(k.plaintext)).toBe(true);
  });

  it('a revoked version stops working within 1 s', async () => {
    const k = ok(await c.call([1, 'key.create', { service: 'app' }]));
    const { version } = ok(await c.call([2, 'key.info', { blob: k.blob }]));
    const t0 = performance.now();
    await stack.core.client('admin').request('POST', `/v1/admin/tenants/demo/services/app/versions/${version}/revoke`);
    let code = '';
    while (performance.now() - t0 < 1000 && code !== 'KEY_REVOKED') {
      const r = (await c.call([3, 'key.decrypt', { blob: k.blob }])) as Reply;
      code = r[1] === 1 ? (r[2] as { code: string }).code : 'still-open';
    }
    expect(code).toBe('KEY_REVOKED');
    expect(performance.now() - t0).toBeLessThan(1000);
    // a new ACTIVE version took over
    expect(ok(await c.call([4, 'key.create', { service: 'app' }])).blob).toBeDefined();
  });

  it('every bad input gets its error code and the server keeps serving', async () => {
    const codes = [
      err(await c.raw(Buffer.from([0xc1]))),
      err(await c.raw(Buffer.alloc(70 * 1024, 0x01))),
      err(await c.raw(pack(JSON.parse('['.repeat(20) + ']'.repeat(20))))),
      err(await c.raw('text frame')),
      err(await c.call([1, 'key.create', { service: 5 }])),
      err(await c.call([1, 'key.create', { service: 'app', count: 5000 }])),
      err(await c.call([1, 'key.nope', {}])),
      err(await c.call([1, 'key.decrypt', { blob: Buffer.from('junk') }])),
      err(await c.call([1, 'key.create', { service: 'undefined-service' }])),
      err(await c.call('not a request')),
    ];
    expect(codes).toEqual([
      'BAD_REQUEST',
      'FRAME_TOO_LARGE',
      'BAD_REQUEST',
      'BAD_REQUEST',
      'BAD_REQUEST',
      'BAD_REQUEST',
      'BAD_REQUEST',
      'INVALID_BLOB',
      'UNKNOWN_SERVICE',
      'BAD_REQUEST',
    ]);
    await expect(connect(stack.gatewayUrl, 'kt_wrong-token-wrong-token-wrong')).rejects.toMatchObject({ status: 401 });
    await expect(connect(stack.gatewayUrl)).rejects.toMatchObject({ status: 401 });
    expect(ok(await c.call([99, 'ping', {}]))).toEqual({});
  });

  it('a client that never reads is cut off at the backpressure limit; the server stays bounded and serving', async () => {
    const slow = await connect(stack.gatewayUrl, stack.token);
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const closed = new Promise<number>((r) => slow.ws.once('close', (code: number) => r(code)));
    const frame = pack([1, 'key.create', { service: 'app', count: 4096 }]); // ~500 KB per reply
    for (let i = 0; i < 200 && slow.ws.readyState === 1; i++) {
      slow.ws.send(frame);
      await new Promise((r) => setTimeout(r, 5));
    }
    socket.resume();
    await closed;
    const rss =
      Number(
        /VmRSS:\s+(\d+)/.exec(
          (await import('node:fs')).readFileSync(`/proc/${stack.gateway.child.pid}/status`, 'utf8'),
        )![1],
      ) / 1024;
    expect(rss).toBeLessThan(400); // MB: 200 replies of 500 KB were never buffered
    expect(ok(await c.call([1, 'ping', {}]))).toEqual({});
  });

  it('serves /healthz, /readyz and the request histogram on /metrics', async () => {
    const base = `http://127.0.0.1:${stack.gateway.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain('krypton_gateway_request_duration_seconds_bucket{op="key.create",outcome="ok",le="0.0001"}');
    expect(text).toContain('outcome="INVALID_BLOB"');
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('the Gateway when the Core goes away', () => {
  it('serves until the lease ends, then fails closed, and recovers when the Core returns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krypton-gw-outage-'));
    const corePort = await freePort();
    const stack = await startDevStack({ dir, corePort, gatewayPort: 0, leaseTtlSeconds: 3 });
    const c = await connect(stack.gatewayUrl, stack.token);
    try {
      const k = ok(await c.call([1, 'key.create', { service: 'app' }]));
      await stack.core.stop();
      expect(ok(await c.call([2, 'key.decrypt', { blob: k.blob }])).plaintext.equals(k.plaintext)).toBe(true);
      await expect
        .poll(async () => err(await c.call([3, 'key.create', { service: 'app' }])), { timeout: 8000, interval: 250 })
        .toBe('KEY_UNAVAILABLE');
      // The key is gone from memory and the Core cannot be asked for it.
      expect(err(await c.call([4, 'key.decrypt', { blob: k.blob }]))).toBe('KEY_UNAVAILABLE');
      expect((await fetch(`http://127.0.0.1:${stack.gateway.port}/readyz`)).status).toBe(503);
      const again = await spawnDevCore(await prepareDevCore(dir));
      try {
        await expect
          .poll(async () => ((await c.call([5, 'key.decrypt', { blob: k.blob }])) as Reply)[1], {
            timeout: 10_000,
            interval: 250,
          })
          .toBe(0);
      } finally {
        await again.stop();
      }
    } finally {
      c.close();
      await stack.gateway.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGTERM drains requests in flight before the sockets close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krypton-gw-drain-'));
    const stack = await startDevStack({ dir, corePort: 0, gatewayPort: 0 });
    try {
      await stack.core.client('admin').request('POST', '/v1/admin/tenants/demo/services/cold');
      const c = await connect(stack.gatewayUrl, stack.token);
      const replies: Reply[] = [];
      const got = new Promise<void>((resolve) => {
        c.ws.on('message', (d: Buffer) => {
          replies.push(unpack(d) as Reply);
          if (replies.length === 50) resolve();
        });
      });
      // 'cold' has no lease yet: every request waits on the Core when SIGTERM arrives.
      for (let i = 0; i < 50; i++) c.ws.send(pack([i, 'key.create', { service: 'cold' }]));
      await new Promise((r) => setTimeout(r, 2));
      const stopped = stack.gateway.stop();
      await got;
      await stopped;
      expect(replies.map((r) => r[1])).toEqual(Array(50).fill(0));
      expect(stack.gateway.child.exitCode).toBe(0);
    } finally {
      await stack.core.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bulk requests', () => {
  it('creates of count >= 1024 and opens of >= 256 blobs run on Piscina threads; small ones inline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krypton-gw-bulk-'));
    const stack = await startDevStack({ dir, corePort: 0, gatewayPort: 0 });
    const c = await connect(stack.gatewayUrl, stack.token);
    try {
      const big = ok(await c.call([1, 'key.create', { service: 'app', count: 2048 }]));
      const keys = big.keys;
      expect(keys).toHaveLength(2048);
      // >= 256: a worker opens them
      const opened = ok(await c.call([2, 'key.decrypt', { blobs: keys.slice(0, 500).map((k) => k.blob) }]));
      expect(opened.plaintexts.every((p, i) => p.equals(keys[i].plaintext))).toBe(true);
      const small = ok(await c.call([3, 'key.decrypt', { blob: keys[2047].blob }]));
      expect(small.plaintext.equals(keys[2047].plaintext)).toBe(true);
      const metrics = await (await fetch(`http://127.0.0.1:${stack.gateway.port}/metrics`)).text();
      expect(metrics).toContain('krypton_gateway_bulk_tasks_total{op="create"} 1');
      expect(metrics).toContain('krypton_gateway_bulk_tasks_total{op="open"} 1');
    } finally {
      c.close();
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('--threads', () => {
  it('runs one uWS app per worker thread on one port; every connection is served; SIGTERM stops cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krypton-gw-threads-'));
    const stack = await startDevStack({ dir, corePort: 0, gatewayPort: 0 });
    let threaded: Awaited<ReturnType<typeof spawnService>> | undefined;
    try {
      threaded = await spawnService(
        ['gateway', '--config', join(dir, 'gateway.json'), '--threads', '2'],
        'gateway.listening',
        {
          env: { KRYPTON_GATEWAY_PORT: '0' },
        },
      );
      const clients = await Promise.all(
        Array.from({ length: 8 }, () => connect(`ws://127.0.0.1:${threaded!.port}/v1/ws`, stack.token)),
      );
      for (const [i, c] of clients.entries()) {
        const k = ok(await c.call([i, 'key.create', { service: 'app' }]));
        expect(ok(await c.call([i, 'key.decrypt', { blob: k.blob }])).plaintext.equals(k.plaintext)).toBe(true);
        c.close();
      }
    } finally {
      await threaded?.stop();
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(threaded.child.exitCode).toBe(0);
  });
});
