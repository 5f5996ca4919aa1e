/**
 * A TCP proxy for disaster-recovery tests: put it between a process and
 * RabbitMQ (or any TCP service) and cut() simulates a network partition for
 * that process alone, while the shared broker and everyone else carry on.
 *
 * While cut, the listener stays open and every new connection is accepted
 * and reset at once. Closing the listener and reopening it on heal was the
 * alternative; it was not chosen because the port is only ours while we
 * hold it (another process may take an ephemeral port in between, and the
 * reopen then fails with EADDRINUSE), and because a reset gives the client
 * the same prompt failure a refused connect does: an AMQP client's connect
 * fails at once and it backs off, instead of hanging until a timeout.
 *
 * The partition is a loud one (peers see a reset), not a black hole where
 * packets vanish and only heartbeats notice; tests of that need more.
 * (test/gateway/tcp-proxy.ts is the Gateway's older, HTTPS-specific variant.)
 */
import { connect, createServer, type Socket } from 'node:net';

export interface TcpProxyOptions {
  targetHost: string;
  targetPort: number;
  /** 0 (the default) picks a free port. */
  listenPort?: number;
  /** Default 127.0.0.1. */
  listenHost?: string;
}

export interface TcpProxy {
  port: number;
  /** Resets every open connection (both sides) and every new one until heal(); resolves once all are closed. */
  cut(): Promise<void>;
  /** New connections are proxied again (the ones cut stay gone: clients reconnect). */
  heal(): void;
  /** Resets everything and stops listening. */
  close(): Promise<void>;
  /** Client connections currently proxied. */
  connections(): number;
  /** Connections reset on arrival because the proxy was cut (a test can wait for a client's retry). */
  refused(): number;
}

export async function startTcpProxy(o: TcpProxyOptions): Promise<TcpProxy> {
  let isCut = false;
  let refused = 0;
  const pairs = new Set<{ client: Socket; upstream: Socket; closed: Promise<void> }>();

  const server = createServer((client) => {
    client.on('error', () => undefined);
    if (isCut) {
      refused++;
      reset(client);
      return;
    }
    const upstream = connect(o.targetPort, o.targetHost);
    upstream.on('error', () => undefined);
    // Either side ending ends the other: a half-open pair would hide a partition.
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    const closed = Promise.all([once(client), once(upstream)]).then(() => undefined);
    const pair = { client, upstream, closed };
    pairs.add(pair);
    void closed.then(() => pairs.delete(pair));
    client.pipe(upstream).pipe(client);
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listenPort ?? 0, o.listenHost ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;

  const resetAll = async () => {
    const all = [...pairs];
    for (const p of all) {
      reset(p.client);
      p.upstream.destroy();
    }
    await Promise.all(all.map((p) => p.closed));
  };

  return {
    port,
    cut: async () => {
      isCut = true;
      await resetAll();
    },
    heal: () => {
      isCut = false;
    },
    close: async () => {
      isCut = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await resetAll();
      await stopped;
    },
    connections: () => pairs.size,
    refused: () => refused,
  };
}

/**
 * A reset, not a FIN: the client sees ECONNRESET at once, as on a dropped
 * link. libuv cannot reset a socket whose write side is already shutting
 * down (Node then emits 'error' and never 'close'): those get a plain destroy.
 */
function reset(s: Socket): void {
  if (s.destroyed) return;
  if (s.connecting || s.writableEnded) s.destroy();
  else s.resetAndDestroy();
}

/** Resolves when the socket is gone: 'close', or 'error' (a failed reset never emits 'close'). */
function once(s: Socket): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise((resolve) => {
    s.once('close', () => resolve());
    s.once('error', () => resolve());
  });
}
