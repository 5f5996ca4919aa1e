/**
 * Standalone transport comparison (not part of `npm run bench`):
 *
 *   node --secure-heap=65536 dist/bench/compare-main.js [--duration 5] [--warmup 1] [--rate 5000]
 *        [--gateway ws://127.0.0.1:7070/v1/ws --gateway-token T]
 *
 * Prints a table, writes bench/results/transport.json and bench/results/latency.svg.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTransportComparison, type CompareResult, type CompareTarget } from './gateway-compare.js';
import { flag } from './lib/args.js';
import { renderLatencySvg } from './lib/chart.js';
import { RESULTS_DIR } from './lib/paths.js';

const ms = (us: number) => (us / 1000).toFixed(2);
const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

function table(r: CompareResult): void {
  console.table(
    r.results.map((x) => {
      const rep = x.report;
      return {
        scenario: x.scenario,
        target: x.target,
        'ops/s': rep ? Math.round(rep.opsPerSec) : '',
        'DEKs/s': rep && !x.transportOnly ? Math.round(rep.deksPerSec) : '',
        'p50 ms': rep ? ms(rep.latencyUs.p50) : '',
        'p99 ms': rep ? ms(rep.latencyUs.p99) : '',
        'p99.9 ms': rep ? ms(rep.latencyUs.p999) : '',
        'max ms': rep ? ms(rep.latencyUs.max) : '',
        'errors/timeouts': rep ? `${rep.errors}/${rep.timeouts}` : '',
        note:
          x.skipped ??
          x.error ??
          (rep?.spec.mode === 'open'
            ? `sent ${Math.round(rep.sentRate ?? 0)}/s, send lag p99 ${ms(rep.sendLagUs?.p99 ?? 0)} ms`
            : ''),
      };
    }),
  );
}

async function main(): Promise<void> {
  const gateway = flag('gateway');
  const token = flag('gateway-token');
  const targets: CompareTarget[] =
    gateway === undefined
      ? []
      : [{ name: 'gateway', kind: 'ws', url: gateway, ...(token !== undefined ? { token } : {}) }];
  const r = await runTransportComparison({
    durationSec: num(flag('duration')),
    warmupSec: num(flag('warmup')),
    openRate: num(flag('rate')),
    targets,
    log: (l) => console.error(l),
  });
  console.log(
    `\nTransport comparison: node ${r.node}, ${r.cpus}; ${r.options.durationSec} s per run after ${r.options.warmupSec} s warm-up`,
  );
  table(r);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = join(RESULTS_DIR, 'transport.json');
  writeFileSync(json, JSON.stringify(r, null, 2));
  const open = r.results.filter((x) => x.scenario === 'open' && x.report !== undefined);
  const svg = join(RESULTS_DIR, 'latency.svg');
  writeFileSync(
    svg,
    renderLatencySvg(
      open.map((x) => ({ name: `${x.target} (${Math.round(x.report!.sentRate ?? 0)} req/s)`, curve: x.report!.curve })),
      { title: `Client-observed latency, open loop at ${r.options.openRate} req/s (timed from the scheduled send)` },
    ),
  );
  console.log(`results: ${json}\nchart:   ${svg}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
