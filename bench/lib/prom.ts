/**
 * A Prometheus histogram read from the text format, the delta of two
 * scrapes, and percentiles estimated from its buckets (linear within a
 * bucket, as histogram_quantile does; a percentile in the first bucket is
 * only known to be under its bound).
 */

export interface BucketHistogram {
  /** Upper bounds in seconds, ascending; the last one is +Inf. */
  bounds: number[];
  /** Cumulative counts, one per bound. */
  cumulative: number[];
  sum: number;
  count: number;
}

export interface BucketQuantile {
  /** 0.5, 0.99, 0.999 */
  q: number;
  /** The estimate in ms (the bound itself when it falls in the first bucket); null when above the last finite bound. */
  ms: number | null;
  /** The bucket it falls in, ms. */
  bucketMs: [number, number];
  /** '0.183 ms', '< 0.1 ms' or '> 10 ms'. */
  display: string;
}

function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  return out;
}

function matches(labels: Record<string, string>, want: Record<string, string>): boolean {
  return Object.entries(want).every(([k, v]) => labels[k] === v);
}

/** The series of histogram `name` whose labels include `want`; an empty histogram when it has no samples yet. */
export function parseHistogram(text: string, name: string, want: Record<string, string>): BucketHistogram {
  const buckets = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || !m[1]!.startsWith(name)) continue;
    const labels = parseLabels(m[2] ?? '');
    if (!matches(labels, want)) continue;
    const value = Number(m[3]);
    if (m[1] === `${name}_bucket`) buckets.set(labels['le'] === '+Inf' ? Infinity : Number(labels['le']), value);
    else if (m[1] === `${name}_sum`) sum = value;
    else if (m[1] === `${name}_count`) count = value;
  }
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  return { bounds, cumulative: bounds.map((b) => buckets.get(b)!), sum, count };
}

/** after - before (a series absent before counts as zero). */
export function histogramDelta(before: BucketHistogram, after: BucketHistogram): BucketHistogram {
  const prev = new Map(before.bounds.map((b, i) => [b, before.cumulative[i]!]));
  return {
    bounds: [...after.bounds],
    cumulative: after.bounds.map((b, i) => after.cumulative[i]! - (prev.get(b) ?? 0)),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

const fmt = (ms: number) => `${Number(ms.toPrecision(3))} ms`;

export function bucketQuantile(h: BucketHistogram, q: number): BucketQuantile {
  const total = h.cumulative[h.cumulative.length - 1] ?? 0;
  if (total === 0) return { q, ms: null, bucketMs: [0, 0], display: 'no samples' };
  const rank = q * total;
  const i = h.cumulative.findIndex((c) => c >= rank);
  const hi = h.bounds[i]!;
  const lo = i === 0 ? 0 : h.bounds[i - 1]!;
  if (hi === Infinity) return { q, ms: null, bucketMs: [lo * 1000, Infinity], display: `> ${fmt(lo * 1000)}` };
  if (i === 0) return { q, ms: hi * 1000, bucketMs: [0, hi * 1000], display: `< ${fmt(hi * 1000)}` };
  const below = h.cumulative[i - 1]!;
  const inBucket = h.cumulative[i]! - below;
  const ms = (lo + ((hi - lo) * (rank - below)) / inBucket) * 1000;
  return { q, ms, bucketMs: [lo * 1000, hi * 1000], display: fmt(ms) };
}
