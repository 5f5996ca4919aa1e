/**
 * The Core's HTTP/2 + mutual-TLS server (docs/design.md section 5). The handshake
 * refuses certificates that do not chain to the CA or are out of their
 * validity; after it, the caller must carry exactly one SPIFFE ID that the
 * identity policy allows. Every server, session and stream has an error
 * handler: a peer that resets or vanishes never takes the process down.
 */
import http2, { type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { pino, type Logger } from 'pino';
import { KryptonError } from '../errors.js';
import { checkDeclaredLength, DEFAULT_MAX_BODY_BYTES, readBody } from './body.js';
import { contentTypeOf, decodeBytes, decodeBody, encodeBody, formatOfContentType, RawBody, replyFormat, type BodyFormat } from './codec.js';
import { peerIdentity, type PeerIdentity } from './identity.js';
import { errorReply } from './reply.js';
import { parseTarget, Router, type RequestContext, type Route, type StreamRoute, type UnaryRoute } from './router.js';
import { scrubStack } from './stack-scrub.js';
import { openStreamWriter } from './stream-writer.js';

export interface MtlsServerLimits {
  /** Request body limit in bytes (default 64 KiB). */
  maxBodyBytes?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS per session (default 128). */
  maxConcurrentStreams?: number;
  /** Per-session nghttp2 memory in MiB before new streams are refused (default 10). */
  maxSessionMemoryMb?: number;
  /** Concurrent TLS connections (default 1024). */
  maxSessions?: number;
  /** A session with no open stream for this long is closed (default 60 s). */
  sessionIdleTimeoutMs?: number;
  /** A unary request idle this long is answered OVERLOADED and reset (default 30 s). */
  streamTimeoutMs?: number;
  /** TLS handshake deadline (default 10 s). */
  handshakeTimeoutMs?: number;
}

export interface MtlsServerOptions {
  key: string | Buffer;
  cert: string | Buffer;
  /** The CA that client certificates must chain to. */
  ca: string | Buffer;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  routes: readonly Route[];
  identity: { allowed: (spiffeId: string) => boolean };
  limits?: MtlsServerLimits;
  logger?: Logger;
  /**
   * Called for every request refused with an error (unknown or refused
   * identity, no route, a route's `allow`, a bad body, a handler's error),
   * before the refusal is sent; the reply waits for it (audit). If it
   * throws, that is logged and the refusal goes out unchanged.
   */
  onRefused?: (r: RefusedRequest) => Promise<void>;
}

export interface RefusedRequest {
  method: string;
  /** The path as requested (without the query). */
  path: string;
  /** The matched route's pattern, e.g. `/v1/admin/tenants/:tenant`; undefined when none matched. */
  route: string | undefined;
  /** The caller's SPIFFE ID; undefined when it had none usable. */
  identity: string | undefined;
  error: unknown;
}

export interface MtlsServer {
  readonly address: AddressInfo;
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish for up to timeoutMs, then destroys what is left. */
  close(timeoutMs?: number): Promise<void>;
}

const DEFAULTS = {
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxConcurrentStreams: 128,
  maxSessionMemoryMb: 10,
  maxSessions: 1024,
  sessionIdleTimeoutMs: 60_000,
  streamTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
} satisfies Required<MtlsServerLimits>;

interface SessionState {
  identity: PeerIdentity;
  active: number;
  idleTimer: NodeJS.Timeout | undefined;
}

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;
/** OpenSSL 3's SSL_OP_BIT(1) (not in node:crypto's constants). */
const SSL_OP_CLEANSE_PLAINTEXT = 1 << 1;

export async function createMtlsServer(opts: MtlsServerOptions): Promise<MtlsServer> {
  const limits = { ...DEFAULTS, ...opts.limits };
  const log = opts.logger ?? pino({ level: 'silent' });
  const router = new Router(opts.routes);
  const sessions = new Map<Http2Session, SessionState>();
  // Long-lived streams are ended at shutdown rather than waited for.
  const liveStreams = new Set<AbortController>();
  let closing = false;

  const server = http2.createSecureServer({
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
  });
  server.maxConnections = limits.maxSessions;

  server.on('error', (err) => log.error({ err }, 'http2 server error'));
  // A peer that did not negotiate h2 (e.g. HTTP/1.1 over TLS) is dropped at once, not after Node's 10 s grace.
  server.on('unknownProtocol', (socket) => socket.destroy());
  // Refused handshakes (wrong CA, expired, no certificate) land here; they are expected, so debug.
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'tls handshake refused'));

  const armIdle = (session: Http2Session, state: SessionState): void => {
    clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(() => {
      if (state.active === 0) session.close();
    }, limits.sessionIdleTimeoutMs);
    state.idleTimer.unref();
  };

  server.on('session', (session) => {
    session.on('error', (err) => log.debug({ err: err.message }, 'http2 session error'));
    const state: SessionState = {
      identity: peerIdentity(session.socket as TLSSocket),
      active: 0,
      idleTimer: undefined,
    };
    sessions.set(session, state);
    session.on('close', () => {
      clearTimeout(state.idleTimer);
      sessions.delete(session);
    });
    if (closing) session.close();
    else armIdle(session, state);
  });

  server.on('stream', (stream, headers) => {
    stream.on('error', (err) => log.debug({ err: err.message }, 'http2 stream error'));
    const session = stream.session;
    const state = session ? sessions.get(session) : undefined;
    if (!session || !state) {
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    state.active++;
    clearTimeout(state.idleTimer);
    stream.once('close', () => {
      state.active--;
      if (state.active === 0 && !session.closed && !session.destroyed) armIdle(session, state);
    });
    void serve(stream, headers, state).catch((err: unknown) => {
      // serve answers its own errors; reaching here is a bug, kept out of the process's way.
      log.error({ err }, 'unexpected failure serving a stream');
      if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
    });
  });

  async function serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, state: SessionState): Promise<void> {
    const started = performance.now();
    const method = String(headers[':method'] ?? '');
    const { path, query } = parseTarget(String(headers[':path'] ?? '/'));
    const accept = headers['accept'];
    let format: BodyFormat = 'json';
    let identity: string | undefined;
    let routePath: string | undefined;
    let bodyUnread = true;
    const done = (status: number): void =>
      log.debug({ method, path, status, identity, ms: +(performance.now() - started).toFixed(3) }, 'request');

    try {
      format = replyFormat(accept, safeFormat(headers['content-type']));
      if (!state.identity.ok) throw new KryptonError('UNAUTHENTICATED', state.identity.reason);
      identity = state.identity.spiffeId;
      if (!opts.identity.allowed(identity)) throw new KryptonError('FORBIDDEN', 'identity not allowed');
      const { route, params } = router.match(method, path);
      routePath = route.path;
      if (route.allow && !route.allow(identity)) throw new KryptonError('FORBIDDEN', 'identity not allowed on this route');

      const controller = new AbortController();
      stream.once('close', () => controller.abort());
      const ctx: RequestContext = { method, path, params, query, identity, body: undefined, headers, signal: controller.signal, log };

      if (route.stream) {
        stream.setTimeout(0);
        await serveStream(stream, route, ctx, controller, format);
        done(200);
        return;
      }

      stream.setTimeout(limits.streamTimeoutMs, () => {
        if (!stream.headersSent) reply(stream, 503, format, { code: 'OVERLOADED', message: 'request timed out' }, true);
        else stream.close(NGHTTP2_CANCEL);
      });
      const inFormat = formatOfContentType(headers['content-type']);
      checkDeclaredLength(headers['content-length'], limits.maxBodyBytes);
      const secret = route.secret === true;
      const raw = await readBody(stream, limits.maxBodyBytes, secret);
      bodyUnread = false;
      let result: unknown;
      try {
        // Read (so it can be wiped) but never parsed: JSON would leave the secret in strings.
        if (secret && raw.length > 0 && inFormat !== 'msgpack') throw new KryptonError('BAD_REQUEST', 'this route takes application/msgpack only');
        ctx.body = decodeWithBytes(raw, inFormat, route);
        result = await route.handler(ctx);
      } finally {
        if (secret) {
          raw.fill(0); // and with it every bin field decoded from it (msgpackr hands out views)
          ctx.body = undefined;
          // The TLS plaintext Node left on the C++ stack; from a callback of its own, below the event loop.
          setImmediate(() => scrubStack());
        }
      }
      if (result === undefined) reply(stream, 204, format, undefined, false);
      else reply(stream, 200, format, result, false);
      done(result === undefined ? 204 : 200);
    } catch (err) {
      if (opts.onRefused) {
        try {
          await opts.onRefused({ method, path, route: routePath, identity, error: err });
        } catch (hookErr) {
          log.error({ err: hookErr, method, path, identity }, 'refusal hook failed');
        }
      }
      const { status, body } = errorReply(err, log, { method, path, identity });
      reply(stream, status, format, body, bodyUnread);
      done(status);
    }
  }

  async function serveStream(
    stream: ServerHttp2Stream,
    route: StreamRoute,
    ctx: RequestContext,
    controller: AbortController,
    format: BodyFormat,
  ): Promise<void> {
    liveStreams.add(controller);
    try {
      // The request body of a stream route is not used; drain it so flow control never stalls.
      stream.resume();
      const writer = openStreamWriter(stream, format, controller);
      await route.handler(ctx, writer);
      if (!stream.destroyed && !stream.writableEnded) stream.end();
    } catch (err) {
      if (stream.headersSent) {
        errorReply(err, log, { method: ctx.method, path: ctx.path, identity: ctx.identity });
        if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
      } else {
        throw err;
      }
    } finally {
      liveStreams.delete(controller);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  log.info({ host: address.address, port: address.port }, 'mTLS server listening');

  async function close(timeoutMs = 5_000): Promise<void> {
    closing = true;
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of liveStreams) c.abort();
    for (const session of sessions.keys()) if (!session.closed) session.close();
    const deadline = Date.now() + timeoutMs;
    while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const session of sessions.keys()) session.destroy();
    await stopped;
  }

  return { address, port: address.port, close };
}

