/**
 * The same client survives a Gateway restart, and a network cut, on the
 * real local stack without being reconnected by hand.
 *
 * The client dials a TCP proxy that stands for the Gateway's stable
 * address: a new Gateway process cannot listen on the old one's port for
 * a while after it drained its connections (the server side of those is in
 * TIME_WAIT), so the restarted Gateway gets a fresh port and the proxy
 * follows it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KryptonClient, KryptonConnectionError } from '@krypton/client';
import { join } from 'node:path';
import { createToken } from '../../src/gateway/tokens.js';
import { startTcpProxy, type TcpProxy } from '../gateway/tcp-proxy.js';
import { startStack, type TestStack } from './stack.js';

let stack: TestStack;
let proxy: TcpProxy;
let url: string;

beforeAll(async () => {
  stack = await startStack();
  proxy = await startTcpProxy(stack.gateway.port);
  url = `ws://127.0.0.1:${proxy.port}/v1/ws`;
});
afterAll(async () => {
  await proxy?.close();
  await stack?.stop();
});

const later = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('keeps working across a Gateway restart; calls made while it is down wait for the reconnect', async () => {
  const client = await KryptonClient.connect({
    url,
    token: stack.token,
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
    requestTimeoutMs: 15_000,
  });
  try {
    const k = await client.createKey('app');
    await stack.gateway.stop();
    // Down: this call waits in the queue (bounded by requestTimeoutMs) instead of failing.
    const waiting = client.decryptKey(k.blob).then(
      (p) => ({ p }),
      (e: unknown) => ({ e }),
    );
    await later(300);
    expect(client.stats()).toMatchObject({ queued: 1, inflight: 0 });
    proxy.retarget(await stack.restartGateway());
    const r = await waiting;
    expect('p' in r && r.p.equals(k.plaintext)).toBe(true);
    const again = await client.createKey('app');
    expect((await client.decryptKey(again.blob)).equals(again.plaintext)).toBe(true);
    expect(client.stats().reconnects).toBeGreaterThanOrEqual(1);
  } finally {
    await client.close();
  }
});

it('a call that outlives requestTimeoutMs while the Gateway is unreachable fails with a connection error, and the client comes back', async () => {
  const client = await KryptonClient.connect({
    url,
    token: stack.token,
    reconnect: { minDelayMs: 20, maxDelayMs: 200 },
    requestTimeoutMs: 500,
  });
  try {
    await client.ping();
    proxy.pause(); // cuts the socket and refuses new ones
    await later(200); // let the client see the drop (a call sent before that fails as 'disconnected')
    const err = await client.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KryptonConnectionError);
    expect(err).toMatchObject({ reason: 'timeout', code: 'KEY_UNAVAILABLE' });
    proxy.resume();
    await expect
      .poll(
        () =>
          client.ping().then(
            () => 'ok',
            () => 'down',
          ),
        { timeout: 10_000, interval: 100 },
      )
      .toBe('ok');
    expect(client.stats().reconnects).toBeGreaterThanOrEqual(1);
  } finally {
    await client.close();
  }
});

it('a token limited to other services is FORBIDDEN (a token added to the file is taken without a restart)', async () => {
  const { token } = createToken(join(stack.dir, 'tokens.json'), 'demo', ['billing']);
  // The Gateway notices the file change within a second.
  const create = () =>
    fetch(`http://127.0.0.1:${stack.gateway.port}/v1/keys/create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: '{"service":"app"}',
    });
  await expect.poll(async () => (await create()).status, { timeout: 2_000, interval: 50 }).toBe(403);
  const limited = await KryptonClient.connect({ url, token });
  try {
    const err = await limited.createKey('app').catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(KryptonConnectionError);
    expect(err).toMatchObject({ code: 'FORBIDDEN', status: 403 });
  } finally {
    await limited.close();
  }
});
