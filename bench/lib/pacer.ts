/**
 * The open-loop schedule: request i is due at t0 + i * interval, whatever
 * happened to earlier ones. `step` is called for every due request; the
 * caller times replies from the due time it is given, so a stalled
 * generator or server shows up as latency instead of silently lowering the
 * rate (coordinated omission).
 *
 * Waits longer than 2 ms use setTimeout; shorter ones use setImmediate,
 * which keeps polling I/O between checks (Node timers have 1 ms grain).
 */
import { performance } from 'node:perf_hooks';

export function runSchedule(
  total: number,
  intervalMs: number,
  t0: number,
  step: (i: number, dueMs: number) => void,
  done: () => void,
): void {
  let next = 0;
  const tick = () => {
    const now = performance.now();
    while (next < total) {
      const due = t0 + next * intervalMs;
      if (due > now) break;
      step(next, due);
      next++;
    }
    if (next >= total) return done();
    const wait = t0 + next * intervalMs - performance.now();
    if (wait > 2) setTimeout(tick, wait - 1);
    else setImmediate(tick);
  };
  const first = t0 - performance.now();
  if (first > 2) setTimeout(tick, first - 1);
  else setImmediate(tick);
}
