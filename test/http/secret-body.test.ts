/**
 * Routes whose body carries secrets (review M5): msgpack only, JSON refused
 * before it is parsed, and every buffer that held the body zeroed once the
 * handler is done, whether it returned or threw; the client wipes what it
 * sent; refused requests reach the server's refusal hook.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KryptonError } from '../../src/errors.js';
import { scrubStack } from '../../src/http/stack-scrub.js';
import {
  createMtlsClient,
  createMtlsServer,
  MSGPACK_TYPE,
  type MtlsClient,
  type MtlsServer,
  type RefusedRequest,
  type Route,
} from '../../src/http/index.js';
import { makeTestPki, type TestPki } from './fixtures.js';

let pki: TestPki;
let server: MtlsServer;
let client: MtlsClient;
const seen: Buffer[][] = [];
const refused: RefusedRequest[] = [];
let handled = 0;

const routes: Route[] = [
  {
    method: 'POST',
    path: '/v1/secret',
    secret: true,
    handler: async (ctx) => {
      handled++;
      const shares = (ctx.body as { shares: Buffer[] }).shares;
      seen.push(shares);
      if (shares.length > 1) throw new KryptonError('BAD_REQUEST', 'one only');
      return { length: shares[0].length, first: shares[0][0] };
    },
  },
  {
    method: 'POST',
    path: '/v1/admin/only',
    allow: (id) => id === 'spiffe://krypton.dev/admin',
    handler: async () => ({ ok: true }),
  },
];

beforeAll(async () => {
  pki = await makeTestPki();
  server = await createMtlsServer({
    key: pki.server.keyPem,
    cert: pki.server.certPem,
    ca: pki.ca.certPem,
    routes,
    identity: { allowed: () => true },
    onRefused: async (r) => {
      refused.push(r);
    },
  });
  client = createMtlsClient({
    url: `https://127.0.0.1:${server.port}`,
    key: pki.gateway.keyPem,
    cert: pki.gateway.certPem,
    ca: pki.ca.certPem,
    timeoutMs: 5000,
  });
});
afterAll(async () => {
  await client?.close();
  await server?.close(1000);
});

describe('a route with a secret body', () => {
  it('is zeroed once the handler returned, and once it threw', async () => {
    const a = Buffer.alloc(33, 0xab);
    const reply = await client.request('POST', '/v1/secret', { shares: [a] }, { contentType: MSGPACK_TYPE });
    expect(reply.body).toEqual({ length: 33, first: 0xab });
    await expect(
      client.request('POST', '/v1/secret', { shares: [a, a] }, { contentType: MSGPACK_TYPE }),
    ).rejects.toThrow(/one only/);
    expect(seen).toHaveLength(2);
    for (const shares of seen) for (const s of shares) expect(s.equals(Buffer.alloc(33))).toBe(true);
  });

  it('refuses JSON with BAD_REQUEST before the handler runs', async () => {
    const before = handled;
    await expect(client.request('POST', '/v1/secret', { shares: [Buffer.alloc(33, 1)] })).rejects.toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST' }),
    );
    expect(handled).toBe(before);
  });

  it('a secret request from the client goes as msgpack, whatever content type was asked', async () => {
    const reply = await client.request(
      'POST',
      '/v1/secret',
      { shares: [Buffer.alloc(33, 7)] },
      { contentType: 'application/json', secret: true },
    );
    expect(reply.body).toEqual({ length: 33, first: 7 });
  });

  it('the stack scrub runs', () => {
    for (let i = 0; i < 50; i++) expect(scrubStack(4)).toBe(true);
  });
});

describe('the refusal hook', () => {
  it('hears every refused request, with the route it matched and who asked', async () => {
    refused.length = 0;
    await expect(client.request('POST', '/v1/admin/only')).rejects.toThrow(
      expect.objectContaining({ code: 'FORBIDDEN' }),
    );
    await expect(client.request('POST', '/v1/nowhere')).rejects.toThrow();
    expect(refused.map((r) => [r.method, r.path, r.route, r.identity, (r.error as KryptonError).code])).toEqual([
      ['POST', '/v1/admin/only', '/v1/admin/only', 'spiffe://krypton.dev/gateway/default', 'FORBIDDEN'],
      ['POST', '/v1/nowhere', undefined, 'spiffe://krypton.dev/gateway/default', 'NOT_FOUND'],
    ]);
  });
});
