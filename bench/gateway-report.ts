/** Prints the Gateway bench as one table per question and saves bench/results/gateway.json and latency.svg. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADR604, type GatewayBenchResult, type ThroughputRow, type Verdict } from './gateway.js';
import { bucketCurve, renderLatencySvg } from './lib/chart.js';
import type { LatencySummary } from './lib/load-types.js';

const ms = (us: number | undefined) => (us === undefined ? '' : (us / 1000).toFixed(3));
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const verdict = (v: Verdict) => (v.target === 'info' ? '' : v.pass ? 'PASS' : 'FAIL');

function verdictTable(vs: Verdict[]): void {
  console.table(vs.map((v) => ({ check: v.name, measured: v.value, target: v.target, verdict: verdict(v) })));
}

function throughputTable(rows: ThroughputRow[]): void {
  console.table(
    rows.map((r) => ({
      run: r.run,
      target: r.target,
      'req/s': int(r.opsPerSec),
      'DEKs/s': r.target === 'uws-echo' ? '(echo)' : int(r.deksPerSec),
      'p50 ms': ms(r.p50Us),
      'p99 ms': ms(r.p99Us),
      'errors/timeouts': `${r.errors}/${r.timeouts}`,
      note: r.note ?? '',
    })),
  );
}

type Rate = { sent: number; answered: number; timeouts: number } | undefined;

function latencyRow(
  name: string,
  l: LatencySummary | undefined,
  rate: Rate,
  lag?: LatencySummary,
): Record<string, string> {
  return {
    system: name,
    'sent/answered req/s': rate ? `${int(rate.sent)} / ${int(rate.answered)}` : '',
    'p50 ms': ms(l?.p50),
    'p99 ms': ms(l?.p99),
    'p99.9 ms': ms(l?.p999),
    'max ms': ms(l?.max),
    'send lag p99 ms': ms(lag?.p99),
    timeouts: rate ? String(rate.timeouts) : '',
  };
}

export function printGatewayBench(r: GatewayBenchResult): void {
  const o = r.options;
  console.log(
    `\nGateway 1/3: open loop, key.create over WebSocket at ${int(o.openRate)} req/s for ${o.openSec} s. SLO from the Gateway's own ` +
      `histogram (${r.slo.samples.toLocaleString('en-US')} requests, /metrics deltas, mean ${r.slo.meanMs.toFixed(3)} ms; linear within ADR-604 buckets)`,
  );
  verdictTable(r.slo.verdicts);
  const c = r.client;
  console.log(
    'Client-observed latency in the same run, timed from the scheduled send (same client, same rate); added = gateway - echo',
  );
  const added = c.addedUs;
  console.table([
    latencyRow('gateway', c.gateway, c.rates['gateway'], c.gatewaySendLagUs),
    latencyRow('uws-echo', c.echo, c.rates['uws-echo'], c.echoSendLagUs),
    latencyRow('node-http', c.nodeHttp, c.rates['node-http']),
    { system: 'added by the Gateway', 'p50 ms': ms(added?.p50), 'p99 ms': ms(added?.p99), 'p99.9 ms': ms(added?.p999) },
  ]);

  console.log(
    `\nGateway 2/3: closed-loop maximum, single key.create per request (${o.closedSec} s per system after ${o.warmupSec} s warm-up)`,
  );
  throughputTable(r.closed.rows);
  verdictTable(r.closed.verdicts);

  console.log(`\nGateway 3/3: batched key.create in DEKs/s (closed loop, ${o.closedSec} s per run)`);
  throughputTable(r.batched.rows);
  verdictTable(r.batched.verdicts);
}

/** Writes gateway.json and latency.svg into `dir`; returns their paths. */
export function writeGatewayResults(r: GatewayBenchResult, dir: string): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, 'gateway.json');
  writeFileSync(json, JSON.stringify(r, null, 2));
  const open = r.open.results.filter((x) => x.scenario === 'open' && x.report !== undefined);
  const svg = join(dir, 'latency.svg');
  writeFileSync(
    svg,
    renderLatencySvg(
      [
        ...open.map((x) => ({
          name: `${x.target}, client-observed (${Math.round(x.report!.sentRate ?? 0)} req/s sent)`,
          curve: x.report!.curve,
        })),
        {
          name: "gateway, inside the Gateway (its own histogram's bucket bounds): what the targets judge",
          curve: bucketCurve(r.slo.histogram),
        },
      ],
      {
        title: `key.create latency, open loop at ${r.options.openRate} req/s for ${r.options.openSec} s`,
        targets: ADR604,
      },
    ),
  );
  return { json, svg };
}
