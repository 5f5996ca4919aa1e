/**
 * The Orbital bench alone (the same as its part of `npm run bench`):
 *
 *   KRYPTON_BENCH_ORBITAL_SECONDS=3 KRYPTON_BENCH_AMQP_URL=amqp://guest:guest@127.0.0.1:5672 node dist/bench/orbital-main.js
 *
 * Prints the table and writes bench/results/orbital.json.
 */
import { printOrbitalBench, runOrbitalBench, writeOrbitalResults } from './orbital.js';
import { RESULTS_DIR } from './lib/paths.js';

const r = await runOrbitalBench();
printOrbitalBench(r);
console.log(`\nresults: ${writeOrbitalResults(r, RESULTS_DIR)}`);
