/**
 * The Gateway's front door: one uWebSockets.js app (DESIGN.md section 4).
 * WebSocket `/v1/ws` with msgpack frames, HTTP `POST /v1/keys/*` in
 * msgpack or JSON, `/healthz`, `/readyz` and `/metrics`.
 *
 * Requests are handled inline on the event loop, one native call per frame.
 * Every limit of section 9 is enforced here: frame size, msgpack depth and
 * element count before decoding, in-flight requests per connection, idle
 * timeout, connection cap and backpressure (a client that does not read is
 * disconnected at the backpressure limit, so memory stays bounded).
 */
import type { Logger } from 'pino';
import { ERROR_CATALOGUE, errors, KryptonError, type ErrorCode } from '../errors.js';
import { PROMETHEUS_CONTENT_TYPE, type Histogram, type HistogramChild, type Registry } from '../metrics/registry.js';
import type { BulkPool } from './bulk.js';
import { packr, paramsFromJson, resultToJson, unpackr } from './codec.js';
import type { LeaseCache } from './lease-cache.js';
import { parseFastCreate } from './fast-frame.js';
import { scanMsgpack } from './msgpack-scan.js';
import { FrameProcessor, type Outcomes } from './ops.js';
import { EncodedFrame } from './reply-encoding.js';
import type { TokenGrant, TokenStore } from './tokens.js';
import { uws, type HttpResponse, type us_listen_socket, type WebSocket } from './uws.js';

export interface GatewayLimits {
  maxFrameBytes: number;
  maxDepth: number;
  maxElements: number;
  maxInflightPerConnection: number;
  maxConnections: number;
  idleTimeoutSeconds: number;
  maxBackpressureBytes: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  maxFrameBytes: 64 * 1024,
  maxDepth: 8,
  maxElements: 20_000,
  maxInflightPerConnection: 1024,
  maxConnections: 10_000,
  idleTimeoutSeconds: 120,
  maxBackpressureBytes: 1024 * 1024,
};

interface Conn {
  grant: TokenGrant;
  inflight: number;
  closed: boolean;
}

export interface GatewayServer {
  port: number;
  /** Stops accepting, drains in-flight requests (up to timeoutMs), then closes every socket. */
  close(timeoutMs?: number): Promise<void>;
  connections(): number;
}

export interface GatewayServerOptions {
  host: string;
  port: number;
  tokens: TokenStore;
  cache: LeaseCache;
  metrics: Registry;
  log: Logger;
  limits?: Partial<GatewayLimits>;
  /** Worker threads for bulk requests (at or above its threshold); null runs everything inline. */
  bulk?: BulkPool | null;
}

function statusLine(code: ErrorCode): string {
  return `${ERROR_CATALOGUE[code].status} ${code}`;
}