/** The request's format for choosing the reply's, without failing (the failure is reported later). */
function safeFormat(contentType: string | undefined): BodyFormat {
  try {
    return formatOfContentType(contentType);
  } catch {
    return 'json';
  }
}

function decodeWithBytes(raw: Buffer, format: BodyFormat, route: UnaryRoute): unknown {
  const body = decodeBody(raw, format);
  if (!route.bytes || route.bytes.length === 0) return body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new KryptonError('BAD_REQUEST', 'body must be an object');
  }
  const record = body as Record<string, unknown>;
  for (const name of route.bytes) {
    if (record[name] !== undefined && record[name] !== null) record[name] = decodeBytes(record[name], name);
  }
  return record;
}

/**
 * Sends a whole reply. When the request body was not read to its end (an
 * early refusal), the stream is then reset with NO_ERROR, as RFC 9113
 * section 8.1 asks, so the client stops sending.
 */
function reply(stream: ServerHttp2Stream, status: number, format: BodyFormat, body: unknown, resetAfter: boolean): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  const raw = body instanceof RawBody;
  const payload = body === undefined ? undefined : raw ? Buffer.from(body.body) : encodeBody(body, format);
  const headers: http2.OutgoingHttpHeaders = { ':status': status };
  if (payload) {
    headers['content-type'] = raw ? body.contentType : contentTypeOf(format);
    headers['content-length'] = payload.length;
  }
  try {
    stream.respond(headers, { endStream: !payload });
    if (payload) stream.end(payload);
  } catch {
    return; // the peer went away between the check and the write
  }
  if (resetAfter) {
    const reset = (): void => {
      if (!stream.destroyed && !stream.closed) stream.close(NGHTTP2_NO_ERROR);
    };
    if (payload) stream.once('finish', reset);
    else reset();
  }
}
