import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/lib/loadgen.js';
import { startEcho, startHttpKeyService } from './fixtures.js';

const TOKEN = 'test-token';

describe('load generator (separate process)', () => {
  let slow: Awaited<ReturnType<typeof startEcho>>;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let http: Awaited<ReturnType<typeof startHttpKeyService>>;
  beforeAll(async () => {
    [slow, echo, http] = await Promise.all([
      startEcho(['--token', TOKEN, '--delay-ms', '20']),
      startEcho(['--token', TOKEN]),
      startHttpKeyService(['--token', TOKEN]),
    ]);
  });
  afterAll(async () => Promise.all([slow?.stop(), echo?.stop(), http?.stop()]));

  it('open loop: times from the scheduled send, so a 20 ms server shows p50 >= 20 ms at a low rate, and stops by itself', async () => {
    const started = Date.now();
    const r = await runLoad({
      target: { name: 'slow', kind: 'ws', url: slow.url, token: TOKEN },
      mode: 'open',
      rate: 50,
      durationSec: 1,
      connections: 2,
    });
    expect(Date.now() - started).toBeLessThan(8000);
    expect(r.sent).toBe(50);
    expect(r.completed).toBe(50);
    expect(r.errors + r.timeouts).toBe(0);
    expect(r.latencyUs.p50).toBeGreaterThanOrEqual(20_000);
    expect(r.latencyUs.max).toBeLessThan(1_000_000);
    expect(r.sentRate).toBeGreaterThan(40);
    expect(r.curve.length).toBeGreaterThan(10);
  });

  it('open loop: replies that never come are counted as timeouts after the drain', async () => {
    // 20 ms server delay, ~1 ms drain: the last requests cannot be answered in time.
    const r = await runLoad({
      target: { name: 'slow', kind: 'ws', url: slow.url, token: TOKEN },
      mode: 'open',
      rate: 200,
      durationSec: 0.5,
      connections: 1,
      drainMs: 1,
    });
    expect(r.sent).toBe(100);
    expect(r.timeouts).toBeGreaterThan(0);
    expect(r.completed + r.timeouts).toBe(100);
  });

  it('closed loop with pipelining, count=N and array frames', async () => {
    const target = { name: 'echo', kind: 'ws' as const, url: echo.url, token: TOKEN };
    const single = await runLoad({ target, mode: 'closed', connections: 2, inFlight: 8, durationSec: 0.5 });
    expect(single.opsPerSec).toBeGreaterThan(1000);
    expect(single.errors).toBe(0);
    const batch = await runLoad({
      target,
      mode: 'closed',
      connections: 1,
      inFlight: 4,
      durationSec: 0.5,
      params: { service: 'app', count: 256 },
    });
    expect(batch.deksPerSec).toBeCloseTo(batch.opsPerSec * 256);
    const arrays = await runLoad({
      target,
      mode: 'closed',
      connections: 1,
      inFlight: 4,
      perFrame: 16,
      durationSec: 0.5,
    });
    expect(arrays.completed % 16).toBe(0);
    expect(arrays.errors).toBe(0);
  });

  it('HTTP mode against the node:http key service; a bad token shows up as errors', async () => {
    const ok = await runLoad({
      target: { name: 'http', kind: 'http', url: http.url, token: TOKEN },
      mode: 'closed',
      connections: 4,
      durationSec: 0.5,
    });
    expect(ok.completed).toBeGreaterThan(10);
    expect(ok.errors).toBe(0);
    const open = await runLoad({
      target: { name: 'http', kind: 'http', url: http.url, token: TOKEN },
      mode: 'open',
      rate: 200,
      connections: 4,
      durationSec: 0.5,
    });
    expect(open.completed).toBe(100);
    const bad = await runLoad({
      target: { name: 'http', kind: 'http', url: http.url, token: 'wrong' },
      mode: 'open',
      rate: 100,
      connections: 2,
      durationSec: 0.2,
    });
    expect(bad.completed).toBe(0);
    expect(bad.errors).toBe(20);
    expect(bad.firstError).toBe('HTTP 401');
  });

  it('refuses targets off 127.0.0.1', () => {
    expect(() =>
      runLoad({
        target: { name: 'x', kind: 'ws', url: 'ws://10.0.0.1:1/v1/ws' },
        mode: 'closed',
        connections: 1,
        durationSec: 1,
      }),
    ).toThrow(/127\.0\.0\.1/);
  });
});