export async function startGatewayServer(opts: GatewayServerOptions): Promise<GatewayServer> {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const { log, cache, tokens } = opts;
  const histogram: Histogram = opts.metrics.histogram(
    'krypton_gateway_request_duration_seconds',
    'Gateway request latency, from frame arrival to the reply handed to the socket',
    ['op', 'outcome'],
  );
  // Series by op, then outcome: observing allocates nothing once a pair was seen.
  const series = new Map<string, Map<string, HistogramChild>>();
  const observe = (outcomes: Outcomes, t0: bigint) => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    for (const [op, outcome] of outcomes) {
      let byOutcome = series.get(op);
      if (byOutcome === undefined) series.set(op, (byOutcome = new Map()));
      let s = byOutcome.get(outcome);
      if (s === undefined) byOutcome.set(outcome, (s = histogram.child({ op, outcome })));
      s.observe(seconds);
    }
  };
  const rejected = opts.metrics.counter('krypton_gateway_frames_rejected_total', 'Frames refused before decoding', ['reason']);
  const processor = new FrameProcessor(cache, (err) => log.error({ err }, 'internal error'), opts.bulk ?? null);
  const open = new Set<WebSocket<Conn>>();
  let pending = 0;
  let draining = false;
  let drained: (() => void) | null = null;
  opts.metrics.gauge('krypton_gateway_connections', 'Open WebSocket connections').set(() => open.size);

  const errorFrame = (code: ErrorCode, message: string) => packr.pack([null, 1, { code, message }]);

  /** Decodes a frame after its limits have been checked; a KryptonError explains a refusal. */
  const decode = (data: Uint8Array): unknown => {
    if (data.byteLength > limits.maxFrameBytes) throw new KryptonError('FRAME_TOO_LARGE', `frame over ${limits.maxFrameBytes} bytes`);
    const scan = scanMsgpack(data, limits);
    if (scan === 'too-deep') throw errors.badRequest(`frame nested deeper than ${limits.maxDepth}`);
    if (scan === 'too-many') throw errors.badRequest(`frame holds more than ${limits.maxElements} elements`);
    if (scan !== 'ok') throw errors.badRequest('malformed msgpack');
    return unpackr.unpack(data);
  };

  const finishPending = () => {
    pending--;
    if (draining && pending === 0) drained?.();
  };

  const app = uws.App();
  app.ws<Conn>('/v1/ws', {
    maxPayloadLength: Math.max(limits.maxFrameBytes * 4, 256 * 1024), // larger frames get FRAME_TOO_LARGE; far larger ones are cut off
    idleTimeout: limits.idleTimeoutSeconds,
    maxBackpressure: limits.maxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const grant = tokens.fromHeader(req.getHeader('authorization'));
      if (draining || open.size >= limits.maxConnections) {
        res.writeStatus('503 OVERLOADED').end(JSON.stringify({ code: 'OVERLOADED', message: 'connection limit reached' }));
        return;
      }
      if (grant === null) {
        res.writeStatus('401 UNAUTHENTICATED').end(JSON.stringify({ code: 'UNAUTHENTICATED', message: 'a valid bearer token is required' }));
        return;
      }
      res.upgrade<Conn>({ grant, inflight: 0, closed: false }, key, protocol, extensions, context);
    },
    open: (ws) => {
      open.add(ws);
    },
    close: (ws) => {
      ws.getUserData().closed = true;
      open.delete(ws);
    },
    message: (ws, message, isBinary) => {
      const t0 = process.hrtime.bigint();
      const conn = ws.getUserData();
      if (!isBinary) {
        ws.send(errorFrame('BAD_REQUEST', 'frames are binary msgpack'), true);
        return;
      }
      const bytes = new Uint8Array(message);
      const fast = bytes.byteLength <= 96 ? parseFastCreate(bytes) : null;
      if (fast !== null && conn.inflight < limits.maxInflightPerConnection) {
        const outcomes: Outcomes = [];
        const encoded = processor.create(conn.grant, fast.id, fast.service, undefined, outcomes);
        if (encoded !== undefined) {
          ws.send(encoded.bytes, true);
          encoded.bytes.fill(0); // uWS has copied it; no DEK stays behind in the JS heap
          observe(outcomes, t0);
          return;
        }
      }
      let frame: unknown;
      try {
        frame = decode(bytes);
      } catch (err) {
        const k = err instanceof KryptonError ? err : errors.badRequest('malformed msgpack');
        rejected.inc({ reason: k.code });
        ws.send(errorFrame(k.code, k.message), true);
        observe([['frame', k.code]], t0);
        return;
      }
      if (conn.inflight >= limits.maxInflightPerConnection) {
        // Decoded, so each request can be refused under its own id.
        const refuse = (r: unknown) => [Array.isArray(r) ? (r[0] ?? null) : null, 1, { code: 'OVERLOADED', message: 'too many requests in flight on this connection' }];
        ws.send(packr.pack(Array.isArray(frame) && Array.isArray(frame[0]) ? frame.map(refuse) : refuse(frame)), true);
        observe([['frame', 'OVERLOADED']], t0);
        return;
      }
      const outcomes: Outcomes = [];
      let result: unknown;
      try {
        result = processor.process(conn.grant, frame, outcomes);
      } catch (err) {
        log.error({ err }, 'frame failed');
        ws.send(errorFrame('INTERNAL', 'internal error'), true);
        return;
      }
      if (!(result instanceof Promise)) {
        if (result instanceof EncodedFrame) {
          ws.send(result.bytes, true);
          result.bytes.fill(0);
        } else {
          ws.send(packr.pack(result), true);
        }
        observe(outcomes, t0);
        return;
      }
      conn.inflight++;
      pending++;
      result
        .then(
          (r) => {
            if (conn.closed) return;
            ws.cork(() => ws.send(packr.pack(r), true));
            observe(outcomes, t0);
          },
          (err: unknown) => {
            log.error({ err }, 'frame failed');
            if (!conn.closed) ws.cork(() => ws.send(errorFrame('INTERNAL', 'internal error'), true));
          },
        )
        .finally(() => {
          conn.inflight--;
          finishPending();
        });
    },
  });

  // HTTP API: the same operations for clients without WebSocket.
  for (const [path, op] of [
    ['/v1/keys/create', 'key.create'],
    ['/v1/keys/decrypt', 'key.decrypt'],
    ['/v1/keys/rewrap', 'key.rewrap'],
  ] as const) {
    app.post(path, (res, req) => {
      const t0 = process.hrtime.bigint();
      let aborted = false;
      res.onAborted(() => (aborted = true));
      const json = !req.getHeader('content-type').startsWith('application/msgpack');
      const grant = tokens.fromHeader(req.getHeader('authorization'));
      const reply = (code: ErrorCode | null, body: unknown, outcomes: Outcomes) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus(code === null ? '200 OK' : statusLine(code));
          res.writeHeader('content-type', json ? 'application/json' : 'application/msgpack');
          res.end(json ? JSON.stringify(resultToJson(body)) : packr.pack(body));
        });
        observe(outcomes, t0);
      };
      const fail = (e: KryptonError) => reply(e.code, { code: e.code, message: e.message }, [[op, e.code]]);
      if (grant === null) return fail(new KryptonError('UNAUTHENTICATED', 'a valid bearer token is required'));
      const chunks: Buffer[] = [];
      let size = 0;
      res.onData((chunk, last) => {
        if (size < 0) return;
        size += chunk.byteLength;
        if (size > limits.maxFrameBytes) {
          size = -1;
          return fail(new KryptonError('FRAME_TOO_LARGE', `body over ${limits.maxFrameBytes} bytes`));
        }
        chunks.push(Buffer.from(new Uint8Array(chunk))); // copy: the chunk dies with the callback
        if (!last) return;
        let params: Record<string, unknown>;
        try {
          const body = Buffer.concat(chunks);
          const parsed = json ? JSON.parse(body.toString('utf8')) : decode(body);
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw errors.badRequest('the body is a map of params');
          params = json ? paramsFromJson(parsed as Record<string, unknown>) : (parsed as Record<string, unknown>);
        } catch (e) {
          return fail(e instanceof KryptonError ? e : errors.badRequest('malformed body'));
        }
        const outcomes: Outcomes = [];
        const send = (r: unknown) => {
          const [, status, result] = (r instanceof EncodedFrame ? unpackr.unpack(r.bytes) : r) as [unknown, 0 | 1, { code: ErrorCode }];
          reply(status === 0 ? null : result.code, result, outcomes);
        };
        const r = processor.process(grant, [0, op, params], outcomes);
        if (r instanceof Promise) {
          pending++;
          r.then(send, () => fail(errors.internal())).finally(finishPending);
        } else {
          send(r);
        }
      });
    });
  }

  app.get('/healthz', (res) => {
    res.writeHeader('content-type', 'application/json').end('{"ok":true}');
  });
  app.get('/readyz', (res) => {
    const r = cache.readiness();
    res.writeStatus(r.ready && !draining ? '200 OK' : '503 Service Unavailable');
    res.writeHeader('content-type', 'application/json').end(JSON.stringify({ ready: r.ready && !draining, reasons: r.reasons }));
  });
  app.get('/metrics', (res) => {
    res.writeHeader('content-type', PROMETHEUS_CONTENT_TYPE).end(opts.metrics.render());
  });
  app.any('/*', (res) => {
    res.writeStatus('404 NOT_FOUND').writeHeader('content-type', 'application/json').end(JSON.stringify({ code: 'NOT_FOUND', message: 'no such route' }));
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(opts.host, opts.port, (s) => (s ? resolve(s) : reject(new Error(`gateway: cannot listen on ${opts.host}:${opts.port}`))));
  });
  const port = uws.us_socket_local_port(listenSocket as never);
  log.info({ host: opts.host, port }, 'gateway listening');

  let closed = false;
  return {
    port,
    connections: () => open.size,
    close: async (timeoutMs = 10_000) => {
      if (closed) return;
      closed = true;
      draining = true;
      uws.us_listen_socket_close(listenSocket); // stop accepting first (uWS aborts if a worker ends with it open)
      if (pending > 0) {
        await new Promise<void>((resolve) => {
          drained = resolve;
          setTimeout(resolve, timeoutMs).unref();
        });
      }
      for (const ws of [...open]) ws.end(1001, 'gateway shutting down');
    },
  };
}

export type { HttpResponse };
