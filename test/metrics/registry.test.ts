import { describe, expect, it } from 'vitest';
import { Registry } from '../../src/metrics/registry.js';

describe('Prometheus registry', () => {
  it('renders counters, gauges and histograms with the ADR-604 buckets in the text format', () => {
    const r = new Registry();
    const c = r.counter('krypton_test_total', 'things', ['op']);
    c.inc({ op: 'a' });
    c.inc({ op: 'a' }, 2);
    r.gauge('krypton_test_gauge', 'level').set(() => 7);
    const h = r.histogram('krypton_test_seconds', 'latency', ['op', 'outcome']);
    h.observe(0.00009, { op: 'x', outcome: 'ok' });
    h.observe(0.003, { op: 'x', outcome: 'ok' });
    h.observe(1, { op: 'x', outcome: 'ok' });
    const text = r.render();
    expect(text).toContain('# TYPE krypton_test_total counter\nkrypton_test_total{op="a"} 3\n');
    expect(text).toContain('krypton_test_gauge 7\n');
    expect(text).toContain('krypton_test_seconds_bucket{op="x",outcome="ok",le="0.0001"} 1\n');
    expect(text).toContain('krypton_test_seconds_bucket{op="x",outcome="ok",le="0.0025"} 1\n');
    expect(text).toContain('krypton_test_seconds_bucket{op="x",outcome="ok",le="0.005"} 2\n');
    expect(text).toContain('krypton_test_seconds_bucket{op="x",outcome="ok",le="0.01"} 2\n');
    expect(text).toContain('krypton_test_seconds_bucket{op="x",outcome="ok",le="+Inf"} 3\n');
    expect(text).toContain('krypton_test_seconds_count{op="x",outcome="ok"} 3\n');
  });

  it('escapes label values', () => {
    const r = new Registry();
    r.counter('k_total', 'h', ['v']).inc({ v: 'a"b\\c\nd' });
    expect(r.render()).toContain('k_total{v="a\\"b\\\\c\\nd"} 1');
  });
});
