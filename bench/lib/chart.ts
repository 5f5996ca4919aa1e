/**
 * An SVG latency chart without dependencies: one percentile curve per
 * system, x = percentile on a "nines" axis (0, 90, 99, 99.9, 99.99: equal
 * steps per nine, so the tail gets the room it deserves), y = latency in ms
 * on a log scale (a 0.1 ms floor and a 20 ms tail both stay readable).
 * Targets (the ADR-604 SLO) are drawn as a dashed step: a curve under the
 * step meets them.
 */
import type { CurvePoint } from './load-types.js';
import type { BucketHistogram } from './prom.js';

export interface ChartSeries {
  name: string;
  curve: CurvePoint[];
}

export interface ChartOptions {
  title?: string;
  width?: number;
  height?: number;
  maxNines?: number;
  /** Latency ceilings by percentile, e.g. `{p50: 0.2, p99: 1, 'p99.9': 10}` (ms); drawn as a dashed step. */
  targets?: Record<string, number>;
}

/** `'p99.9'` -> 3 (nines); `'p50'` -> 0.301. */
function ninesOf(label: string): number {
  return -Math.log10(1 - Number(label.slice(1)) / 100);
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/**
 * A Prometheus histogram as a curve of upper bounds: up to the percentile
 * each bucket's cumulative count reaches, latency is at most its bound (a
 * step). Stops at the last finite bound, and at `maxNines` on the x axis.
 */
export function bucketCurve(h: BucketHistogram, maxNines = 4): CurvePoint[] {
  const points: CurvePoint[] = [];
  if (h.count <= 0) return points;
  let from = 0;
  for (let i = 0; i < h.bounds.length && from < maxNines; i++) {
    const bound = h.bounds[i]!;
    if (!Number.isFinite(bound)) break;
    const q = Math.min(1, h.cumulative[i]! / h.count);
    const to = q >= 1 ? maxNines : Math.min(maxNines, -Math.log10(1 - q));
    if (to <= from) continue;
    for (const nines of [from, to])
      points.push({ percentile: 100 * (1 - Math.pow(10, -nines)), nines, us: bound * 1e6 });
    from = to;
  }
  return points;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function nineLabel(n: number): string {
  if (n === 0) return 'p0';
  return `p${(100 * (1 - Math.pow(10, -n))).toFixed(Math.max(0, n - 2))}`;
}

function msLabel(ms: number): string {
  return ms >= 1 ? `${ms} ms` : `${Number(ms.toPrecision(1))} ms`;
}

export function renderLatencySvg(series: ChartSeries[], opts: ChartOptions = {}): string {
  const W = opts.width ?? 800;
  const legend = series.length + (opts.targets ? 1 : 0);
  const H = (opts.height ?? 420) + 18 * legend;
  const maxNines = opts.maxNines ?? 4;
  // The legend sits under the x axis, where no curve can run through it.
  const m = { left: 70, right: 20, top: 40, bottom: 60 + 18 * legend };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;

  const targets = Object.entries(opts.targets ?? {})
    .map(([label, ms]) => ({ label, ms, nines: ninesOf(label) }))
    .sort((a, b) => a.nines - b.nines);
  const values = series
    .flatMap((s) => s.curve.filter((p) => p.nines <= maxNines + 1e-9).map((p) => p.us / 1000))
    .concat(targets.map((t) => t.ms))
    .filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(values.length ? Math.min(...values) : 0.01)));
  let hi = Math.pow(10, Math.ceil(Math.log10(values.length ? Math.max(...values) : 10)));
  if (hi <= lo) hi = lo * 10;
  const x = (n: number) => m.left + (n / maxNines) * pw;
  const y = (ms: number) =>
    m.top + ph - ((Math.log10(Math.max(ms, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * ph;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  if (opts.title) out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(opts.title)}</text>`);

  // y grid: decades labelled, 2 and 5 as faint lines.
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    out.push(
      `<line x1="${m.left}" y1="${y(d).toFixed(1)}" x2="${m.left + pw}" y2="${y(d).toFixed(1)}" stroke="#bbbbbb"/>`,
    );
    out.push(`<text x="${m.left - 6}" y="${(y(d) + 4).toFixed(1)}" text-anchor="end">${esc(msLabel(d))}</text>`);
    for (const f of [2, 5]) {
      if (d * f < hi)
        out.push(
          `<line x1="${m.left}" y1="${y(d * f).toFixed(1)}" x2="${m.left + pw}" y2="${y(d * f).toFixed(1)}" stroke="#eeeeee"/>`,
        );
    }
  }
  // x grid: one line per nine.
  for (let n = 0; n <= maxNines; n++) {
    out.push(
      `<line x1="${x(n).toFixed(1)}" y1="${m.top}" x2="${x(n).toFixed(1)}" y2="${m.top + ph}" stroke="#dddddd"/>`,
    );
    out.push(`<text x="${x(n).toFixed(1)}" y="${m.top + ph + 18}" text-anchor="middle">${nineLabel(n)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333333"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 36}" text-anchor="middle">percentile</text>`);
  out.push(
    `<text x="16" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.top + ph / 2})">latency (ms, log scale)</text>`,
  );

  if (targets.length > 0) {
    // Each ceiling holds from the previous target's percentile up to its own.
    const pts: string[] = [];
    let from = 0;
    for (const t of targets) {
      pts.push(
        `${x(from).toFixed(1)},${y(t.ms).toFixed(1)}`,
        `${x(Math.min(t.nines, maxNines)).toFixed(1)},${y(t.ms).toFixed(1)}`,
      );
      out.push(
        `<text x="${(x(Math.min(t.nines, maxNines)) - 4).toFixed(1)}" y="${(y(t.ms) - 5).toFixed(1)}" text-anchor="end" fill="#555555">${esc(`${t.label} < ${msLabel(t.ms)}`)}</text>`,
      );
      from = t.nines;
    }
    out.push(
      `<polyline fill="none" stroke="#555555" stroke-width="1.5" stroke-dasharray="6 4" points="${pts.join(' ')}"><title>targets</title></polyline>`,
    );
  }

  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.curve
      .filter((p) => p.nines <= maxNines + 1e-9)
      .map((p) => `${x(p.nines).toFixed(1)},${y(p.us / 1000).toFixed(1)}`)
      .join(' ');
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"><title>${esc(s.name)}</title></polyline>`,
    );
    const ly = m.top + ph + 60 + i * 18;
    out.push(
      `<line x1="${m.left + 12}" y1="${ly - 4}" x2="${m.left + 36}" y2="${ly - 4}" stroke="${color}" stroke-width="3"/>`,
    );
    out.push(`<text x="${m.left + 42}" y="${ly}">${esc(s.name)}</text>`);
  });
  if (opts.targets) {
    const ly = m.top + ph + 60 + series.length * 18;
    out.push(
      `<line x1="${m.left + 12}" y1="${ly - 4}" x2="${m.left + 36}" y2="${ly - 4}" stroke="#555555" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
    out.push(`<text x="${m.left + 42}" y="${ly}">target (ADR-604): a curve under the dashed step meets it</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
