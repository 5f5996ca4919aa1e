/**
 * `npm run bench`: every comparison in one run on this machine, printed as a
 * table and saved as JSON under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAddonBench, type AddonRow } from './addon.js';
import { runCoreBench, type CoreBenchResult } from './core.js';
import { runGatewayBench } from './gateway.js';
import { printGatewayBench, writeGatewayResults } from './gateway-report.js';
import { formatNs } from './lib/measure.js';
import { printOrbitalBench, runOrbitalBench, writeOrbitalResults } from './orbital.js';
import { printRevocationBench, runRevocationBench, writeRevocationResults } from './revocation.js';

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');

function printAddon(rows: AddonRow[]): void {
  console.log(
    '\nAddon: L4 data keys, ns per key (median of 7 rounds), Krypton vs node:crypto doing the same XAES wrap',
  );
  console.table(
    rows.map((r) => ({
      operation: r.name,
      krypton: formatNs(r.krypton.nsPerOp),
      'node:crypto': formatNs(r.nodeCrypto.nsPerOp),
      'speed-up': `${r.ratio.toFixed(1)}x`,
      target: r.target
        ? [
            r.target.maxNsPerKey && `< ${formatNs(r.target.maxNsPerKey)}`,
            r.target.minRatio && `>= ${r.target.minRatio}x`,
          ]
            .filter(Boolean)
            .join(', ')
        : '',
      verdict: r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL',
    })),
  );
}

function printCore(r: CoreBenchResult): void {
  console.log(
    `\nCore: lease issuance over one HTTP/2 mTLS session (${r.lease.concurrency} in flight, ${r.lease.versionsPerLease} versions sealed per lease)`,
  );
  console.table([
    {
      'leases/s': r.lease.perSecond.toFixed(0),
      'p50 ms': r.lease.p50ms.toFixed(2),
      'p99 ms': r.lease.p99ms.toFixed(2),
      leases: r.lease.leases,
    },
  ]);
  console.log('Core: cold hydration of a scope (KSI read + IVK, L2 and L3 unwraps into the arena)');
  console.table(
    r.hydration.map((h) => ({
      KSI: h.engine,
      versions: h.versions,
      'median ms': h.medianMs.toFixed(2),
      'p90 ms': h.p90ms.toFixed(2),
      runs: h.runs,
    })),
  );
}

async function main(): Promise<void> {
  const started = new Date().toISOString();
  console.log(`Krypton benchmark: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`);
  const addon = runAddonBench();
  printAddon(addon);
  const core = await runCoreBench();
  printCore(core);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'addon.json'), JSON.stringify({ started, node: process.version, addon }, null, 2));
  writeFileSync(join(resultsDir, 'core.json'), JSON.stringify({ started, node: process.version, core }, null, 2));
  // A few seconds per run; skipped (not failed) when RabbitMQ does not answer.
  const orbital = await runOrbitalBench();
  printOrbitalBench(orbital);
  writeOrbitalResults(orbital, resultsDir, started);
  // L1.Revoke -> KEY_REVOKED through a Core and a Gateway process (about 1 s a trial); skipped with the Orbital bench's
  // broker check.
  const revocation = await runRevocationBench({ log: (l) => console.error(l) });
  printRevocationBench(revocation);
  writeRevocationResults(revocation, resultsDir, started);
  const gateway = await runGatewayBench({ log: (l) => console.error(l) });
  printGatewayBench(gateway);
  const written = writeGatewayResults(gateway, resultsDir);
  console.log(`\nresults: ${resultsDir}/{addon,core,orbital,revocation,gateway}.json\nchart:   ${written.svg}`);
}

await main();
