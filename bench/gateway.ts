/**
 * The Gateway bench of docs/design.md section 8, in one run on this machine: a
 * real Core and Gateway (own processes, the dev stack in a temp dir) beside
 * the uWS echo server and the node:http key service, every load from a
 * separate load-generator process (bench/gateway-compare.ts).
 *
 * 1. open loop of key.create at a fixed rate: the SLO verdict from the
 *    Gateway's own histogram (deltas of /metrics), the client-observed
 *    latency beside the echo server's;
 * 2. closed-loop maximum of single key.create: gateway vs echo vs node:http;
 * 3. batched: count=256 per request and array frames, in DEKs/s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevStack } from '../src/dev/stack.js';
import {
  runTransportComparison,
  type CompareResult,
  type CompareTarget,
  type ScenarioName,
} from './gateway-compare.js';
import { runLoad, type LatencySummary, type LoadReport } from './lib/loadgen.js';
import {
  bucketQuantile,
  histogramDelta,
  parseHistogram,
  type BucketHistogram,
  type BucketQuantile,
} from './lib/prom.js';

export const GATEWAY_HISTOGRAM = 'krypton_gateway_request_duration_seconds';
/** ADR-604 thresholds, ms. */
export const ADR604 = { p50: 0.2, p99: 1, 'p99.9': 10 } as const;
export const TARGETS = { p99Ms: 0.5, vsEcho: 0.8, vsNodeHttp: 3, deksPerSec: 1_000_000 } as const;

/**
 * Requests per frame when array frames and count=N are combined (kept small: a frame's reply stays well under the
 * backpressure limit).
 */
const COMBINED_FRAME = 4;

export interface GatewayBenchOptions {
  /** Open-loop seconds (env KRYPTON_BENCH_SECONDS, default 30). */
  openSec?: number;
  /** Open-loop rate, req/s (env KRYPTON_BENCH_RATE, default 10,000). */
  openRate?: number;
  /** Seconds per closed-loop run (default 3). */
  closedSec?: number;
  /** Warm-up before every run, thrown away (default 1). */
  warmupSec?: number;
  /** Requests per array frame in the batched run (default 64). */
  arrayFrame?: number;
  /** DEKs per request in the batched run (default 256). */
  batchCount?: number;
  log?: (line: string) => void;
}

export interface Verdict {
  name: string;
  value: string;
  target: string;
  pass: boolean;
}

export interface SloResult {
  /** Requests the Gateway timed over the open-loop run (warm-up included), from /metrics deltas. */
  samples: number;
  meanMs: number;
  quantiles: BucketQuantile[];
  histogram: BucketHistogram;
  verdicts: Verdict[];
}

export interface ClientLatency {
  rate: number;
  gateway?: LatencySummary;
  echo?: LatencySummary;
  nodeHttp?: LatencySummary;
  /** gateway - echo per percentile, µs. */
  addedUs?: { p50: number; p99: number; p999: number };
  gatewaySendLagUs?: LatencySummary;
  echoSendLagUs?: LatencySummary;
  /**
   * Per system: req/s sent and answered, and requests never answered (a system that cannot keep the rate shows here).
   */
  rates: Record<string, { sent: number; answered: number; timeouts: number }>;
}

export interface ThroughputRow {
  run: string;
  target: string;
  opsPerSec: number;
  deksPerSec: number;
  p50Us: number;
  p99Us: number;
  errors: number;
  timeouts: number;
  note?: string;
}

export interface GatewayBenchResult {
  started: string;
  options: Required<Omit<GatewayBenchOptions, 'log'>>;
  slo: SloResult;
  client: ClientLatency;
  closed: { rows: ThroughputRow[]; verdicts: Verdict[] };
  batched: { rows: ThroughputRow[]; verdicts: Verdict[] };
  open: CompareResult;
  closedRuns: CompareResult;
  /** The Gateway's metrics after the run (text), for the record. */
  metricsAfter: string;
}

function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`${name} must be a positive number, not ${v}`);
  return n;
}

