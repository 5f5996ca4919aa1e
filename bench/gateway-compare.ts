/**
 * The transport comparison of docs/design.md section 8: the same closed-loop and
 * open-loop loads against a uWebSockets.js msgpack echo server (the
 * transport ceiling) and a node:http + node:crypto JSON key service (what a
 * team would write instead), each load from a fresh load-generator process.
 *
 * The Gateway joins as one more target:
 *   runTransportComparison({ targets: [{ name: 'gateway', kind: 'ws', url: 'ws://127.0.0.1:7070/v1/ws', token }] })
 */
import { cpus } from 'node:os';
import { startServer, type ChildServer } from './lib/child-server.js';
import { runLoad, type LoadReport, type LoadSpec, type LoadTarget } from './lib/loadgen.js';

export interface CompareTarget extends LoadTarget {
  /** True for the echo server: it makes no keys, so DEKs/s is not reported for it. */
  transportOnly?: boolean;
}

export type ScenarioName = 'closed' | 'closed-batch' | 'closed-array' | 'open';

export interface CompareOptions {
  /** Measured seconds per run (after warm-up). */
  durationSec?: number;
  warmupSec?: number;
  /** WebSocket connections and frames in flight per connection (closed loop). */
  wsConnections?: number;
  wsInFlight?: number;
  /** HTTP/1.1 keep-alive sockets (one request in flight each). */
  httpConnections?: number;
  /** Open-loop rate, requests per second. */
  openRate?: number;
  /** closed-batch: DEKs per request (`count`). */
  batchCount?: number;
  /** closed-array: requests per array frame (ws only). */
  arrayFrame?: number;
  scenarios?: ScenarioName[];
  /** Start the echo and node:http servers (default true). */
  builtins?: boolean;
  /** More systems under test, e.g. the Gateway. */
  targets?: CompareTarget[];
  /** Bearer token the built-in servers require. */
  token?: string;
  log?: (line: string) => void;
}

export interface ScenarioResult {
  scenario: ScenarioName;
  target: string;
  kind: 'ws' | 'http';
  transportOnly: boolean;
  report?: LoadReport;
  skipped?: string;
  error?: string;
}

export interface CompareResult {
  started: string;
  node: string;
  cpus: string;
  options: Required<Omit<CompareOptions, 'targets' | 'log'>>;
  targets: CompareTarget[];
  results: ScenarioResult[];
}

const DEFAULTS: Required<Omit<CompareOptions, 'targets' | 'log'>> = {
  durationSec: 5,
  warmupSec: 1,
  wsConnections: 4,
  wsInFlight: 16,
  httpConnections: 32,
  openRate: 5000,
  batchCount: 256,
  arrayFrame: 16,
  scenarios: ['closed', 'closed-batch', 'closed-array', 'open'],
  builtins: true,
  token: 'bench-token',
};

/** The load for one scenario against one target, or a reason to skip it. */
export function scenarioSpec(scenario: ScenarioName, t: CompareTarget, o: typeof DEFAULTS): LoadSpec | string {
  const ws = t.kind === 'ws';
  const base = {
    target: { name: t.name, kind: t.kind, url: t.url, ...(t.token !== undefined ? { token: t.token } : {}) },
    durationSec: o.durationSec,
    warmupSec: o.warmupSec,
  };
  const closed = {
    ...base,
    mode: 'closed' as const,
    connections: ws ? o.wsConnections : o.httpConnections,
    inFlight: ws ? o.wsInFlight : 1,
  };
  switch (scenario) {
    case 'closed':
      return { ...closed, params: { service: 'app' } };
    case 'closed-batch':
      return { ...closed, params: { service: 'app', count: o.batchCount } };
    case 'closed-array':
      if (!ws) return 'HTTP has no array frames';
      return { ...closed, params: { service: 'app' }, perFrame: o.arrayFrame };
    case 'open':
      return {
        ...base,
        mode: 'open',
        rate: o.openRate,
        connections: ws ? o.wsConnections : o.httpConnections,
        params: { service: 'app' },
      };
  }
}

export async function runTransportComparison(opts: CompareOptions = {}): Promise<CompareResult> {
  const o = {
    ...DEFAULTS,
    ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => v !== undefined && k !== 'targets' && k !== 'log')),
  } as typeof DEFAULTS;
  const log = opts.log ?? (() => {});
  const started = new Date().toISOString();
  const servers: ChildServer[] = [];
  const targets: CompareTarget[] = [];
  const results: ScenarioResult[] = [];
  try {
    if (o.builtins) {
      const echo = await startServer('servers/echo-uws.js', ['--token', o.token]);
      servers.push(echo);
      targets.push({
        name: 'uws-echo',
        kind: 'ws',
        url: `ws://127.0.0.1:${echo.port}/v1/ws`,
        token: o.token,
        transportOnly: true,
      });
      const http = await startServer('servers/node-http-keyservice.js', ['--token', o.token]);
      servers.push(http);
      targets.push({
        name: 'node-http',
        kind: 'http',
        url: `http://127.0.0.1:${http.port}/v1/keys/create`,
        token: o.token,
      });
    }
    targets.push(...(opts.targets ?? []));
    for (const scenario of o.scenarios) {
      for (const t of targets) {
        const row: ScenarioResult = { scenario, target: t.name, kind: t.kind, transportOnly: t.transportOnly === true };
        const spec = scenarioSpec(scenario, t, o);
        if (typeof spec === 'string') row.skipped = spec;
        else {
          log(`${scenario} -> ${t.name} ...`);
          try {
            row.report = await runLoad(spec);
          } catch (err) {
            row.error = (err as Error).message;
          }
        }
        results.push(row);
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  return {
    started,
    node: process.version,
    cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
    options: o,
    targets,
    results,
  };
}
