import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { distBench, ROOT } from '../../bench/lib/paths.js';
import { requireBuilt } from './fixtures.js';

type GatewayBench = typeof import('../../bench/gateway.js');

describe('gateway bench', () => {
  it('runs every question against a real dev stack and reports figures and verdicts', async () => {
    requireBuilt();
    // The dev stack spawns the compiled CLI, so the bench runs from dist as `npm run bench` does.
    for (const f of [distBench('gateway.js'), `${ROOT}/dist/src/cli/main.js`]) if (!existsSync(f)) throw new Error(`${f} is missing: build first`);
    const { runGatewayBench } = (await import(distBench('gateway.js'))) as GatewayBench;
    const r = await runGatewayBench({ openSec: 2, openRate: 500, closedSec: 0.5, warmupSec: 0.2 });

    expect(r.slo.samples).toBeGreaterThan(500);
    expect(r.slo.quantiles.map((q) => q.display)).not.toContain('no samples');
    expect(r.slo.verdicts.map((v) => v.name)).toEqual(['p50 (ADR-604)', 'p99 (ADR-604)', 'p99.9 (ADR-604)', 'p99 (Gateway target)']);
    for (const v of [...r.slo.verdicts, ...r.closed.verdicts, ...r.batched.verdicts]) expect(typeof v.pass).toBe('boolean');

    expect(r.client.gateway!.count).toBeGreaterThan(0);
    expect(r.client.echo!.count).toBeGreaterThan(0);
    expect(r.client.addedUs).toBeDefined();
    const openRuns = r.open.results.map((x) => `${x.target}:${x.report?.errors}`);
    expect(openRuns).toEqual(['uws-echo:0', 'node-http:0', 'gateway:0']);

    for (const row of [...r.closed.rows, ...r.batched.rows]) {
      expect(row.opsPerSec, `${row.run} ${row.target}`).toBeGreaterThan(0);
      expect(row.errors, `${row.run} ${row.target}: ${row.note}`).toBe(0);
    }
    expect(r.batched.rows.find((x) => x.target === 'gateway' && x.run === 'count=256')!.deksPerSec).toBeGreaterThan(r.batched.rows[0]!.opsPerSec);
  }, 120_000);
});
