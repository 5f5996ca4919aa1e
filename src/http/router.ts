/**
 * Routes: a method and a path pattern whose `:name` segments become
 * ctx.params. Unary routes return a body; streaming routes push frames until
 * they finish or the client goes away.
 */
import type { IncomingHttpHeaders } from 'node:http2';
import type { Logger } from 'pino';
import { KryptonError } from '../errors.js';

export interface RequestContext {
  method: string;
  /** The path without the query string. */
  path: string;
  params: Record<string, string>;
  /** Query parameters; a repeated name keeps its first value. */
  query: Record<string, string>;
  /** The caller's SPIFFE ID, from its client certificate. */
  identity: string;
  /** The decoded body (undefined when empty); fields named in route.bytes are Buffers. */
  body: unknown;
  headers: IncomingHttpHeaders;
  /** Aborted when the client resets or disconnects, or the server shuts down. */
  signal: AbortSignal;
  log: Logger;
}

export interface StreamWriter {
  /** Sends one frame; resolves when the transport can take more (backpressure). A no-op once closed. */
  send(frame: unknown): Promise<void>;
  /** True once the client has gone or the server is closing; the handler should return. */
  readonly closed: boolean;
  readonly signal: AbortSignal;
}

interface RouteBase {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  path: string;
  /** A per-route identity check on top of the server's (e.g. admin routes); false is FORBIDDEN. */
  allow?: (spiffeId: string) => boolean;
}

export interface UnaryRoute extends RouteBase {
  stream?: false;
  /** Top-level body fields that carry bytes: base64-decoded from JSON, checked as bin in msgpack. */
  bytes?: string[];
  /**
   * The body carries secrets (unseal shares): it is taken as msgpack only (a
   * JSON body is refused with BAD_REQUEST before it is parsed: JSON would
   * turn its bytes into strings, which cannot be wiped), and every buffer
   * that held it (the chunks read, the body, so the bin fields decoded from
   * it) is zeroed once the handler has returned or thrown. The handler must
   * keep no reference to body bytes.
   */
  secret?: boolean;
  /** The returned value is the 200 reply body; undefined replies 204 with no body. */
  handler: (ctx: RequestContext) => Promise<unknown>;
}

export interface StreamRoute extends RouteBase {
  stream: true;
  handler: (ctx: RequestContext, writer: StreamWriter) => Promise<void>;
}

export type Route = UnaryRoute | StreamRoute;

interface Compiled {
  route: Route;
  segments: Array<{ literal: string } | { param: string }>;
}

export interface Match {
  route: Route;
  params: Record<string, string>;
}

function split(path: string): string[] {
  if (!path.startsWith('/')) throw new KryptonError('BAD_REQUEST', 'path must start with /');
  return path.slice(1).split('/');
}

export class Router {
  private readonly compiled: Compiled[];

  constructor(routes: readonly Route[]) {
    const seen = new Set<string>();
    this.compiled = routes.map((route) => {
      const segments = split(route.path).map((s) => {
        if (!s.startsWith(':')) return { literal: s };
        if (!/^:[A-Za-z_][A-Za-z0-9_]*$/.test(s)) throw new Error(`bad route parameter ${s} in ${route.path}`);
        return { param: s.slice(1) };
      });
      // Two routes that match the same requests are a programming error.
      const shape = `${route.method} /${segments.map((s) => ('param' in s ? ':' : s.literal)).join('/')}`;
      if (seen.has(shape)) throw new Error(`duplicate route ${route.method} ${route.path}`);
      seen.add(shape);
      return { route, segments };
    });
  }

  /**
   * The route for a request, or a BAD_REQUEST naming what is wrong. (The
   * error catalogue has no generic NOT_FOUND; UNKNOWN_SERVICE means a
   * missing service, not a missing route.)
   */
  match(method: string, path: string): Match {
    const parts = split(path);
    let pathMatched = false;
    for (const { route, segments } of this.compiled) {
      if (segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segments.length && ok; i++) {
        const seg = segments[i]!;
        const part = parts[i]!;
        if ('literal' in seg) ok = seg.literal === part;
        else if (part.length === 0) ok = false;
        else params[seg.param] = decodeParam(part);
      }
      if (!ok) continue;
      pathMatched = true;
      if (route.method === method) return { route, params };
    }
    throw new KryptonError(
      'NOT_FOUND',
      pathMatched ? `method ${method} not allowed here` : `no route ${method} ${path}`,
    );
  }
}

function decodeParam(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new KryptonError('BAD_REQUEST', 'malformed path parameter');
  }
}

/** Splits `:path` into the path and its query parameters. */
export function parseTarget(target: string): { path: string; query: Record<string, string> } {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  if (q >= 0) {
    for (const [k, v] of new URLSearchParams(target.slice(q + 1))) if (!(k in query)) query[k] = v;
  }
  return { path, query };
}
