import http2 from 'node:http2';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KryptonError } from '../../src/errors.js';
import {
  bytesField,
  createMtlsClient,
  createMtlsServer,
  TransportError,
  type MtlsClient,
  type MtlsServer,
  type PemPair,
  type Route,
} from './imports.js';
import { makeTestPki, rawRequest, rawSession, sleep, until, type TestPki } from './fixtures.js';

let pki: TestPki;
let server: MtlsServer;
const calls: string[] = [];
const events = { handlerExited: 0, sent: 0 };

const routes: Route[] = [
  {
    method: 'GET',
    path: '/v1/whoami',
    handler: async (ctx) => {
      calls.push('whoami');
      return { identity: ctx.identity };
    },
  },
  {
    method: 'POST',
    path: '/v1/echo',
    bytes: ['data'],
    handler: async (ctx) => {
      const body = ctx.body as { data: Buffer; note?: string };
      return { data: body.data, length: body.data.length, note: body.note, isBuffer: Buffer.isBuffer(body.data) };
    },
  },
  {
    method: 'POST',
    path: '/v1/echo-helper',
    handler: async (ctx) => ({ data: bytesField(ctx.body, 'data') }),
  },
  {
    method: 'POST',
    path: '/v1/admin/tenants/:tenant/services/:service/rotate',
    allow: (id) => id === 'spiffe://krypton.dev/admin',
    handler: async (ctx) => ({ params: ctx.params, query: { ...ctx.query } }),
  },
  {
    method: 'POST',
    path: '/v1/boom',
    handler: async () => {
      throw new Error('secret detail: database password is hunter2');
    },
  },
  {
    method: 'POST',
    path: '/v1/revoked',
    handler: async () => {
      throw new KryptonError('KEY_REVOKED', 'key version is revoked');
    },
  },
  {
    method: 'POST',
    path: '/v1/slow',
    handler: async (ctx) => {
      await sleep(Number(ctx.query.ms ?? 100));
      return { slept: true };
    },
  },
  {
    method: 'GET',
    path: '/v1/events',
    stream: true,
    handler: async (ctx, writer) => {
      const since = Number(ctx.query.since ?? 0);
      try {
        for (let n = since; !writer.closed; n++) {
          await writer.send({ epoch: n, key: Buffer.from([n & 0xff, 1, 2]) });
          events.sent++;
          await sleep(5);
        }
      } finally {
        events.handlerExited++;
      }
    },
  },
];

function clientFor(id: PemPair, extra: Partial<Parameters<typeof createMtlsClient>[0]> = {}): MtlsClient {
  return createMtlsClient({
    url: `https://127.0.0.1:${server.port}`,
    key: id.keyPem,
    cert: id.certPem,
    ca: pki.ca.certPem,
    timeoutMs: 5000,
    ...extra,
  });
}

/** A second server on its own port with the test routes, admitting every identity, with these limits. */
function serverWith(limits: Parameters<typeof createMtlsServer>[0]['limits'] = {}): Promise<MtlsServer> {
  return createMtlsServer({
    key: pki.server.keyPem,
    cert: pki.server.certPem,
    ca: pki.ca.certPem,
    routes,
    identity: { allowed: () => true },
    limits,
  });
}

/** Runs fn with a client and always closes the client. */
async function withClient<T>(id: PemPair, fn: (c: MtlsClient) => Promise<T>): Promise<T> {
  const c = clientFor(id);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  pki = await makeTestPki();
  server = await createMtlsServer({
    key: pki.server.keyPem,
    cert: pki.server.certPem,
    ca: pki.ca.certPem,
    port: 0,
    routes,
    identity: { allowed: (id) => id.startsWith('spiffe://krypton.dev/') && id !== 'spiffe://krypton.dev/intruder' },
  });
});

afterAll(async () => {
  await server?.close(1000);
});

