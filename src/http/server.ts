/**
 * The Core's HTTP/2 + mutual-TLS server (docs/design.md section 5). The handshake
 * refuses certificates that do not chain to the CA or are out of their
 * validity; after it, the caller must carry exactly one SPIFFE ID that the
 * identity policy allows. Every server, session and stream has an error
 * handler: a peer that resets or vanishes never takes the process down.
 */
import http2, { type Http2SecureServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { DEFAULT_MAX_BODY_BYTES } from './body.js';
import { Router } from './router.js';
import { serve, type ServeContext } from './serve.js';
import { SessionTable } from './sessions.js';
import type { MtlsServer, MtlsServerLimits, MtlsServerOptions } from './server-options.js';

export type { MtlsServer, MtlsServerLimits, MtlsServerOptions, RefusedRequest } from './server-options.js';

const DEFAULTS = {
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxConcurrentStreams: 128,
  maxSessionMemoryMb: 10,
  maxSessions: 1024,
  sessionIdleTimeoutMs: 60_000,
  streamTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
} satisfies Required<MtlsServerLimits>;

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;
/** OpenSSL 3's SSL_OP_BIT(1) (not in node:crypto's constants). */
const SSL_OP_CLEANSE_PLAINTEXT = 1 << 1;

export async function createMtlsServer(opts: MtlsServerOptions): Promise<MtlsServer> {
  const limits = { ...DEFAULTS, ...opts.limits };
  const log = opts.logger ?? pino({ level: 'silent' });
  const router = new Router(opts.routes);
  const sessions = new SessionTable(limits.sessionIdleTimeoutMs, log);
  const sc: ServeContext = { opts, router, limits, log, liveStreams: new Set<AbortController>() };

  const server = http2.createSecureServer(tlsOptions(opts, limits));
  server.maxConnections = limits.maxSessions;

  server.on('error', (err) => log.error({ err }, 'http2 server error'));
  // A peer that did not negotiate h2 (e.g. HTTP/1.1 over TLS) is dropped at once, not after Node's 10 s grace.
  server.on('unknownProtocol', (socket) => socket.destroy());
  // Refused handshakes (wrong CA, expired, no certificate) land here; they are expected, so debug.
  server.on('tlsClientError', (err: Error) => log.debug({ err: err.message }, 'tls handshake refused'));
  server.on('session', (session) => sessions.add(session));
  server.on('stream', (stream, headers) => onStream(sc, sessions, stream, headers));

  await listen(server, opts.port ?? 0, opts.host ?? '127.0.0.1');
  const address = server.address() as AddressInfo;
  log.info({ host: address.address, port: address.port }, 'mTLS server listening');

  const close = (timeoutMs = 5_000): Promise<void> => shutdown(server, sessions, sc.liveStreams, timeoutMs);
  return { address, port: address.port, close };
}

/** TLS 1.3 with a client certificate that must chain to the CA; h2 only; the session limits. */
function tlsOptions(opts: MtlsServerOptions, limits: Required<MtlsServerLimits>): http2.SecureServerOptions {
  return {
    key: opts.key,
    cert: opts.cert,
    ca: opts.ca,
    minVersion: 'TLSv1.3',
    requestCert: true,
    rejectUnauthorized: true,
    allowHTTP1: false,
    handshakeTimeout: limits.handshakeTimeoutMs,
    maxSessionMemory: limits.maxSessionMemoryMb,
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: 16 * 1024 },
    maxHeaderListPairs: 64,
    // OpenSSL keeps each decrypted record in its read buffer until the next
    // one overwrites it; this zeroes it once delivered (request bodies may
    // carry secrets: unseal shares).
    secureOptions: SSL_OP_CLEANSE_PLAINTEXT,
  };
}

/** A new stream: its error handler, counted on its session, then served; one of an unknown session is cancelled. */
function onStream(
  sc: ServeContext,
  sessions: SessionTable,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
): void {
  stream.on('error', (err) => sc.log.debug({ err: err.message }, 'http2 stream error'));
  const state = sessions.track(stream);
  if (!state) {
    stream.close(NGHTTP2_CANCEL);
    return;
  }
  void serve(sc, stream, headers, state.identity).catch((err: unknown) => {
    // serve answers its own errors; reaching here is a bug, kept out of the process's way.
    sc.log.error({ err }, 'unexpected failure serving a stream');
    if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
  });
}

function listen(server: Http2SecureServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops listening, ends the long-lived streams, closes the sessions; destroys what is left after timeoutMs. */
async function shutdown(
  server: Http2SecureServer,
  sessions: SessionTable,
  liveStreams: ReadonlySet<AbortController>,
  timeoutMs: number,
): Promise<void> {
  sessions.markClosing();
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const c of liveStreams) c.abort();
  await sessions.closeAll(timeoutMs);
  await stopped;
}
