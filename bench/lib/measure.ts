/** Small timing helpers: best-of-rounds ns per operation, with warm-up. */
export interface Measurement {
  nsPerOp: number;
  opsPerSec: number;
}

/**
 * Runs fn (which performs `opsPerCall` operations) repeatedly for about
 * `ms` per round and returns the median round. A median resists the noise
 * of a shared machine better than a mean.
 */
export function measure(fn: () => void, opsPerCall = 1, { rounds = 7, ms = 150 } = {}): Measurement {
  for (let i = 0; i < 200; i++) fn();
  const results: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(ms) * 1_000_000n;
    let now = start;
    while (now < deadline) {
      for (let i = 0; i < 16; i++) fn();
      calls += 16;
      now = process.hrtime.bigint();
    }
    results.push(Number(now - start) / (calls * opsPerCall));
  }
  results.sort((a, b) => a - b);
  const nsPerOp = results[Math.floor(results.length / 2)]!;
  return { nsPerOp, opsPerSec: 1e9 / nsPerOp };
}

export function formatNs(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
}
