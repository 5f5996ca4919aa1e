import { describe, expect, it } from 'vitest';
import { runOrbitalBench } from '../../bench/orbital.js';
import { SendClock } from '../../bench/lib/orbital-mesh.js';
import { percentileSorted, summarizeMs } from '../../bench/lib/stats.js';

describe('ms percentiles', () => {
  it('uses nearest rank over the samples, in any order', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1
    const s = summarizeMs(samples);
    expect(s).toMatchObject({ count: 100, p50: 50, p90: 90, p99: 99, p999: 100, max: 100, mean: 50.5 });
    expect(samples[0]).toBe(100); // not sorted in place
    expect(percentileSorted([7], 99)).toBe(7);
    expect(summarizeMs([]).p50).toBeNaN();
  });
});

describe('send clock', () => {
  it('times marked ids once, from mark to arrival, and ignores redeliveries and strangers', async () => {
    const c = new SendClock();
    c.mark('a');
    c.mark('b');
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 30));
    const elapsed = c.arrive('a')!;
    // At least the wait, and no more than the time since the mark (the clock counts mark -> arrive).
    expect(elapsed).toBeGreaterThanOrEqual(29);
    expect(elapsed).toBeLessThanOrEqual(performance.now() - t0 + 1);
    expect(c.samples).toEqual([elapsed]);
    expect(c.arrive('a')).toBeUndefined();
    expect(c.arrive('zzz')).toBeUndefined();
    c.forget('b');
    expect(c.pending).toBe(0);
    expect(c.samples).toEqual([elapsed]);
  });
});

describe('orbital bench', () => {
  it('skips, not fails, when the broker does not answer', async () => {
    const r = await runOrbitalBench({ url: 'amqp://guest:guest@127.0.0.1:1' });
    expect(r.skipped).toMatch(/^RabbitMQ not reachable at amqp:\/\/127\.0\.0\.1:1 /);
    expect(r.closed).toBeUndefined();
  });

  it.skipIf(process.env['KRYPTON_SKIP_AMQP'] === '1')(
    'delivers every confirmed event in both runs (RabbitMQ)',
    async () => {
      const r = await runOrbitalBench({
        url: process.env['KRYPTON_TEST_AMQP_URL'],
        seconds: 0.3,
        warmupSec: 0,
        rate: 200,
      });
      expect(r.skipped).toBeUndefined();
      for (const run of [r.closed!, r.paced!]) {
        expect(run.failed).toBe(0);
        expect(run.lost).toBe(0);
        expect(run.delivered).toBe(run.published);
        expect(run.latencyMs.count).toBe(run.delivered);
      }
      expect(r.paced!.published).toBe(60);
    },
  );
});
