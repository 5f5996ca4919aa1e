/**
 * The Gateway bench alone (the same as the last part of `npm run bench`):
 *
 *   KRYPTON_BENCH_SECONDS=5 KRYPTON_BENCH_RATE=2000 node --secure-heap=65536 dist/bench/gateway-main.js
 *
 * Prints the tables, writes bench/results/gateway.json and bench/results/latency.svg.
 */
import { runGatewayBench } from './gateway.js';
import { printGatewayBench, writeGatewayResults } from './gateway-report.js';
import { RESULTS_DIR } from './lib/paths.js';

const r = await runGatewayBench({ log: (l) => console.error(l) });
printGatewayBench(r);
const { json, svg } = writeGatewayResults(r, RESULTS_DIR);
console.log(`\nresults: ${json}\nchart:   ${svg}`);
