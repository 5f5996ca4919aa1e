/**
 * `npm run bench`: every comparison in one run on this machine, printed as a
 * table and saved as JSON under bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAddonBench, type AddonRow } from './addon.js';
import { formatNs } from './lib/measure.js';

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');

function printAddon(rows: AddonRow[]): void {
  console.log('\nAddon: L4 data keys, ns per key (median of 7 rounds), Krypton vs node:crypto doing the same XAES wrap');
  console.table(
    rows.map((r) => ({
      operation: r.name,
      krypton: formatNs(r.krypton.nsPerOp),
      'node:crypto': formatNs(r.nodeCrypto.nsPerOp),
      'speed-up': `${r.ratio.toFixed(1)}x`,
      target: r.target
        ? [r.target.maxNsPerKey && `< ${formatNs(r.target.maxNsPerKey)}`, r.target.minRatio && `>= ${r.target.minRatio}x`]
            .filter(Boolean)
            .join(', ')
        : '',
      verdict: r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL',
    })),
  );
}

function main(): void {
  const started = new Date().toISOString();
  console.log(`Krypton benchmark: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`);
  const addon = runAddonBench();
  printAddon(addon);
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, 'addon.json');
  writeFileSync(file, JSON.stringify({ started, node: process.version, addon }, null, 2));
  console.log(`\nresults: ${file}`);
}

main();