export function resolveOptions(o: GatewayBenchOptions): Required<Omit<GatewayBenchOptions, 'log'>> {
  return {
    openSec: o.openSec ?? envNumber('KRYPTON_BENCH_SECONDS') ?? 30,
    openRate: o.openRate ?? envNumber('KRYPTON_BENCH_RATE') ?? 10_000,
    closedSec: o.closedSec ?? 3,
    warmupSec: o.warmupSec ?? 1,
    arrayFrame: o.arrayFrame ?? 64,
    batchCount: o.batchCount ?? 256,
  };
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

const createOk = (text: string) => parseHistogram(text, GATEWAY_HISTOGRAM, { op: 'key.create', outcome: 'ok' });

export function sloFrom(before: string, after: string): SloResult {
  const h = histogramDelta(createOk(before), createOk(after));
  const quantiles = [0.5, 0.99, 0.999].map((q) => bucketQuantile(h, q));
  const [p50, p99, p999] = quantiles as [BucketQuantile, BucketQuantile, BucketQuantile];
  // A quantile in the first bucket is at most its bound; above the last finite bound it fails any target.
  const under = (x: BucketQuantile, ms: number) => x.ms !== null && x.ms <= ms && h.count > 0;
  const verdicts: Verdict[] = [
    { name: 'p50 (ADR-604)', value: p50.display, target: `< ${ADR604.p50} ms`, pass: under(p50, ADR604.p50) },
    { name: 'p99 (ADR-604)', value: p99.display, target: `< ${ADR604.p99} ms`, pass: under(p99, ADR604.p99) },
    {
      name: 'p99.9 (ADR-604)',
      value: p999.display,
      target: `< ${ADR604['p99.9']} ms`,
      pass: under(p999, ADR604['p99.9']),
    },
    {
      name: 'p99 (Gateway target)',
      value: p99.display,
      target: `< ${TARGETS.p99Ms} ms`,
      pass: under(p99, TARGETS.p99Ms),
    },
  ];
  return { samples: h.count, meanMs: h.count > 0 ? (h.sum / h.count) * 1000 : 0, quantiles, histogram: h, verdicts };
}

function find(r: CompareResult, scenario: ScenarioName, target: string): LoadReport | undefined {
  return r.results.find((x) => x.scenario === scenario && x.target === target)?.report;
}

function row(run: string, target: string, rep: LoadReport | undefined, note?: string): ThroughputRow {
  return {
    run,
    target,
    opsPerSec: rep?.opsPerSec ?? 0,
    deksPerSec: target === 'uws-echo' ? 0 : (rep?.deksPerSec ?? 0),
    p50Us: rep?.latencyUs.p50 ?? 0,
    p99Us: rep?.latencyUs.p99 ?? 0,
    errors: rep?.errors ?? 0,
    timeouts: rep?.timeouts ?? 0,
    ...(note !== undefined
      ? { note }
      : rep === undefined
        ? { note: 'no report' }
        : rep.firstError !== undefined
          ? { note: rep.firstError }
          : {}),
  };
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

function clientLatency(open: CompareResult, rate: number): ClientLatency {
  const gw = find(open, 'open', 'gateway');
  const echo = find(open, 'open', 'uws-echo');
  const http = find(open, 'open', 'node-http');
  return {
    rate,
    ...(gw ? { gateway: gw.latencyUs } : {}),
    ...(echo ? { echo: echo.latencyUs } : {}),
    ...(http ? { nodeHttp: http.latencyUs } : {}),
    ...(gw && echo
      ? {
          addedUs: {
            p50: gw.latencyUs.p50 - echo.latencyUs.p50,
            p99: gw.latencyUs.p99 - echo.latencyUs.p99,
            p999: gw.latencyUs.p999 - echo.latencyUs.p999,
          },
        }
      : {}),
    ...(gw?.sendLagUs ? { gatewaySendLagUs: gw.sendLagUs } : {}),
    ...(echo?.sendLagUs ? { echoSendLagUs: echo.sendLagUs } : {}),
    rates: Object.fromEntries(
      open.results
        .filter((x) => x.report !== undefined)
        .map((x) => [
          x.target,
          { sent: x.report!.sentRate ?? 0, answered: x.report!.opsPerSec, timeouts: x.report!.timeouts },
        ]),
    ),
  };
}

function closedVerdicts(c: CompareResult): { rows: ThroughputRow[]; verdicts: Verdict[] } {
  const gw = find(c, 'closed', 'gateway');
  const echo = find(c, 'closed', 'uws-echo');
  const http = find(c, 'closed', 'node-http');
  const rows = [
    row('closed, 1 key.create per request', 'gateway', gw),
    row('closed, 1 key.create per request', 'uws-echo', echo),
    row('closed, 1 key.create per request', 'node-http', http),
  ];
  const vsEcho = ratio(gw?.opsPerSec ?? 0, echo?.opsPerSec ?? 0);
  const vsHttp = ratio(gw?.opsPerSec ?? 0, http?.opsPerSec ?? 0);
  return {
    rows,
    verdicts: [
      {
        name: 'gateway / uws-echo',
        value: `${vsEcho.toFixed(2)}x`,
        target: `>= ${TARGETS.vsEcho}x`,
        pass: vsEcho >= TARGETS.vsEcho,
      },
      {
        name: 'gateway / node-http',
        value: `${vsHttp.toFixed(2)}x`,
        target: `>= ${TARGETS.vsNodeHttp}x`,
        pass: vsHttp >= TARGETS.vsNodeHttp,
      },
    ],
  };
}

function batchedVerdicts(
  c: CompareResult,
  combined: LoadReport | undefined,
  o: Required<Omit<GatewayBenchOptions, 'log'>>,
): { rows: ThroughputRow[]; verdicts: Verdict[] } {
  const count = `count=${o.batchCount}`;
  const array = `${o.arrayFrame} requests per frame`;
  const rows = [
    row(count, 'gateway', find(c, 'closed-batch', 'gateway')),
    row(count, 'node-http', find(c, 'closed-batch', 'node-http')),
    row(count, 'uws-echo', find(c, 'closed-batch', 'uws-echo')),
    row(array, 'gateway', find(c, 'closed-array', 'gateway')),
    row(array, 'uws-echo', find(c, 'closed-array', 'uws-echo')),
    row(`${COMBINED_FRAME} requests per frame, ${count}`, 'gateway', combined),
  ];
  const best = Math.max(...rows.filter((r) => r.target === 'gateway').map((r) => r.deksPerSec));
  const single = rows[0]!.deksPerSec;
  const http = rows[1]!.deksPerSec;
  return {
    rows,
    verdicts: [
      {
        name: `gateway DEKs/s, ${count}`,
        value: Math.round(single).toLocaleString('en-US'),
        target: `>= ${TARGETS.deksPerSec.toLocaleString('en-US')}`,
        pass: single >= TARGETS.deksPerSec,
      },
      {
        name: 'gateway DEKs/s, best batched shape',
        value: Math.round(best).toLocaleString('en-US'),
        target: `>= ${TARGETS.deksPerSec.toLocaleString('en-US')}`,
        pass: best >= TARGETS.deksPerSec,
      },
      {
        name: `gateway / node-http, ${count}`,
        value: `${ratio(single, http).toFixed(1)}x`,
        target: 'info',
        pass: single > http,
      },
    ],
  };
}

export async function runGatewayBench(opts: GatewayBenchOptions = {}): Promise<GatewayBenchResult> {
  const o = resolveOptions(opts);
  const log = opts.log ?? (() => {});
  const started = new Date().toISOString();
  const dir = mkdtempSync(join(tmpdir(), 'krypton-gwbench-'));
  try {
    log('starting the dev stack (Core + Gateway) ...');
    const stack = await startDevStack({ dir, corePort: 0, gatewayPort: 0 });
    try {
      const gateway: CompareTarget = { name: 'gateway', kind: 'ws', url: stack.gatewayUrl, token: stack.token };
      // Warm the Gateway (lease fetched from the Core, JIT) before the first scrape.
      await runLoad({
        target: gateway,
        mode: 'closed',
        connections: 2,
        inFlight: 8,
        durationSec: Math.min(1, o.closedSec),
        params: { service: 'app' },
      });

      const before = await scrape(stack.gateway.port);
      log(`open loop: ${o.openRate} req/s for ${o.openSec} s per system ...`);
      const open = await runTransportComparison({
        scenarios: ['open'],
        openRate: o.openRate,
        durationSec: o.openSec,
        warmupSec: o.warmupSec,
        targets: [gateway],
        log,
      });
      const after = await scrape(stack.gateway.port);
      const slo = sloFrom(before, after);

      const closedRuns = await runTransportComparison({
        scenarios: ['closed', 'closed-batch', 'closed-array'],
        durationSec: o.closedSec,
        warmupSec: o.warmupSec,
        batchCount: o.batchCount,
        arrayFrame: o.arrayFrame,
        targets: [gateway],
        log,
      });
      log('closed-array + count -> gateway ...');
      const combined = await runLoad({
        target: gateway,
        mode: 'closed',
        connections: 4,
        inFlight: 4,
        durationSec: o.closedSec,
        warmupSec: o.warmupSec,
        params: { service: 'app', count: o.batchCount },
        perFrame: COMBINED_FRAME,
      }).catch((err: unknown) => {
        log(`combined run failed: ${(err as Error).message}`);
        return undefined;
      });
      const metricsAfter = await scrape(stack.gateway.port);
      return {
        started,
        options: o,
        slo,
        client: clientLatency(open, o.openRate),
        closed: closedVerdicts(closedRuns),
        batched: batchedVerdicts(closedRuns, combined, o),
        open,
        closedRuns,
        metricsAfter,
      };
    } finally {
      await stack.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
