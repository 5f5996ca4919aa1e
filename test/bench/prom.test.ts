import { describe, expect, it } from 'vitest';
import { bucketQuantile, histogramDelta, parseHistogram } from '../../bench/lib/prom.js';

const NAME = 'krypton_gateway_request_duration_seconds';
const BOUNDS = ['0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '+Inf'];

function scrape(cumulative: number[], sum: number, other = 0): string {
  const lines = [`# HELP ${NAME} x`, `# TYPE ${NAME} histogram`];
  BOUNDS.forEach((le, i) => lines.push(`${NAME}_bucket{op="key.create",outcome="ok",le="${le}"} ${cumulative[i]}`));
  lines.push(
    `${NAME}_sum{op="key.create",outcome="ok"} ${sum}`,
    `${NAME}_count{op="key.create",outcome="ok"} ${cumulative[7]}`,
  );
  BOUNDS.forEach((le) => lines.push(`${NAME}_bucket{op="key.create",outcome="BAD_REQUEST",le="${le}"} ${other}`));
  lines.push('krypton_gateway_connections 3');
  return lines.join('\n') + '\n';
}

describe('Prometheus histogram deltas', () => {
  it('reads one labelled series and subtracts the scrape before', () => {
    const before = parseHistogram(scrape([10, 10, 10, 10, 10, 10, 10, 10], 0.001, 5), NAME, {
      op: 'key.create',
      outcome: 'ok',
    });
    const after = parseHistogram(scrape([60, 110, 110, 110, 110, 110, 110, 110], 0.02, 9), NAME, {
      op: 'key.create',
      outcome: 'ok',
    });
    const d = histogramDelta(before, after);
    expect(d.bounds[7]).toBe(Infinity);
    expect(d.cumulative).toEqual([50, 100, 100, 100, 100, 100, 100, 100]);
    expect(d.count).toBe(100);
    expect(d.sum).toBeCloseTo(0.019);
  });

  it('interpolates within a bucket and bounds the first and last', () => {
    const h = parseHistogram(scrape([50, 100, 100, 100, 100, 100, 100, 100], 0), NAME, {
      op: 'key.create',
      outcome: 'ok',
    });
    expect(bucketQuantile(h, 0.5).display).toBe('< 0.1 ms');
    expect(bucketQuantile(h, 0.75).ms).toBeCloseTo(0.175); // halfway through 0.1 .. 0.25 ms
    const tail = parseHistogram(scrape([0, 0, 0, 0, 0, 0, 990, 1000], 0), NAME, { op: 'key.create', outcome: 'ok' });
    expect(bucketQuantile(tail, 0.999)).toMatchObject({ ms: null, display: '> 10 ms' });
    expect(bucketQuantile(parseHistogram('', NAME, {}), 0.5).display).toBe('no samples');
  });
});
