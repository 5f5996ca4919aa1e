/**
 * Runs a load in a separate process (dist/bench/loadgen-worker.js) and
 * returns its report. The parent only waits: it does no I/O with the target.
 */
import { fork } from 'node:child_process';
import type { LoadReport, LoadSpec } from './load-types.js';
import { distBench } from './paths.js';
import type { WorkerMessage } from '../loadgen-worker.js';

export type { CurvePoint, LatencySummary, LoadReport, LoadSpec, LoadTarget } from './load-types.js';

function checkSpec(spec: LoadSpec): void {
  const u = new URL(spec.target.url);
  if (u.hostname !== '127.0.0.1') throw new Error(`load targets must be on 127.0.0.1, not ${u.hostname}`);
  if (!(spec.durationSec > 0 && spec.durationSec <= 600)) throw new Error('durationSec must be in (0, 600]');
  if (!(spec.connections >= 1 && spec.connections <= 4096)) throw new Error('connections must be 1..4096');
  if (spec.mode === 'open' && !(spec.rate !== undefined && spec.rate > 0 && spec.rate <= 2_000_000))
    throw new Error('open loop needs 0 < rate <= 2e6');
}

export function runLoad(spec: LoadSpec): Promise<LoadReport> {
  checkSpec(spec);
  const limitMs = ((spec.warmupSec ?? 0) + spec.durationSec) * 1000 + (spec.drainMs ?? 2000) + 30_000;
  return new Promise((resolve, reject) => {
    // execArgv [] so a test runner's loader flags do not leak into the generator.
    const child = fork(distBench('loadgen-worker.js'), [JSON.stringify(spec)], {
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      settle(() => reject(new Error(`load generator did not finish within ${limitMs} ms`)));
    }, limitMs);
    child.on('message', (m: WorkerMessage) =>
      settle(() => (m.ok ? resolve(m.report) : reject(new Error(`load generator: ${m.error}`)))),
    );
    child.on('error', (err) => settle(() => reject(err)));
    child.on('exit', (code) => settle(() => reject(new Error(`load generator exited with ${code} before reporting`))));
  });
}
