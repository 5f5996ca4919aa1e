/**
 * HTTP/2 + mTLS client for the Core's API (used by the Gateway and the admin
 * commands). One long-lived session, opened on first use and reopened on
 * the next request after it dies; a deadline on every request; error replies
 * come back as the server's KryptonError.
 */
import http2, {
  type Http2Session,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { pino, type Logger } from 'pino';
import { spiffeUrisOf } from '../pki/spiffe.js';
import { isErrorCode, KryptonError } from '../errors.js';
import {
  decodeBody,
  encodeBody,
  formatOfContentType,
  FrameDecoder,
  JSON_TYPE,
  MSGPACK_TYPE,
  type BodyFormat,
} from './codec.js';

export interface MtlsClientOptions {
  /** e.g. https://127.0.0.1:7443 */
  url: string;
  key: string | Buffer;
  cert: string | Buffer;
  ca: string | Buffer;
  /** The name the server certificate must carry, when it is not the URL's host. */
  servername?: string;
  /** When set, the server certificate must also carry exactly this SPIFFE ID (e.g. spiffe://krypton.dev/core). */
  serverSpiffeId?: string;
  /** Per-request deadline (default 10 s); for a stream, the deadline for its first response. */
  timeoutMs?: number;
  /** Largest reply or stream frame accepted (default 16 MiB). */
  maxResponseBytes?: number;
  logger?: Logger;
}

export type BodyContentType = typeof JSON_TYPE | typeof MSGPACK_TYPE;

export interface RequestOptions {
  contentType?: BodyContentType;
  timeoutMs?: number;
  /**
   * The body carries secrets: it is sent as msgpack (JSON would copy its
   * bytes into strings, which cannot be wiped) and the encoded payload is
   * zeroed once the request has settled, whatever the outcome. The caller
   * wipes its own buffers.
   */
  secret?: boolean;
}

export interface MtlsResponse<T = unknown> {
  status: number;
  body: T;
}

export interface StreamOptions {
  /** Frame format asked for (default msgpack). */
  contentType?: BodyContentType;
  /** Called once when the stream ends: no argument for a clean end or close(), else why it failed. */
  onClose?: (err?: Error) => void;
}

export interface StreamHandle {
  close(): void;
}

export interface MtlsClient {
  request<T = unknown>(method: string, path: string, body?: unknown, opts?: RequestOptions): Promise<MtlsResponse<T>>;
  stream(path: string, onFrame: (frame: unknown) => void, opts?: StreamOptions): StreamHandle;
  close(): Promise<void>;
}

/**
 * The request never got an answer: no connection, refused handshake, reset
 * or deadline. Not a server verdict, so not a catalogue code; the caller
 * decides what it means (the Gateway fails closed with KEY_UNAVAILABLE).
 */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'connection' | 'reset' | 'protocol',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

const { NGHTTP2_CANCEL } = http2.constants;

/** The usual host name check, then, when asked, the server's SPIFFE ID. */
function checkServer(host: string, cert: PeerCertificate, spiffeId: string | undefined): Error | undefined {
  const hostError = checkServerIdentity(host, cert);
  if (hostError || spiffeId === undefined) return hostError;
  let ids: string[];
  try {
    ids = spiffeUrisOf(cert.raw);
  } catch {
    ids = [];
  }
  if (ids.length === 1 && ids[0] === spiffeId) return undefined;
  return new Error(`server certificate is not ${spiffeId} (has ${ids.join(', ') || 'no SPIFFE ID'})`);
}

function formatOf(type: BodyContentType | undefined): BodyFormat {
  return type === MSGPACK_TYPE ? 'msgpack' : 'json';
}

/** Turns a non-2xx reply into the server's KryptonError. */
function replyError(status: number, body: unknown): KryptonError {
  const b = body as { code?: unknown; message?: unknown } | undefined;
  if (b && isErrorCode(b.code)) return new KryptonError(b.code, typeof b.message === 'string' ? b.message : undefined);
  return new KryptonError('INTERNAL', `unexpected reply status ${status}`);
}

// The error that killed a session, so a stream that dies with it can say why (e.g. a refused handshake).
const sessionErrors = new WeakMap<Http2Session, Error>();

function sessionError(req: ClientHttp2Stream): Error | undefined {
  return req.session ? sessionErrors.get(req.session) : undefined;
}

function asTransportError(err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  const e = err as NodeJS.ErrnoException;
  const kind = e?.code === 'ERR_HTTP2_STREAM_ERROR' ? 'reset' : 'connection';
  return new TransportError(`${kind} failure: ${e?.message ?? String(err)}`, kind, { cause: err });
}

export function createMtlsClient(opts: MtlsClientOptions): MtlsClient {
  const log = opts.logger ?? pino({ level: 'silent' });
  const cfg: ClientConfig = {
    timeoutMs: opts.timeoutMs ?? 10_000,
    maxBytes: opts.maxResponseBytes ?? 16 * 1024 * 1024,
  };
  const sessions = new SessionHolder(opts, log);
  return {
    request: <T>(method: string, path: string, body?: unknown, ro: RequestOptions = {}) =>
      sendRequest<T>(sessions, cfg, method, path, body, ro),
    stream: (path, onFrame, so = {}) => openStream(sessions, cfg, path, onFrame, so),
    close: () => sessions.close(),
  };
}

/** The client's defaults: the deadline and the largest reply or frame. */
interface ClientConfig {
  timeoutMs: number;
  maxBytes: number;
}

/** The one long-lived session: opened on first use, forgotten when it fails or is told to go away. */
class SessionHolder {
  private session: ClientHttp2Session | undefined;
  private closed = false;

  constructor(
    private readonly opts: MtlsClientOptions,
    private readonly log: Logger,
  ) {}

  private get(): ClientHttp2Session {
    if (this.closed) throw new TransportError('client is closed', 'connection');
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const { opts, log } = this;
    const s = http2.connect(opts.url, {
      key: opts.key,
      cert: opts.cert,
      ca: opts.ca,
      servername: opts.servername,
      minVersion: 'TLSv1.3',
      checkServerIdentity: (host, cert) => checkServer(host, cert, opts.serverSpiffeId),
    });
    // Forget a session as soon as it fails or is told to go away, so the next request reconnects.
    const forget = (): void => {
      if (this.session === s) this.session = undefined;
    };
    s.on('error', (err: Error) => {
      log.debug({ err: err.message }, 'http2 client session error');
      sessionErrors.set(s, err);
      forget();
    });
    s.on('goaway', forget);
    s.on('close', forget);
    this.session = s;
    return s;
  }

  /** A new stream on the session (reconnecting first if it died), with its error handler. */
  open(headers: http2.OutgoingHttpHeaders): ClientHttp2Stream {
    const req = this.get().request(headers);
    req.on('error', (err: Error) => this.log.debug({ err: err.message }, 'http2 client stream error'));
    return req;
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.session;
    this.session = undefined;
    if (!s || s.closed || s.destroyed) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** One unary request: the body encoded, sent, and the reply awaited under the deadline. */
function sendRequest<T>(
  sessions: SessionHolder,
  cfg: ClientConfig,
  method: string,
  path: string,
  body: unknown,
  ro: RequestOptions,
): Promise<MtlsResponse<T>> {
  return new Promise((resolve, reject) => {
    const format = ro.secret ? 'msgpack' : formatOf(ro.contentType);
    const type = format === 'msgpack' ? MSGPACK_TYPE : JSON_TYPE;
    let payload: Buffer | undefined;
    let req: ClientHttp2Stream;
    try {
      payload = body === undefined ? undefined : encodeBody(body, format);
      const headers: http2.OutgoingHttpHeaders = { ':method': method, ':path': path, accept: type };
      if (payload) {
        headers['content-type'] = type;
        headers['content-length'] = payload.length;
      }
      req = sessions.open(headers);
    } catch (err) {
      if (ro.secret) payload?.fill(0);
      reject(err instanceof KryptonError ? err : asTransportError(err));
      return;
    }

    let settled = false;
    const finish = (err: Error | undefined, value?: MtlsResponse<T>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Settled: the body was sent (or never will be), so its bytes are no longer needed.
      if (ro.secret) payload?.fill(0);
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => {
      finish(new TransportError(`${method} ${path} timed out after ${ro.timeoutMs ?? cfg.timeoutMs} ms`, 'timeout'));
      if (!req.destroyed) req.close(NGHTTP2_CANCEL);
    }, ro.timeoutMs ?? cfg.timeoutMs);

    readReply(req, `${method} ${path}`, cfg.maxBytes, finish);
    // The server may answer (e.g. FRAME_TOO_LARGE) before taking the whole body; that is not an error here.
    req.end(payload);
  });
}

/** Collects a unary reply (at most maxBytes) and settles with it, its error, or why none came. */
function readReply<T>(
  req: ClientHttp2Stream,
  what: string,
  maxBytes: number,
  finish: (err: Error | undefined, value?: MtlsResponse<T>) => void,
): void {
  let status = 0;
  let responseHeaders: IncomingHttpHeaders = {};
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('response', (h) => {
    responseHeaders = h;
    status = Number(h[':status']);
  });
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      finish(new TransportError(`reply larger than ${maxBytes} bytes`, 'protocol'));
      req.close(NGHTTP2_CANCEL);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    let decoded: unknown;
    try {
      const type = String(responseHeaders['content-type'] ?? '');
      const body = Buffer.concat(chunks, size);
      // Text replies (Prometheus /metrics) come back as they are.
      decoded = type.startsWith('text/') ? body.toString('utf8') : decodeBody(body, formatOfContentType(type));
    } catch (err) {
      finish(new TransportError('undecodable reply', 'protocol', { cause: err }));
      return;
    }
    if (status === 0) {
      finish(new TransportError(`${what}: no reply (session failed)`, 'connection', { cause: sessionError(req) }));
    } else if (status >= 200 && status < 300) finish(undefined, { status, body: decoded as T });
    else finish(replyError(status, decoded));
  });
  req.on('error', (err) => finish(asTransportError(err)));
  req.on('close', () => {
    // Reached only when no 'end' came first: reset, or the session died.
    finish(new TransportError(`${what}: stream closed without a reply (code ${req.rstCode})`, 'reset'));
  });
}

/** A server stream: frames handed to onFrame as they come, onClose called once at its end. */
function openStream(
  sessions: SessionHolder,
  cfg: ClientConfig,
  path: string,
  onFrame: (frame: unknown) => void,
  so: StreamOptions,
): StreamHandle {
  const { timeoutMs, maxBytes } = cfg;
  const format = formatOf(so.contentType ?? MSGPACK_TYPE);
  let ended = false;
  let req: ClientHttp2Stream | undefined;
  const end = (err?: Error): void => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    if (req && !req.destroyed) req.close(NGHTTP2_CANCEL);
    so.onClose?.(err);
  };
  const timer = setTimeout(
    () => end(new TransportError(`GET ${path}: no response in ${timeoutMs} ms`, 'timeout')),
    timeoutMs,
  );
  try {
    req = sessions.open({ ':method': 'GET', ':path': path, accept: format === 'msgpack' ? MSGPACK_TYPE : JSON_TYPE });
  } catch (err) {
    queueMicrotask(() => end(asTransportError(err)));
    return { close: () => end() };
  }
  const decoder = new FrameDecoder(format, maxBytes);
  let status = 0;
  let replyType: string | undefined;
  const errorChunks: Buffer[] = [];
  req.on('response', (h) => {
    clearTimeout(timer);
    status = Number(h[':status']);
    replyType = h['content-type'];
  });
  req.on('data', (chunk: Buffer) => {
    if (ended) return;
    if (status !== 200) {
      errorChunks.push(chunk);
      return;
    }
    try {
      for (const frame of decoder.push(chunk)) onFrame(frame);
    } catch (err) {
      end(err instanceof Error ? err : new Error(String(err)));
    }
  });
  req.on('end', () => {
    if (status === 0) {
      end(new TransportError(`GET ${path}: no reply (session failed)`, 'connection', { cause: sessionError(req) }));
      return;
    }
    if (status === 200) {
      end();
      return;
    }
    let body: unknown;
    try {
      body = decodeBody(Buffer.concat(errorChunks), formatOfContentType(replyType));
    } catch {
      body = undefined;
    }
    end(replyError(status, body));
  });
  req.on('error', (err) => end(asTransportError(err)));
  req.on('close', () => end(new TransportError(`GET ${path}: stream reset (code ${req.rstCode})`, 'reset')));
  req.end();
  return { close: () => end() };
}
