/** HDR histograms (µs) and the report built from one. */
import * as hdr from 'hdr-histogram-js';
import type { CurvePoint, LatencySummary, LoadReport, LoadSpec } from './load-types.js';

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  // 1 µs .. 120 s at 3 significant digits; plain JS (no WebAssembly init).
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

/** Records `count` requests that took `ms` milliseconds (clamped into the trackable range). */
export function recordMs(h: Histogram, ms: number, count = 1): void {
  const us = Math.min(120_000_000, Math.max(1, Math.round(ms * 1000)));
  if (count === 1) h.recordValue(us);
  else h.recordValueWithCount(us, count);
}

export function summarize(h: Histogram): LatencySummary {
  return {
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean),
    count: h.totalCount,
  };
}

/** The percentile curve on the "nines" axis, 0 to `maxNines` in steps of 0.05, then the max. */
export function percentileCurve(h: Histogram, maxNines = 4): CurvePoint[] {
  const out: CurvePoint[] = [];
  if (h.totalCount === 0) return out;
  for (let i = 0; i <= maxNines * 20; i++) {
    const nines = i / 20;
    const percentile = 100 * (1 - Math.pow(10, -nines));
    out.push({ percentile, nines, us: h.getValueAtPercentile(percentile) });
  }
  return out;
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(s: string): Histogram {
  return hdr.decodeFromCompressedBase64(s);
}

export interface Counts {
  elapsedSec: number;
  sent: number;
  completed: number;
  errors: number;
  timeouts: number;
  sentRate?: number;
  sendLag?: Histogram;
  firstError?: string;
}

export function buildReport(spec: LoadSpec, h: Histogram, c: Counts): LoadReport {
  const opsPerSec = c.elapsedSec > 0 ? c.completed / c.elapsedSec : 0;
  const count = typeof spec.params?.['count'] === 'number' ? spec.params['count'] : 1;
  return {
    spec,
    elapsedSec: c.elapsedSec,
    sent: c.sent,
    completed: c.completed,
    errors: c.errors,
    timeouts: c.timeouts,
    opsPerSec,
    deksPerSec: opsPerSec * count,
    ...(spec.mode === 'open' ? { targetRate: spec.rate ?? 0, sentRate: c.sentRate ?? 0 } : {}),
    latencyUs: summarize(h),
    ...(c.sendLag !== undefined ? { sendLagUs: summarize(c.sendLag) } : {}),
    curve: percentileCurve(h),
    histogram: encodeHistogram(h),
    ...(c.firstError !== undefined ? { firstError: c.firstError } : {}),
  };
}
