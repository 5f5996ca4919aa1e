import type { AddressInfo } from 'node:net';
/**
 * The client's transport against a fake Gateway (a plain `ws` server that
 * speaks the frame format), for what the real one will not do on demand:
 * drop a socket mid-request, stay silent, answer out of order, send a
 * frame-level error.
 */
import { Packr, Unpackr } from 'msgpackr';
import WebSocket, { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/backoff.js';
import { KryptonClient, KryptonConnectionError, KryptonError } from '../src/index.js';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

type Req = [number, string, Record<string, unknown>];
type Mode = 'reply' | 'silent' | 'drop' | 'frame-error' | 'odd-code';

interface Fake {
  url: string;
  frames: { bytes: number; requests: Req[] }[];
  connections: number;
  mode: Mode;
  /** Held frames, answered later by release(). */
  held: { ws: WebSocket; requests: Req[] }[];
  release(order: number[]): void;
  close(): Promise<void>;
}

const answer = (r: Req) => [
  r[0],
  0,
  r[1] === 'key.create' ? { plaintext: Buffer.alloc(32, 1), blob: Buffer.alloc(90, 2) } : { echo: r[2].n ?? null },
];

const fakes: Fake[] = [];
afterEach(async () => {
  for (const f of fakes.splice(0)) await f.close();
});

async function fake(opts: { refuse?: number; hold?: boolean } = {}): Promise<Fake> {
  const server = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    ...(opts.refuse !== undefined
      ? { verifyClient: (_: unknown, cb: (ok: boolean, code?: number) => void) => cb(false, opts.refuse) }
      : {}),
  });
  await new Promise<void>((r) => server.on('listening', () => r()));
  const f: Fake = {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/ws`,
    frames: [],
    connections: 0,
    mode: 'reply',
    held: [],
    release: (order) => {
      for (const i of order) {
        const h = f.held[i];
        h.ws.send(packr.pack(h.requests.map(answer)));
      }
    },
    close: () => {
      for (const c of server.clients) c.terminate();
      return new Promise((r) => server.close(() => r()));
    },
  };
  server.on('connection', (ws) => {
    f.connections++;
    ws.on('message', (data: Buffer) => {
      const requests = unpackr.unpack(data) as Req[];
      f.frames.push({ bytes: data.length, requests });
      if (opts.hold) return void f.held.push({ ws, requests });
      switch (f.mode) {
        case 'reply':
          return ws.send(packr.pack(requests.map(answer)));
        case 'silent':
          return;
        case 'drop':
          return ws.terminate();
        case 'frame-error':
          return ws.send(
            packr.pack([null, 1, { code: 'OVERLOADED', message: 'too many requests in flight on this connection' }]),
          );
        case 'odd-code':
          return ws.send(packr.pack(requests.map((r) => [r[0], 1, { code: 'NO_SUCH_CODE', message: 'what' }])));
      }
    });
  });
  fakes.push(f);
  return f;
}

async function failure(p: Promise<unknown>): Promise<KryptonError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KryptonError);
  return e as KryptonError;
}

describe('batching', () => {
  it('cuts frames at maxRequests', async () => {
    const f = await fake();
    const c = await KryptonClient.connect({ url: f.url, token: 't' });
    await Promise.all(Array.from({ length: 1000 }, () => c.ping()));
    expect(f.frames.map((x) => x.requests.length)).toEqual([256, 256, 256, 232]);
    expect(c.stats()).toMatchObject({ framesSent: 4, requestsSent: 1000, framesReceived: 4, inflight: 0, queued: 0 });
    await c.close();
  });

  it('cuts frames under the 64 KiB frame limit', async () => {
    const f = await fake();
    const c = await KryptonClient.connect({ url: f.url, token: 't' });
    await Promise.all(Array.from({ length: 300 }, () => c.createKey('app', { context: Buffer.alloc(4000) })));
    expect(f.frames.reduce((n, x) => n + x.requests.length, 0)).toBe(300);
    expect(Math.max(...f.frames.map((x) => x.bytes))).toBeLessThanOrEqual(64 * 1024);
    expect(f.frames.length).toBeLessThan(25); // 16 requests a frame: full frames, not one per request
    await c.close();
  });

  it('waits maxDelayMs for more requests to share a frame', async () => {
    const f = await fake();
    const c = await KryptonClient.connect({ url: f.url, token: 't', batch: { maxDelayMs: 30 } });
    const a = c.ping();
    await new Promise((r) => setTimeout(r, 5));
    await Promise.all([a, c.ping()]);
    expect(f.frames.map((x) => x.requests.length)).toEqual([2]);
    await c.close();
  });

  it('leaves an undefined context out of the params (the Gateway batches only requests without one)', async () => {
    const f = await fake();
    const c = await KryptonClient.connect({ url: f.url, token: 't' });
    await c.createKey('app');
    expect(Object.keys(f.frames[0].requests[0][2])).toEqual(['service']);
    await c.close();
  });
});

describe('pipelining', () => {
  it('matches replies that come back out of order by id', async () => {
    const f = await fake({ hold: true });
    const c = await KryptonClient.connect({ url: f.url, token: 't', batch: { maxRequests: 1 } });
    const calls = [0, 1, 2].map((n) =>
      (c as unknown as { dispatcher: { call(op: string, p: object): Promise<unknown> } }).dispatcher.call('echo', {
        n,
      }),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(f.held).toHaveLength(3);
    f.release([2, 0, 1]);
    expect(await Promise.all(calls)).toEqual([{ echo: 0 }, { echo: 1 }, { echo: 2 }]);
    await c.close();
  });
});

describe('failures', () => {
  it('fails requests in flight when the socket drops, then reconnects by itself', async () => {
    const f = await fake();
    const c = await KryptonClient.connect({ url: f.url, token: 't', reconnect: { minDelayMs: 10, maxDelayMs: 50 } });
    f.mode = 'drop';
    const e = await failure(c.ping());
    expect(e).toBeInstanceOf(KryptonConnectionError);
    expect(e).toMatchObject({ reason: 'disconnected', code: 'KEY_UNAVAILABLE' });
    f.mode = 'reply';
    await c.ping(); // waits for the reconnect, then goes out
    expect(f.connections).toBe(2);
    expect(c.stats().reconnects).toBe(1);
    await c.close();
  });

  it('times out a request with no reply', async () => {
    const f = await fake();
    const c = await KryptonClient.connect({ url: f.url, token: 't', requestTimeoutMs: 200 });
    f.mode = 'silent';
    expect(await failure(c.ping())).toMatchObject({ reason: 'timeout' });
    expect(c.stats().inflight).toBe(0);
    await c.close();
  });

  it('ties a frame-level error to the one frame in flight', async () => {
    const f = await fake();
    const c = await KryptonClient.connect({ url: f.url, token: 't' });
    f.mode = 'frame-error';
    const errs = await Promise.all([failure(c.ping()), failure(c.ping())]);
    for (const e of errs) {
      expect(e).not.toBeInstanceOf(KryptonConnectionError);
      expect(e.code).toBe('OVERLOADED');
    }
    await c.close();
  });

  it('turns an error code outside the catalogue into INTERNAL', async () => {
    const f = await fake();
    const c = await KryptonClient.connect({ url: f.url, token: 't' });
    f.mode = 'odd-code';
    expect((await failure(c.ping())).code).toBe('INTERNAL');
    await c.close();
  });

  it('refuses connect on 401 at once, as UNAUTHENTICATED', async () => {
    const f = await fake({ refuse: 401 });
    const t0 = Date.now();
    const e = await failure(KryptonClient.connect({ url: f.url, token: 'bad', requestTimeoutMs: 5_000 }));
    expect(e.code).toBe('UNAUTHENTICATED');
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it('gives up connecting after requestTimeoutMs', async () => {
    const f = await fake();
    const url = f.url;
    await f.close();
    fakes.length = 0;
    const e = await failure(
      KryptonClient.connect({ url, token: 't', requestTimeoutMs: 300, reconnect: { minDelayMs: 10, maxDelayMs: 20 } }),
    );
    expect(e).toMatchObject({ reason: 'connect' });
  });

  it('close() fails what is in flight, and later calls', async () => {
    const f = await fake();
    const c = await KryptonClient.connect({ url: f.url, token: 't' });
    f.mode = 'silent';
    const p = failure(c.ping());
    await new Promise((r) => setTimeout(r, 20));
    await c.close();
    expect(await p).toMatchObject({ reason: 'closed' });
    expect(await failure(c.ping())).toMatchObject({ reason: 'closed' });
  });
});

describe('backoff', () => {
  it('grows from min to max, jittered within [half, full]', () => {
    const o = { minDelayMs: 100, maxDelayMs: 1_000 };
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, o, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, o, () => 1))).toEqual([100, 200, 400, 800, 1_000]);
  });
});
