/**
 * The revocation bench alone (the same as its part of `npm run bench`):
 *
 *   KRYPTON_BENCH_REVOKE_TRIALS=100 KRYPTON_BENCH_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 node dist/bench/revocation-main.js
 *
 * Prints the table and writes bench/results/revocation.json.
 */
import { RESULTS_DIR } from './lib/paths.js';
import { printRevocationBench, runRevocationBench, writeRevocationResults } from './revocation.js';

const r = await runRevocationBench({ log: (l) => console.error(l) });
printRevocationBench(r);
console.log(`\nresults: ${writeRevocationResults(r, RESULTS_DIR)}`);
