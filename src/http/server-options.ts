/**
 * The mTLS server's options and its handle: what callers of
 * createMtlsServer (server.ts) and the request handling (serve.ts) share.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Route } from './router.js';

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
