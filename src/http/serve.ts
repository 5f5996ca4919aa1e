/**
 * Serving one stream of the mTLS server: the caller's identity checks, the
 * route, then a unary reply (the body read within its limit, wiped when it
 * carries secrets) or a stream of frames; every refusal goes through the
 * refusal hook and out as an error reply.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Logger } from 'pino';
import { KryptonError } from '../errors.js';
import { checkDeclaredLength, readBody } from './body.js';
import {
  contentTypeOf,
  decodeBytes,
  decodeBody,
  encodeBody,
  formatOfContentType,
  RawBody,
  replyFormat,
  type BodyFormat,
} from './codec.js';
import type { PeerIdentity } from './identity.js';
import { errorReply } from './reply.js';
import {
  parseTarget,
  type Match,
  type RequestContext,
  type Router,
  type StreamRoute,
  type UnaryRoute,
} from './router.js';
import type { MtlsServerOptions } from './server-options.js';
import { scrubStack } from './stack-scrub.js';
import { openStreamWriter } from './stream-writer.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** What serving a stream needs of its server. */
export interface ServeContext {
  opts: Pick<MtlsServerOptions, 'identity' | 'onRefused'>;
  router: Router;
  limits: { maxBodyBytes: number; streamTimeoutMs: number };
  log: Logger;
  /** Long-lived streams are ended at shutdown rather than waited for. */
  liveStreams: Set<AbortController>;
}

/** A request as far as it got: what its log line, its refusal and its reply need. */
interface Exchange {
  readonly stream: ServerHttp2Stream;
  readonly method: string;
  readonly path: string;
  readonly started: number;
  format: BodyFormat;
  identity: string | undefined;
  routePath: string | undefined;
  bodyUnread: boolean;
}

/** Serves one stream of a session whose caller is `peer`; answers its own errors. */
export async function serve(
  sc: ServeContext,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  peer: PeerIdentity,
): Promise<void> {
  const started = performance.now();
  const method = String(headers[':method'] ?? '');
  const { path, query } = parseTarget(String(headers[':path'] ?? '/'));
  const accept = headers['accept'];
  const ex: Exchange = {
    stream,
    method,
    path,
    started,
    format: 'json',
    identity: undefined,
    routePath: undefined,
    bodyUnread: true,
  };

  try {
    ex.format = replyFormat(accept, safeFormat(headers['content-type']));
    const { route, params, identity } = admit(sc, ex, peer);

    const controller = new AbortController();
    stream.once('close', () => controller.abort());
    const ctx: RequestContext = {
      method,
      path,
      params,
      query,
      identity,
      body: undefined,
      headers,
      signal: controller.signal,
      log: sc.log,
    };

    if (route.stream) {
      stream.setTimeout(0);
      await serveStream(sc, stream, route, ctx, controller, ex.format);
      logDone(sc.log, ex, 200);
      return;
    }
    await serveUnary(sc, ex, route, ctx);
  } catch (err) {
    await refuse(sc, ex, err);
  }
}

/** The caller's checks: one usable SPIFFE ID, allowed on this server, a route, and allowed on that route. */
function admit(sc: ServeContext, ex: Exchange, peer: PeerIdentity): Match & { identity: string } {
  if (!peer.ok) throw new KryptonError('UNAUTHENTICATED', peer.reason);
  const identity = peer.spiffeId;
  ex.identity = identity;
  if (!sc.opts.identity.allowed(identity)) throw new KryptonError('FORBIDDEN', 'identity not allowed');
  const { route, params } = sc.router.match(ex.method, ex.path);
  ex.routePath = route.path;
  if (route.allow && !route.allow(identity)) throw new KryptonError('FORBIDDEN', 'identity not allowed on this route');
  return { route, params, identity };
}

/** A unary route: its body read within the limits and under the stream deadline, its handler's reply sent. */
async function serveUnary(sc: ServeContext, ex: Exchange, route: UnaryRoute, ctx: RequestContext): Promise<void> {
  const { stream } = ex;
  stream.setTimeout(sc.limits.streamTimeoutMs, () => {
    if (!stream.headersSent) reply(stream, 503, ex.format, { code: 'OVERLOADED', message: 'request timed out' }, true);
    else stream.close(NGHTTP2_CANCEL);
  });
  const inFormat = formatOfContentType(ctx.headers['content-type']);
  checkDeclaredLength(ctx.headers['content-length'], sc.limits.maxBodyBytes);
  const secret = route.secret === true;
  const raw = await readBody(stream, sc.limits.maxBodyBytes, secret);
  ex.bodyUnread = false;
  const result = await runHandler(route, ctx, raw, inFormat, secret);
  if (result === undefined) reply(stream, 204, ex.format, undefined, false);
  else reply(stream, 200, ex.format, result, false);
  logDone(sc.log, ex, result === undefined ? 204 : 200);
}

/** Decodes the body and runs the handler; a secret body is wiped once the handler has returned or thrown. */
async function runHandler(
  route: UnaryRoute,
  ctx: RequestContext,
  raw: Buffer,
  inFormat: BodyFormat,
  secret: boolean,
): Promise<unknown> {
  try {
    // Read (so it can be wiped) but never parsed: JSON would leave the secret in strings.
    if (secret && raw.length > 0 && inFormat !== 'msgpack')
      throw new KryptonError('BAD_REQUEST', 'this route takes application/msgpack only');
    ctx.body = decodeWithBytes(raw, inFormat, route);
    return await route.handler(ctx);
  } finally {
    if (secret) {
      raw.fill(0); // and with it every bin field decoded from it (msgpackr hands out views)
      ctx.body = undefined;
      // The TLS plaintext Node left on the C++ stack; from a callback of its own, below the event loop.
      setImmediate(() => scrubStack());
    }
  }
}

async function serveStream(
  sc: ServeContext,
  stream: ServerHttp2Stream,
  route: StreamRoute,
  ctx: RequestContext,
  controller: AbortController,
  format: BodyFormat,
): Promise<void> {
  sc.liveStreams.add(controller);
  try {
    // The request body of a stream route is not used; drain it so flow control never stalls.
    stream.resume();
    const writer = openStreamWriter(stream, format, controller);
    await route.handler(ctx, writer);
    if (!stream.destroyed && !stream.writableEnded) stream.end();
  } catch (err) {
    if (stream.headersSent) {
      errorReply(err, sc.log, { method: ctx.method, path: ctx.path, identity: ctx.identity });
      if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
    } else {
      throw err;
    }
  } finally {
    sc.liveStreams.delete(controller);
  }
}

/** A refused request: the refusal hook first (its failure only logged), then the error reply. */
async function refuse(sc: ServeContext, ex: Exchange, err: unknown): Promise<void> {
  const { method, path, identity } = ex;
  if (sc.opts.onRefused) {
    try {
      await sc.opts.onRefused({ method, path, route: ex.routePath, identity, error: err });
    } catch (hookErr) {
      sc.log.error({ err: hookErr, method, path, identity }, 'refusal hook failed');
    }
  }
  const { status, body } = errorReply(err, sc.log, { method, path, identity });
  reply(ex.stream, status, ex.format, body, ex.bodyUnread);
  logDone(sc.log, ex, status);
}

function logDone(log: Logger, ex: Exchange, status: number): void {
  const { method, path, identity } = ex;
  log.debug({ method, path, status, identity, ms: +(performance.now() - ex.started).toFixed(3) }, 'request');
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
function reply(
  stream: ServerHttp2Stream,
  status: number,
  format: BodyFormat,
  body: unknown,
  resetAfter: boolean,
): void {
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
