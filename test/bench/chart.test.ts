import { describe, expect, it } from 'vitest';
import { renderLatencySvg } from '../../bench/lib/chart.js';
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
      if (stack.length === 0) roots.push(name!);
      stack.push(name!);
    } else if (stack.length === 0) roots.push(name!);
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
    for (const label of ['p90', 'p99', 'p99.9', 'p99.99', '1 ms', '0.01 ms', 'uws-echo', 'node-http &lt;json &amp; crypto&gt;']) expect(svg).toContain(label);
    // Every point is a finite coordinate pair.
    for (const m of svg.matchAll(/points="([^"]*)"/g)) {
      for (const pt of m[1]!.split(' ')) expect(pt).toMatch(/^\d+(\.\d+)?,\d+(\.\d+)?$/);
    }
  });

  it('an empty series list still renders', () => {
    expect(checkWellFormed(renderLatencySvg([]))).toEqual(['svg']);
  });
});
