import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { distBench, ROOT } from '../../bench/lib/paths.js';
import { requireBuilt } from './fixtures.js';
import { GATEWAY_HISTOGRAM, sloFrom } from '../../bench/gateway.js';

type GatewayBench = typeof import('../../bench/gateway.js');

describe('gateway bench', () => {
  it('runs every question against a real dev stack and reports figures and verdicts', async () => {
    requireBuilt();
    // The dev stack spawns the compiled CLI, so the bench runs from dist as `npm run bench` does.
    for (const f of [distBench('gateway.js'), `${ROOT}/dist/src/cli/main.js`])
      if (!existsSync(f)) throw new Error(`${f} is missing: build first`);
    const { runGatewayBench } = (await import(distBench('gateway.js'))) as GatewayBench;
    const r = await runGatewayBench({ openSec: 2, openRate: 500, closedSec: 0.5, warmupSec: 0.2 });

    expect(r.slo.samples).toBeGreaterThan(500);
    expect(r.slo.quantiles.map((q) => q.display)).not.toContain('no samples');
    expect(r.slo.verdicts.map((v) => v.name)).toEqual([
      'p50 (ADR-604)',
      'p99 (ADR-604)',
      'p99.9 (ADR-604)',
      'p99 (Gateway target)',
    ]);
    // Each SLO verdict is its quantile against its target (the rule itself is tested below on known histograms).
    for (const [i, v] of r.slo.verdicts.entries()) {
      const q = r.slo.quantiles[i === 3 ? 1 : i];
      expect(v.pass, v.name).toBe(q.ms !== null && q.ms <= Number(/< ([\d.]+) ms/.exec(v.target)![1]));
    }

    expect(r.client.gateway!.count).toBeGreaterThan(0);
    expect(r.client.echo!.count).toBeGreaterThan(0);
    expect(r.client.addedUs).toBeDefined();
    const openRuns = r.open.results.map((x) => `${x.target}:${x.report?.errors}`);
    expect(openRuns).toEqual(['uws-echo:0', 'node-http:0', 'gateway:0']);

    for (const row of [...r.closed.rows, ...r.batched.rows]) {
      expect(row.opsPerSec, `${row.run} ${row.target}`).toBeGreaterThan(0);
      expect(row.errors, `${row.run} ${row.target}: ${row.note}`).toBe(0);
    }
    expect(r.batched.rows.find((x) => x.target === 'gateway' && x.run === 'count=256')!.deksPerSec).toBeGreaterThan(
      r.batched.rows[0].opsPerSec,
    );
  }, 120_000);

  describe('SLO verdicts from the Gateway histogram (/metrics deltas)', () => {
    const BOUNDS = ['0.0001', '0.00025', '0.0005', '0.001', '0.0025', '0.005', '0.01', '+Inf'];
    /** The Gateway's key.create histogram as /metrics prints it, with these cumulative counts. */
    const metrics = (cumulative: number[], other = 0) =>
      [
        ...BOUNDS.map(
          (le, i) => `${GATEWAY_HISTOGRAM}_bucket{op="key.create",outcome="ok",le="${le}"} ${cumulative[i]}`,
        ),
        `${GATEWAY_HISTOGRAM}_sum{op="key.create",outcome="ok"} 0.05`,
        `${GATEWAY_HISTOGRAM}_count{op="key.create",outcome="ok"} ${cumulative.at(-1)}`,
        // Another op's series must not count.
        `${GATEWAY_HISTOGRAM}_bucket{op="key.decrypt",outcome="ok",le="+Inf"} ${other}`,
      ].join('\n');
    const zero = metrics([0, 0, 0, 0, 0, 0, 0, 0]);
    const passes = (after: string, before = zero) => sloFrom(before, after).verdicts.map((v) => [v.name, v.pass]);

    it('all under 0.1 ms: every target met', () => {
      expect(passes(metrics([1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000], 5000)).every(([, p]) => p)).toBe(true);
    });

    it('a tail between 1 and 2.5 ms misses the p99 targets and meets p50 and p99.9', () => {
      expect(passes(metrics([980, 980, 980, 980, 1000, 1000, 1000, 1000]))).toEqual([
        ['p50 (ADR-604)', true],
        ['p99 (ADR-604)', false],
        ['p99.9 (ADR-604)', true],
        ['p99 (Gateway target)', false],
      ]);
    });

    it('only the delta counts: what was there before the run is subtracted', () => {
      const before = metrics([0, 0, 0, 0, 0, 0, 0, 1000]); // 1000 slow requests before the run
      const after = metrics([1000, 1000, 1000, 1000, 1000, 1000, 1000, 2000]); // then 1000 fast ones
      expect(passes(after, before).every(([, p]) => p)).toBe(true);
    });

    it('samples beyond the last finite bucket, or none at all, fail every target', () => {
      expect(passes(metrics([0, 0, 0, 0, 0, 0, 0, 1000])).some(([, p]) => p)).toBe(false);
      expect(passes(zero).some(([, p]) => p)).toBe(false);
    });
  });
});
