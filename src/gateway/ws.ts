/**
 * The WebSocket entrance, `/v1/ws` (docs/design.md section 4): bearer token on
 * the upgrade, binary msgpack frames, one reply frame per frame. Every uWS
 * callback runs inside exactly one try/catch, so no exception crosses into
 * uWS. Limits: connection cap, in-flight requests per connection, lease
 * fetches per connection, idle timeout, and backpressure (a client that does
 * not read is disconnected at the limit, so memory stays bounded). A reply
 * that carries plaintext keys is wiped once uWS has it; a session whose
 * token is revoked is closed.
 */
import type { Logger } from 'pino';
import { errors, KryptonError } from '../errors.js';
import type { GatewayFrame } from '../protocol/gateway-frame.js';
import { decodeFrame } from './frame/decode.js';
import { encodeFrame, encodeFrameError } from './frame/encode.js';
import type { GatewayLimits } from './limits.js';
import { LeaseBudget } from './ops/lease-budget.js';
import type { FrameResult, Outcomes, Pipeline } from './pipeline.js';
import type { TokenGrant, TokenStore } from './tokens.js';
import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from './uws.js';

/** Close code for a session whose token was revoked (4000-4999 are the application's; 401 as in HTTP). */
export const CLOSE_TOKEN_REVOKED = 4401;

const FRAMED = { framedReply: true };

export interface Conn {
  grant: TokenGrant;
  inflight: number;
  closed: boolean;
  budget: LeaseBudget;
}

export interface WsDeps {
  limits: GatewayLimits;
  tokens: TokenStore;
  pipeline: Pipeline;
  log: Logger;
  observe(outcomes: Outcomes, t0: bigint): void;
  /** Counts frames refused whole, by reason. */
  refused(code: string): void;
  /** Work that outlives its callback: the server drains it on close. */
  begin(): void;
  end(): void;
  draining(): boolean;
}

export interface WsEntrance {
  behavior: WebSocketBehavior<Conn>;
  connections(): number;
  /** Closes every session (server shutdown). */
  closeAll(code: number, reason: string): void;
  /** Stops listening for token revocations. */
  dispose(): void;
}

/** Wipes what held plaintext keys: the encoded reply and its sources (once each). */
export function wipe(bytes: Uint8Array | null, secrets: readonly Uint8Array[]): void {
  if (bytes !== null && secrets[0] !== bytes) bytes.fill(0);
  for (const s of secrets) s.fill(0);
}

function refuseAll(frame: GatewayFrame, err: KryptonError): FrameResult {
  const replies = frame.requests.map((r) => ({ id: r.id, error: err, result: null }));
  return { batch: frame.batch, replies, secrets: [], outcomes: [['frame', err.code]] };
}

/** The entrance's dependencies and the sessions open now. */
interface WsState {
  deps: WsDeps;
  open: Set<WebSocket<Conn>>;
}

export function wsEntrance(deps: WsDeps): WsEntrance {
  const { tokens, log } = deps;
  const s: WsState = { deps, open: new Set<WebSocket<Conn>>() };

  const unsubscribe = tokens.onRevoke((ids) => {
    try {
      closeRevoked(s.open, ids);
    } catch (err) {
      log.error({ err }, 'closing the sessions of a revoked token failed');
    }
  });

  return {
    behavior: wsBehavior(s),
    connections: () => s.open.size,
    closeAll: (code, reason) => {
      for (const ws of [...s.open]) ws.end(code, reason);
    },
    dispose: unsubscribe,
  };
}

function closeRevoked(open: ReadonlySet<WebSocket<Conn>>, ids: ReadonlySet<string>): void {
  for (const ws of [...open]) {
    const conn = ws.getUserData();
    if (!conn.closed && ids.has(conn.grant.id)) ws.end(CLOSE_TOKEN_REVOKED, 'token revoked');
  }
}

/** The uWS behaviour of `/v1/ws`: its limits and its callbacks, each inside one try/catch. */
function wsBehavior(s: WsState): WebSocketBehavior<Conn> {
  const { limits, log } = s.deps;
  return {
    // larger frames get FRAME_TOO_LARGE; far larger ones are cut off
    maxPayloadLength: Math.max(limits.maxFrameBytes * 4, 256 * 1024),
    idleTimeout: limits.idleTimeoutSeconds,
    maxBackpressure: limits.maxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => upgrade(s, res, req, context),
    open: (ws) => {
      try {
        s.open.add(ws);
      } catch (err) {
        log.error({ err }, 'websocket open failed');
      }
    },
    close: (ws) => {
      try {
        ws.getUserData().closed = true;
        s.open.delete(ws);
      } catch (err) {
        log.error({ err }, 'websocket close failed');
      }
    },
    message: (ws, message, isBinary) => onMessage(s, ws, message, isBinary),
  };
}

