/**
 * The health port: plain HTTP, no authentication, for probes that cannot
 * present a client certificate (a kubelet's httpGet, a compose healthcheck).
 * It serves GET (and HEAD) /healthz and /readyz and nothing else: no route
 * of the mTLS API, no metrics, no request body read, and answers that name
 * no tenant, service or key: `{"ok":true}` or `{"ok":false}` with 200 or
 * 503. The Core, the Registry and the CMK Server take it from their config
 * (`health: {host, port}`) or from KRYPTON_<ACTOR>_HEALTH_PORT.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { hostField, refuseUnknownFields } from '../config/fields.js';

// node:http through require, not an ESM import: on Node 22 the ESM facade of
// node:http reads every export, its lazy `WebSocket` among them, which loads
// undici and compiles its WebAssembly parser. That reserves some 10 GB of
// address space in a key-holding process (a core dump of the Core grew from
// 1 GB to 12 GB) for a server that never needs it.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

/**
 * The probe routes every component serves (the Gateway on its app port, the others on the mTLS API and the health
 * port).
 */
export const PROBE_PATHS = { live: '/healthz', ready: '/readyz' } as const;

export interface HealthEndpoint {
  host: string;
  port: number;
}

export interface HealthListener {
  readonly port: number;
  close(): Promise<void>;
}

/** Whether the process is ready to serve (the same check as its mTLS /readyz); a throw counts as not ready. */
export type ReadinessCheck = () => Promise<boolean>;

const MAX_HEADER_BYTES = 4096;
const TIMEOUT_MS = 5000;
const MAX_CONNECTIONS = 64;

/** `health` of a config file, with the env port override; undefined when neither is set. `fail` throws. */
export function parseHealthEndpoint(
  raw: unknown,
  envPort: string | undefined,
  fail: (message: string) => never,
): HealthEndpoint | undefined {
  if ((raw === undefined || raw === null) && envPort === undefined) return undefined;
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw)))
    fail('health must be an object {host, port}');
  const o = (raw ?? {}) as Record<string, unknown>;
  refuseUnknownFields(o, ['host', 'port'], 'health.', fail);
  const host = hostField(o.host, 'health.host', '127.0.0.1', fail);
  const v = envPort ?? o.port;
  const port = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)
    fail('health.port must be an integer from 0 to 65535');
  return { host, port };
}

function answer(res: ServerResponse, status: number, body: string | null): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', connection: 'close' });
  res.end(body);
}

/** Starts the listener; resolves once it listens. */
export async function startHealthListener(at: HealthEndpoint, ready: ReadinessCheck): Promise<HealthListener> {
  const sockets = new Set<Socket>();
  const server = createServer(
    { maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: TIMEOUT_MS, headersTimeout: TIMEOUT_MS },
    (req: IncomingMessage, res: ServerResponse) => {
      // Never read a body: whatever was sent is discarded with the connection.
      req.on('error', () => undefined);
      res.on('error', () => undefined);
      const path = (req.url ?? '').split('?')[0];
      const head = req.method === 'HEAD';
      if ((req.method !== 'GET' && !head) || (path !== PROBE_PATHS.live && path !== PROBE_PATHS.ready))
        return answer(res, 404, null);
      if (path === PROBE_PATHS.live) return answer(res, 200, head ? null : '{"ok":true}');
      void ready()
        .catch(() => false)
        .then((ok) => answer(res, ok ? 200 : 503, head ? null : `{"ok":${ok}}`));
    },
  );
  server.maxConnections = MAX_CONNECTIONS;
  server.keepAliveTimeout = 1000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.setTimeout(TIMEOUT_MS, () => s.destroy());
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket: Socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => undefined);
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
