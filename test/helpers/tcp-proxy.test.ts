import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import amqp from 'amqplib';
import { afterEach, describe, expect, it } from 'vitest';
import { AmqpMesh, DEFAULT_AMQP_URL } from '../../src/mesh/amqp.js';
import { makeEvent } from '../../src/protocol/orbital-events.js';
import { testKeyring } from '../mesh/keyring.js';
import { captureLogger, waitFor } from '../mesh/helpers.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/** Connects, sends `text`, and resolves with what came back before the socket closed or `text` was echoed whole. */
function exchange(port: number, text: string): Promise<{ data: string; error?: string; socket: Socket }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let error: string | undefined;
    const done = () => resolve({ data, ...(error ? { error } : {}), socket });
    socket.on('data', (b) => {
      data += b.toString();
      if (data === text) done();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => void (error = err.code ?? err.message));
    socket.on('close', done);
    socket.write(text);
  });
}

const closedOf = (s: Socket) =>
  new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));

describe('tcp proxy against an echo server', () => {
  let echo: Server;
  let proxy: TcpProxy;

  afterEach(async () => {
    await proxy?.close();
    await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
  });

  async function start(): Promise<void> {
    echo = createServer((s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    proxy = await startTcpProxy({ targetHost: '127.0.0.1', targetPort: (echo.address() as { port: number }).port });
  }

  it('relays bytes both ways and counts open connections', async () => {
    await start();
    const r = await exchange(proxy.port, 'hello');
    expect(r.data).toBe('hello');
    expect(proxy.connections()).toBe(1);
    r.socket.end();
    await closedOf(r.socket);
    await waitFor(() => proxy.connections() === 0, 5_000, 'the pair to close');
  });

  it('cut resets open connections and refuses new ones until heal, on the same port', async () => {
    await start();
    const open = await exchange(proxy.port, 'before');
    expect(open.data).toBe('before');
    const gone = closedOf(open.socket);
    await proxy.cut();
    await gone;
    expect(proxy.connections()).toBe(0);

    const during = await exchange(proxy.port, 'during');
    expect(during.data).toBe('');
    expect(during.error).toBe('ECONNRESET');
    expect(proxy.refused()).toBe(1);

    proxy.heal();
    const after = await exchange(proxy.port, 'after');
    expect(after.data).toBe('after');
    after.socket.destroy();
  });

  it('close stops listening', async () => {
    await start();
    const { port } = proxy;
    await proxy.close();
    const r = await exchange(port, 'x');
    expect(r.error).toBe('ECONNREFUSED');
  });
});

/** Against the real RabbitMQ of CI, as test/mesh/amqp.test.ts (KRYPTON_SKIP_AMQP=1 skips). */
const URL = process.env['KRYPTON_TEST_AMQP_URL'] ?? DEFAULT_AMQP_URL;

describe.skipIf(process.env['KRYPTON_SKIP_AMQP'] === '1')('tcp proxy against RabbitMQ', () => {
  it('a mesh behind the proxy loses the broker on cut and is back after heal', async () => {
    const broker = new globalThis.URL(URL);
    const proxy = await startTcpProxy({ targetHost: broker.hostname, targetPort: Number(broker.port || 5672) });
    const proxied = new globalThis.URL(URL);
    proxied.hostname = '127.0.0.1';
    proxied.port = String(proxy.port);
    const namespace = `krypton.test.proxy.${randomBytes(4).toString('hex')}`;
    const opts = { namespace, initialDelayMs: 20, maxDelayMs: 200, confirmTimeoutMs: 5_000 };
    const keys = testKeyring(['registry', 'core']);
    const behind = new AmqpMesh({
      ...opts,
      auth: keys.auth('registry'),
      url: proxied.toString(),
      logger: captureLogger().logger,
    });
    const direct = new AmqpMesh({ ...opts, auth: keys.auth('core'), url: URL, logger: captureLogger().logger });
    const got: string[] = [];
    try {
      await direct.start(5_000);
      await direct.subscribe('core', ['Key.Define'], async (e) => void got.push(e.id));
      await behind.start(5_000);
      const first = makeEvent('Key.Define', 'registry', { tenant: 't1', service: 'before', action: 'define' });
      await behind.publish(first);
      await waitFor(() => got.includes(first.id), 5_000, 'the first event');

      await proxy.cut();
      await waitFor(() => !behind.status().connected, 5_000, 'the mesh to notice the cut');
      const lost = makeEvent('Key.Define', 'registry', { tenant: 't1', service: 'cut', action: 'define' });
      await expect(behind.publish(lost)).rejects.toThrow(/disconnected/);
      // Its reconnect attempts hit the partition and are turned away.
      await waitFor(() => proxy.refused() >= 2, 5_000, 'reconnect attempts during the cut');
      expect(behind.status().connected).toBe(false);

      proxy.heal();
      await behind.waitConnected(10_000);
      const after = makeEvent('Key.Define', 'registry', { tenant: 't1', service: 'after', action: 'define' });
      await behind.publish(after);
      await waitFor(() => got.includes(after.id), 5_000, 'the event published after heal');
      expect(got).not.toContain(lost.id);
      expect(behind.status().reconnects).toBeGreaterThanOrEqual(1);
    } finally {
      await behind.close();
      await direct.close();
      keys.destroy();
      await proxy.close();
      const admin = await amqp.connect(URL, { timeout: 5_000 });
      const ch = await admin.createChannel();
      const t = direct.topology;
      await ch.deleteQueue(t.queueFor('core'));
      await ch.deleteQueue(t.deadLetterQueue);
      await ch.deleteExchange(t.exchange);
      await ch.deleteExchange(t.deadLetterExchange);
      await admin.close();
    }
  });
});