/** The upgrade: refused while draining or at the connection cap, or without a valid bearer token. */
function upgrade(s: WsState, res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
  const { limits, tokens, log } = s.deps;
  try {
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const grant = tokens.fromHeader(req.getHeader('authorization'));
    if (s.deps.draining() || s.open.size >= limits.maxConnections) {
      res
        .writeStatus('503 OVERLOADED')
        .end(JSON.stringify({ code: 'OVERLOADED', message: 'connection limit reached' }));
    } else if (grant === null) {
      res
        .writeStatus('401 UNAUTHENTICATED')
        .end(JSON.stringify({ code: 'UNAUTHENTICATED', message: 'a valid bearer token is required' }));
    } else {
      const conn: Conn = {
        grant,
        inflight: 0,
        closed: false,
        budget: new LeaseBudget(limits.maxLeaseFetchesPerConnection),
      };
      res.upgrade<Conn>(conn, key, protocol, extensions, context);
    }
  } catch (err) {
    log.error({ err }, 'websocket upgrade failed');
    res.writeStatus('500 INTERNAL').end(JSON.stringify({ code: 'INTERNAL', message: 'internal error' }));
  }
}

/** One frame in: its replies now, or once the pipeline settles; a frame refused whole gets one error frame. */
function onMessage(s: WsState, ws: WebSocket<Conn>, message: ArrayBuffer, isBinary: boolean): void {
  const { limits, pipeline } = s.deps;
  const t0 = process.hrtime.bigint();
  try {
    // (A revoked token's session is closed as the token file is reloaded, in the same tick.)
    const conn = ws.getUserData();
    if (!isBinary) throw errors.badRequest('frames are binary msgpack');
    const frame = decodeFrame(new Uint8Array(message), limits);
    if (conn.inflight >= limits.maxInflightPerConnection) {
      const overloaded = new KryptonError('OVERLOADED', 'too many requests in flight on this connection');
      deliver(s.deps, ws, refuseAll(frame, overloaded), t0);
      return;
    }
    const r = pipeline.run(conn.grant, frame, conn.budget, FRAMED);
    if (!(r instanceof Promise)) {
      deliver(s.deps, ws, r, t0);
      return;
    }
    replyWhenSettled(s.deps, ws, conn, r, t0);
  } catch (err) {
    refuseFrame(s.deps, ws, err, t0);
  }
}

/** Counts the frame in flight (and as work the server drains) until its replies are sent or dropped. */
function replyWhenSettled(deps: WsDeps, ws: WebSocket<Conn>, conn: Conn, r: Promise<FrameResult>, t0: bigint): void {
  conn.inflight++;
  deps.begin();
  r.then(
    (out) => {
      if (conn.closed) wipe(null, out.secrets);
      else ws.cork(() => deliver(deps, ws, out, t0));
    },
    (err: unknown) => {
      if (!conn.closed) ws.cork(() => refuseFrame(deps, ws, err, t0));
    },
  )
    .catch((err: unknown) => deps.log.error({ err }, 'websocket reply failed'))
    .finally(() => {
      conn.inflight--;
      deps.end();
    });
}

/** Sends a frame's replies, then wipes them; the wipe happens even if sending fails. */
function deliver(deps: WsDeps, ws: WebSocket<Conn>, out: FrameResult, t0: bigint): void {
  let bytes: Buffer | null = null;
  try {
    bytes = encodeFrame(out.replies, out.batch);
    ws.send(bytes, true);
  } finally {
    wipe(bytes, out.secrets);
  }
  deps.observe(out.outcomes, t0);
}

function refuseFrame(deps: WsDeps, ws: WebSocket<Conn>, err: unknown, t0: bigint): void {
  const k = err instanceof KryptonError ? err : errors.internal('internal error', err);
  if (k.code === 'INTERNAL') deps.log.error({ err }, 'websocket frame failed');
  else deps.refused(k.code);
  ws.send(encodeFrameError(k), true);
  deps.observe([['frame', k.code]], t0);
}
