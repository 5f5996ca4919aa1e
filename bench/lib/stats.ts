/**
 * Percentiles of a plain array of millisecond samples. The HDR histograms of
 * load-report.ts suit millions of µs samples streamed from a load generator;
 * a mesh bench keeps a few thousand end-to-end times in an array, and an
 * exact nearest-rank percentile over them needs no bucket maths.
 */
export interface MsSummary {
  count: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile (0 < p <= 100) of samples already sorted ascending; NaN when empty. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Summary of ms samples (any order; the input is not modified). All NaN but count when empty. */
export function summarizeMs(samples: readonly number[]): MsSummary {
  const s = [...samples].sort((a, b) => a - b);
  let sum = 0;
  for (const v of s) sum += v;
  return {
    count: s.length,
    p50: percentileSorted(s, 50),
    p90: percentileSorted(s, 90),
    p99: percentileSorted(s, 99),
    p999: percentileSorted(s, 99.9),
    max: s.length ? s[s.length - 1]! : NaN,
    mean: s.length ? sum / s.length : NaN,
  };
}
