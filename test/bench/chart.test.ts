import { describe, expect, it } from 'vitest';
import { bucketCurve, renderLatencySvg } from '../../bench/lib/chart.js';
import { newHistogram, percentileCurve, recordMs } from '../../bench/lib/load-report.js';

/** A rough XML check: every open tag is closed in order, one root <svg>. */
function checkWellFormed(svg: string): string[] {
  const stack: string[] = [];
  const roots: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)([^>]*?)(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (close) {
      expect(stack.pop()).toBe(name);
    } else if (!selfClose) {
      if (stack.length === 0) roots.push(name);
      stack.push(name);
    } else if (stack.length === 0) roots.push(name);
  }
  expect(stack).toEqual([]);
  return roots;
}

describe('latency chart', () => {
  it('is well-formed SVG with one polyline per series, axis labels and a legend', () => {
    const fast = newHistogram();
    const slow = newHistogram();
    for (let i = 1; i <= 10_000; i++) {
      recordMs(fast, 0.05 + (i % 100) / 1000);
      recordMs(slow, 2 + (i % 1000) / 50);
    }
    const svg = renderLatencySvg(
      [
        { name: 'uws-echo', curve: percentileCurve(fast) },
        { name: 'node-http <json & crypto>', curve: percentileCurve(slow) },
      ],
      { title: 'test' },
    );
    expect(checkWellFormed(svg)).toEqual(['svg']);
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    for (const label of [
      'p90',
      'p99',
      'p99.9',
      'p99.99',
      '1 ms',
      '0.01 ms',
      'uws-echo',
      'node-http &lt;json &amp; crypto&gt;',
    ])
      expect(svg).toContain(label);
    // Every point is a finite coordinate pair.
    for (const m of svg.matchAll(/points="([^"]*)"/g)) {
      for (const pt of m[1].split(' ')) expect(pt).toMatch(/^\d+(\.\d+)?,\d+(\.\d+)?$/);
    }
  });

  it('an empty series list still renders', () => {
    expect(checkWellFormed(renderLatencySvg([]))).toEqual(['svg']);
  });

  it('draws the targets as a step whose ceilings sit at their latency, up to their percentile', () => {
    const h = newHistogram();
    for (let i = 1; i <= 10_000; i++) recordMs(h, 0.05 + (i % 100) / 1000);
    const svg = renderLatencySvg([{ name: 'gateway', curve: percentileCurve(h) }], {
      targets: { p50: 0.2, p99: 1, 'p99.9': 10 },
    });
    expect(checkWellFormed(svg)).toEqual(['svg']);
    for (const label of ['p50 &lt; 0.2 ms', 'p99 &lt; 1 ms', 'p99.9 &lt; 10 ms', 'target (ADR-604)'])
      expect(svg).toContain(label);
    const step = /<polyline fill="none" stroke="#555555"[^>]*points="([^"]*)"><title>targets<\/title>/.exec(svg);
    const pts = step![1].split(' ').map((p) => p.split(',').map(Number) as [number, number]);
    expect(pts).toHaveLength(6);
    // Three flat segments, each ceiling higher on the page than the last (a longer latency), each ending further right.
    for (let i = 0; i < 6; i += 2) expect(pts[i][1]).toBe(pts[i + 1][1]);
    expect(pts[2][1]).toBeLessThan(pts[0][1]);
    expect(pts[4][1]).toBeLessThan(pts[2][1]);
    expect(pts[1][0]).toBeLessThan(pts[3][0]);
    expect(pts[3][0]).toBeLessThan(pts[5][0]);
    // p99 is two nines and p99.9 three: the p99 ceiling ends two thirds of the way to the p99.9 one.
    const x0 = pts[0][0];
    const width = (pts[5][0] - x0) / 3; // p99.9 is three nines
    expect(pts[3][0] - x0).toBeCloseTo(2 * width, 0);
    // The y axis reaches the 10 ms target though no sample is near it.
    expect(svg).toContain('>10 ms<');
  });

  it("draws a Prometheus histogram as the step of its bucket bounds, up to the percentile each bound's count reaches", () => {
    // 900 of 1000 under 0.1 ms (p90), 990 under 0.25 ms (p99), 999 under 1 ms (p99.9), all under 10 ms.
    const h = {
      bounds: [0.0001, 0.00025, 0.0005, 0.001, 0.01, Infinity],
      cumulative: [900, 990, 990, 999, 1000, 1000],
      sum: 0.1,
      count: 1000,
    };
    const pts = bucketCurve(h).map((p) => [Number(p.nines.toFixed(6)), Number(p.us.toFixed(3))]);
    expect(pts).toEqual([
      [0, 100],
      [1, 100],
      [1, 250],
      [2, 250],
      [2, 1000],
      [3, 1000],
      [3, 10000],
      [4, 10000],
    ]);
    // The +Inf bucket (null once written to JSON) ends the curve; an empty histogram has none.
    const asJson = JSON.parse(JSON.stringify({ ...h, cumulative: [0, 0, 0, 0, 500, 1000] })) as typeof h;
    expect(bucketCurve(asJson).map((p) => p.us)).toEqual([10000, 10000]);
    expect(bucketCurve({ ...h, count: 0 })).toEqual([]);
  });
});
