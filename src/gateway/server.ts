/**
 * The Gateway's front door: one uWebSockets.js app (docs/design.md section 4)
 * composed of its entrances, the WebSocket `/v1/ws` and HTTP
 * `POST /v1/keys/*`, both feeding the one request pipeline; the probes
 * `/healthz`, `/readyz` and `/metrics`; listen, drain and close.
 */
import type { Logger } from 'pino';
import { PROMETHEUS_CONTENT_TYPE, type Histogram, type HistogramChild, type Registry } from '../metrics/registry.js';
import type { BulkPool } from './bulk.js';
import { registerHttpRoutes } from './http-routes.js';
import type { LeaseCache } from './lease-cache.js';
import { resolveLimits, type GatewayLimits } from './limits.js';
import { Pipeline, type Outcomes } from './pipeline.js';
import type { TokenStore } from './tokens.js';
import { uws, type HttpResponse, type TemplatedApp, type us_listen_socket } from './uws.js';
import { wsEntrance } from './ws.js';
import { PROBE_PATHS } from '../http/health-listener.js';

export { DEFAULT_LIMITS, type GatewayLimits } from './limits.js';

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

/** The request histogram; observing allocates nothing once an (op, outcome) pair was seen. */
function requestTimer(metrics: Registry): (outcomes: Outcomes, t0: bigint) => void {
  const histogram: Histogram = metrics.histogram(
    'krypton_gateway_request_duration_seconds',
    'Gateway request latency, from frame arrival to the reply handed to the socket',
    ['op', 'outcome'],
  );
  const series = new Map<string, Map<string, HistogramChild>>();
  return (outcomes, t0) => {
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    for (const [op, outcome] of outcomes) {
      let byOutcome = series.get(op);
      if (byOutcome === undefined) series.set(op, (byOutcome = new Map<string, HistogramChild>()));
      let s = byOutcome.get(outcome);
      if (s === undefined) byOutcome.set(outcome, (s = histogram.child({ op, outcome })));
      s.observe(seconds);
    }
  };
}

function json(res: HttpResponse, status: string, body: unknown): void {
  res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify(body));
}

/** `/healthz`, `/readyz` (names no tenant or service: it is unauthenticated), `/metrics`, and 404 for the rest. */
function registerProbes(
  app: TemplatedApp,
  cache: LeaseCache,
  metrics: Registry,
  draining: () => boolean,
  log: Logger,
): void {
  const guarded = (fn: (res: HttpResponse) => void) => (res: HttpResponse) => {
    try {
      fn(res);
    } catch (err) {
      log.error({ err }, 'probe failed');
      json(res, '500 INTERNAL', { code: 'INTERNAL', message: 'internal error' });
    }
  };
  app.get(
    PROBE_PATHS.live,
    guarded((res) => json(res, '200 OK', { ok: true })),
  );
  app.get(
    PROBE_PATHS.ready,
    guarded((res) => {
      const r = cache.readiness();
      const ready = r.ready && !draining();
      json(res, ready ? '200 OK' : '503 Service Unavailable', {
        ready,
        reasons: draining() ? [...r.reasons, 'draining'] : r.reasons,
      });
    }),
  );
  app.get(
    '/metrics',
    guarded((res) => res.writeHeader('content-type', PROMETHEUS_CONTENT_TYPE).end(metrics.render())),
  );
  app.any(
    '/*',
    guarded((res) => json(res, '404 NOT_FOUND', { code: 'NOT_FOUND', message: 'no such route' })),
  );
}

export async function startGatewayServer(opts: GatewayServerOptions): Promise<GatewayServer> {
  const limits = resolveLimits(opts.limits);
  const { log, cache, tokens, metrics } = opts;
  const observe = requestTimer(metrics);
  const rejected = metrics.counter('krypton_gateway_frames_rejected_total', 'Frames refused before decoding', [
    'reason',
  ]);
  const pipeline = new Pipeline({
    cache,
    bulk: opts.bulk ?? null,
    maxScopesPerFrame: limits.maxScopesPerFrame,
    onInternal: (err) => log.error({ err }, 'internal error'),
  });

  // Work that outlives its uWS callback, drained on close.
  let pending = 0;
  let draining = false;
  let drained: (() => void) | null = null;
  const begin = () => void pending++;
  const end = () => {
    pending--;
    if (draining && pending === 0) drained?.();
  };

  const ws = wsEntrance({
    limits,
    tokens,
    pipeline,
    log,
    observe,
    refused: (reason) => rejected.inc({ reason }),
    begin,
    end,
    draining: () => draining,
  });
  metrics.gauge('krypton_gateway_connections', 'Open WebSocket connections').set(() => ws.connections());

  const app = uws.App();
  app.ws('/v1/ws', ws.behavior);
  registerHttpRoutes(app, { limits, tokens, pipeline, log, observe, begin, end });
  registerProbes(app, cache, metrics, () => draining, log);

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(opts.host, opts.port, (s) =>
      s ? resolve(s) : reject(new Error(`gateway: cannot listen on ${opts.host}:${opts.port}`)),
    );
  });
  const port = uws.us_socket_local_port(listenSocket);
  log.info({ host: opts.host, port }, 'gateway listening');

  let closed = false;
  return {
    port,
    connections: () => ws.connections(),
    close: async (timeoutMs = 10_000) => {
      if (closed) return;
      closed = true;
      draining = true;
      uws.us_listen_socket_close(listenSocket); // stop accepting first (uWS aborts if a worker ends with it open)
      ws.dispose();
      if (pending > 0) {
        await new Promise<void>((resolve) => {
          drained = resolve;
          setTimeout(resolve, timeoutMs).unref();
        });
      }
      ws.closeAll(1001, 'gateway shutting down');
    },
  };
}

export type { HttpResponse };