describe('mutual TLS identity', () => {
  it('a client with a good certificate reaches a route and sees its SPIFFE ID echoed', async () => {
    const reply = await withClient(pki.gateway, (c) => c.request('GET', '/v1/whoami'));
    expect(reply).toEqual({ status: 200, body: { identity: 'spiffe://krypton.dev/gateway/default' } });
  });

  const handshakeRefusals = [
    ['a certificate from another CA', 'fromOtherCa'],
    ['an expired certificate', 'expired'],
    ['a not-yet-valid certificate', 'notYetValid'],
    ['a certificate without the clientAuth EKU', 'serverOnly'],
  ] as const;
  for (const [what, which] of handshakeRefusals) {
    it(`refuses ${what} in the TLS handshake: no route runs`, async () => {
      const before = calls.length;
      const err = await withClient(pki[which], (c) => c.request('GET', '/v1/whoami')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect(calls.length).toBe(before);
    });
  }

  it('refuses a client that presents no certificate in the TLS handshake', async () => {
    const session = rawSession(server.port, pki.ca.certPem);
    try {
      await expect(rawRequest(session, { ':method': 'GET', ':path': '/v1/whoami' })).rejects.toThrow();
    } finally {
      session.destroy();
    }
  });

  it('answers UNAUTHENTICATED (401) to a certificate without a SPIFFE ID', async () => {
    const err = await withClient(pki.noSpiffe, (c) => c.request('GET', '/v1/whoami')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KryptonError);
    expect(err).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('answers UNAUTHENTICATED (401) to a certificate with two SPIFFE IDs', async () => {
    const err = await withClient(pki.twoSpiffe, (c) => c.request('GET', '/v1/whoami')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNAUTHENTICATED', status: 401 });
  });

  it('answers FORBIDDEN (403) to a valid SPIFFE ID that the identity policy does not allow', async () => {
    const before = calls.length;
    const err = await withClient(pki.intruder, (c) => c.request('GET', '/v1/whoami')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FORBIDDEN', status: 403 });
    expect(calls.length).toBe(before);
  });

  it('a per-route policy admits the admin and refuses the gateway (403) on an admin route', async () => {
    const path = '/v1/admin/tenants/demo/services/app%2Fx/rotate?reason=drill&reason=second';
    const ok = await withClient(pki.admin, (c) => c.request('POST', path));
    expect(ok.body).toEqual({ params: { tenant: 'demo', service: 'app/x' }, query: { reason: 'drill' } });
    const err = await withClient(pki.gateway, (c) => c.request('POST', path)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('server identity, checked by the client', () => {
  it('a client pinned to the server SPIFFE ID connects; pinned to another ID it refuses the server', async () => {
    const good = clientFor(pki.gateway, { serverSpiffeId: 'spiffe://krypton.dev/core' });
    const wrong = clientFor(pki.gateway, { serverSpiffeId: 'spiffe://krypton.dev/not-core' });
    try {
      await expect(good.request('GET', '/v1/whoami')).resolves.toMatchObject({ status: 200 });
      const err = await wrong.request('GET', '/v1/whoami').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect(String((err as TransportError).cause ?? err)).toContain('not spiffe://krypton.dev/not-core');
    } finally {
      await good.close();
      await wrong.close();
    }
  });

  it('a client refuses a server whose certificate does not name the host it dialled', async () => {
    const c = clientFor(pki.gateway, { url: `https://127.0.0.1:${server.port}`, servername: 'core.elsewhere' });
    try {
      await expect(c.request('GET', '/v1/whoami')).rejects.toBeInstanceOf(TransportError);
    } finally {
      await c.close();
    }
  });
});

describe('bodies and errors', () => {
  let client: MtlsClient;
  beforeAll(() => {
    client = clientFor(pki.gateway);
  });
  afterAll(async () => {
    await client.close();
  });

  const bytes = Buffer.from([0, 1, 2, 250, 255, 0x0a, 0x22]);

  it('JSON: bytes go out as base64, come back decoded for the handler and re-encoded as base64', async () => {
    const reply = await client.request<Record<string, unknown>>('POST', '/v1/echo', {
      data: bytes.toString('base64'),
      note: 'hi',
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ data: bytes.toString('base64'), length: bytes.length, note: 'hi', isBuffer: true });
  });

  it('JSON: a Buffer in the request body is sent as base64 by the client', async () => {
    const reply = await client.request<{ data: string }>('POST', '/v1/echo-helper', { data: bytes });
    expect(Buffer.from(reply.body.data, 'base64')).toEqual(bytes);
  });

  it('msgpack: bytes travel as bin both ways and the reply is msgpack', async () => {
    const reply = await client.request<{ data: Uint8Array; length: number }>(
      'POST',
      '/v1/echo',
      { data: bytes, note: 'bin' },
      { contentType: 'application/msgpack' },
    );
    expect(Buffer.from(reply.body.data)).toEqual(bytes);
    expect(reply.body.length).toBe(bytes.length);
  });

  it('replies in the format named by Accept, and in the request format otherwise', async () => {
    const session = rawSession(server.port, pki.ca.certPem, pki.gateway);
    try {
      const body = JSON.stringify({ data: bytes.toString('base64') });
      const asMsgpack = await rawRequest(
        session,
        { ':method': 'POST', ':path': '/v1/echo', 'content-type': 'application/json', accept: 'application/msgpack' },
        (req) => req.end(body),
      );
      expect(asMsgpack.headers['content-type']).toBe('application/msgpack');
      const asJson = await rawRequest(
        session,
        { ':method': 'POST', ':path': '/v1/echo', 'content-type': 'application/json' },
        (req) => req.end(body),
      );
      expect(asJson.headers['content-type']).toBe('application/json');
    } finally {
      session.close();
    }
  });

  it('refuses bad base64, malformed JSON and an unknown content-type with BAD_REQUEST', async () => {
    await expect(client.request('POST', '/v1/echo', { data: 'not base64!' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    const session = rawSession(server.port, pki.ca.certPem, pki.gateway);
    try {
      const malformed = await rawRequest(
        session,
        { ':method': 'POST', ':path': '/v1/echo', 'content-type': 'application/json' },
        (req) => req.end('{"data":'),
      );
      expect(malformed.status).toBe(400);
      expect(JSON.parse(malformed.body.toString())).toMatchObject({ code: 'BAD_REQUEST' });
      const xml = await rawRequest(
        session,
        { ':method': 'POST', ':path': '/v1/echo', 'content-type': 'text/xml' },
        (req) => req.end('<a/>'),
      );
      expect(xml.status).toBe(400);
    } finally {
      session.close();
    }
  });

  it('refuses a body nested deeper than the limit with BAD_REQUEST', async () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    const session = rawSession(server.port, pki.ca.certPem, pki.gateway);
    try {
      const reply = await rawRequest(session, { ':method': 'POST', ':path': '/v1/echo' }, (req) => req.end(deep));
      expect(reply.status).toBe(400);
    } finally {
      session.close();
    }
  });

  it('answers FRAME_TOO_LARGE (413) from content-length before reading an oversized body', async () => {
    const err = await client
      .request('POST', '/v1/echo', { data: Buffer.alloc(100 * 1024, 7) })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FRAME_TOO_LARGE', status: 413 });
    // The session is still usable afterwards.
    await expect(client.request('GET', '/v1/whoami')).resolves.toMatchObject({ status: 200 });
  });

  it('answers FRAME_TOO_LARGE (413) while streaming a body that declares no length', async () => {
    const session = rawSession(server.port, pki.ca.certPem, pki.gateway);
    try {
      const reply = await rawRequest(session, { ':method': 'POST', ':path': '/v1/echo' }, (req) => {
        // 16 KiB chunks with no content-length: the limit must hold on the bytes actually received.
        let sent = 0;
        const pump = (): void => {
          while (sent < 1024 * 1024 && !req.destroyed) {
            sent += 16 * 1024;
            if (!req.write(Buffer.alloc(16 * 1024, 0x20))) {
              req.once('drain', pump);
              return;
            }
          }
          if (!req.destroyed) req.end();
        };
        req.on('error', () => {});
        pump();
      });
      expect(reply.status).toBe(413);
      expect(JSON.parse(reply.body.toString())).toMatchObject({ code: 'FRAME_TOO_LARGE' });
    } finally {
      session.destroy();
    }
  });

  it('a thrown KryptonError reaches the client as its code, status and message', async () => {
    await expect(client.request('POST', '/v1/revoked')).rejects.toMatchObject({
      code: 'KEY_REVOKED',
      status: 410,
      message: 'key version is revoked',
    });
  });

  it('a thrown non-Krypton error is 500 INTERNAL with a generic message, never its own', async () => {
    const err = (await client.request('POST', '/v1/boom').catch((e: unknown) => e)) as KryptonError;
    expect(err).toMatchObject({ code: 'INTERNAL', status: 500 });
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('secret');
  });

  it('an unknown route, or a wrong method, is NOT_FOUND', async () => {
    await expect(client.request('GET', '/v1/nothing')).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    await expect(client.request('DELETE', '/v1/whoami')).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });
});

describe('faults', () => {
  it('peers that reset streams and drop sessions mid-request do not crash the server', async () => {
    for (let i = 0; i < 20; i++) {
      const session = rawSession(server.port, pki.ca.certPem, pki.gateway);
      const req = session.request({ ':method': 'POST', ':path': '/v1/slow?ms=50', 'content-length': '1000' });
      req.on('error', () => {});
      req.write(Buffer.alloc(300));
      await sleep(2);
      if (i % 3 === 0) req.close(http2.constants.NGHTTP2_CANCEL);
      else if (i % 3 === 1) session.destroy();
      else session.destroy(new Error('peer gave up'), http2.constants.NGHTTP2_PROTOCOL_ERROR);
      // A stream that was answered while being reset must not hurt either.
      const fast = rawSession(server.port, pki.ca.certPem, pki.gateway);
      const r = fast.request({ ':method': 'POST', ':path': '/v1/slow?ms=1' });
      r.on('error', () => {});
      r.end();
      r.on('response', () => fast.destroy());
      session.destroy();
    }
    await sleep(100);
    const reply = await withClient(pki.gateway, (c) => c.request('GET', '/v1/whoami'));
    expect(reply.status).toBe(200);
  });

  it('a client that sends garbage instead of HTTP/2 after the handshake does not crash the server', async () => {
    await new Promise<void>((resolve) => {
      const sock = tls.connect({
        host: '127.0.0.1',
        port: server.port,
        ca: pki.ca.certPem,
        key: pki.gateway.keyPem,
        cert: pki.gateway.certPem,
        ALPNProtocols: ['h2'],
      });
      sock.resume(); // read, so the server's GOAWAY and close are seen
      sock.on('error', () => resolve());
      sock.on('close', () => resolve());
      sock.on('secureConnect', () => sock.write(Buffer.alloc(1000, 0xff)));
    });
    const reply = await withClient(pki.gateway, (c) => c.request('GET', '/v1/whoami'));
    expect(reply.status).toBe(200);
  });

  it('advertises the concurrent-stream limit and drops a peer that does not speak h2 at once', async () => {
    const own = await serverWith({ maxConcurrentStreams: 7 });
    try {
      const session = rawSession(own.port, pki.ca.certPem, pki.gateway);
      const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
      expect(settings.maxConcurrentStreams).toBe(7);
      session.destroy();
      const started = Date.now();
      await new Promise<void>((resolve) => {
        const sock = tls.connect({
          host: '127.0.0.1',
          port: own.port,
          ca: pki.ca.certPem,
          key: pki.gateway.keyPem,
          cert: pki.gateway.certPem,
          ALPNProtocols: ['http/1.1'],
        });
        sock.resume();
        sock.on('error', () => resolve());
        sock.on('close', () => resolve());
      });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await own.close(500);
    }
  });

  it('the client times out a request past its deadline and the session stays usable', async () => {
    const c = clientFor(pki.gateway, { timeoutMs: 50 });
    try {
      const err = await c.request('POST', '/v1/slow?ms=500').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect((err as TransportError).kind).toBe('timeout');
      await expect(c.request('GET', '/v1/whoami', undefined, { timeoutMs: 2000 })).resolves.toMatchObject({
        status: 200,
      });
    } finally {
      await c.close();
    }
  });

  it('the client reconnects on the next request after its session dies', async () => {
    const other = await serverWith({ sessionIdleTimeoutMs: 50 });
    const c2 = clientFor(pki.gateway, { url: `https://127.0.0.1:${other.port}`, timeoutMs: 2000 });
    try {
      await expect(c2.request('GET', '/v1/whoami')).resolves.toMatchObject({ status: 200 });
      await sleep(200); // the server closes the idle session
      await expect(c2.request('GET', '/v1/whoami')).resolves.toMatchObject({ status: 200 });
    } finally {
      await c2.close();
      await other.close(500);
    }
  });

  it('a request that outlives the per-stream timeout is answered OVERLOADED (503)', async () => {
    const other = await serverWith({ streamTimeoutMs: 50 });
    const c = clientFor(pki.gateway, { url: `https://127.0.0.1:${other.port}` });
    try {
      await expect(c.request('POST', '/v1/slow?ms=300')).rejects.toMatchObject({ code: 'OVERLOADED', status: 503 });
    } finally {
      await c.close();
      await other.close(500);
    }
  });
});

describe('streaming routes', () => {
  for (const contentType of ['application/msgpack', 'application/json'] as const) {
    it(`delivers ${contentType} frames in order and the handler stops when the client closes`, async () => {
      const c = clientFor(pki.gateway);
      const exitedBefore = events.handlerExited;
      const frames: Array<{ epoch: number; key: unknown }> = [];
      let closedWith: Error | undefined | 'open' = 'open';
      try {
        const handle = c.stream('/v1/events?since=7', (f) => frames.push(f as { epoch: number; key: unknown }), {
          contentType,
          onClose: (err) => (closedWith = err),
        });
        await until(() => frames.length >= 5);
        handle.close();
        expect(frames.slice(0, 5).map((f) => f.epoch)).toEqual([7, 8, 9, 10, 11]);
        const key = frames[0].key;
        expect(
          contentType === 'application/json' ? Buffer.from(key as string, 'base64') : Buffer.from(key as Uint8Array),
        ).toEqual(Buffer.from([7, 1, 2]));
        expect(closedWith).toBeUndefined();
        await until(() => events.handlerExited === exitedBefore + 1);
        const sentAtExit = events.sent;
        await sleep(50);
        expect(events.sent).toBe(sentAtExit);
      } finally {
        await c.close();
      }
    });
  }

  it('a stream is refused like any request when the identity is not allowed', async () => {
    const c = clientFor(pki.intruder);
    try {
      const err = await new Promise<Error | undefined>((resolve) => {
        c.stream('/v1/events', () => {}, { onClose: resolve });
      });
      expect(err).toMatchObject({ code: 'FORBIDDEN' });
    } finally {
      await c.close();
    }
  });
});

describe('graceful close', () => {
  it('drains an in-flight request, ends open event streams and then stops accepting', async () => {
    const own = await serverWith();
    const c = clientFor(pki.gateway, { url: `https://127.0.0.1:${own.port}` });
    try {
      let streamClosed: Error | undefined | 'open' = 'open';
      c.stream('/v1/events', () => {}, { onClose: (err) => (streamClosed = err) });
      const inFlight = c.request('POST', '/v1/slow?ms=300');
      await sleep(50);
      const started = Date.now();
      await own.close(3000);
      await expect(inFlight).resolves.toMatchObject({ status: 200, body: { slept: true } });
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      await until(() => streamClosed !== 'open');
      expect(streamClosed).toBeUndefined();
      const late = await c.request('GET', '/v1/whoami', undefined, { timeoutMs: 1000 }).catch((e: unknown) => e);
      expect(late).toBeInstanceOf(TransportError);
    } finally {
      await c.close();
    }
  });

  it('destroys sessions whose requests outlast the drain timeout', async () => {
    const own = await serverWith();
    const c = clientFor(pki.gateway, { url: `https://127.0.0.1:${own.port}` });
    try {
      const inFlight = c.request('POST', '/v1/slow?ms=2000').catch((e: unknown) => e);
      await sleep(50);
      const started = Date.now();
      await own.close(100);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(await inFlight).toBeInstanceOf(TransportError);
    } finally {
      await c.close();
    }
  });
});
