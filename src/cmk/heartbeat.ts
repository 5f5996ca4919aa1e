/**
 * Sovereign.Heartbeat: the CMK Server tells every Core it is alive, so no
 * Core's deadman switch fires. Published straight to the mesh, not through
 * the outbox: a heartbeat held back while the broker was down and sent
 * later would claim a liveness that was not there. A failed beat is logged
 * at debug and counted; the next one is the retry.
 */
import type { Logger } from 'pino';
import type { Counter } from '../metrics/registry.js';
import { makeEvent } from '../protocol/orbital-events.js';
import type { Mesh } from '../mesh/mesh.js';

export interface HeartbeatCounts {
  sent: number;
  failed: number;
}

export interface Heartbeat {
  readonly counts: HeartbeatCounts;
  /** Stops the timer and waits for a beat in flight. */
  stop(): Promise<void>;
}

export function startHeartbeat(opts: {
  mesh: Mesh;
  cmk: string;
  intervalSeconds: number;
  logger: Logger;
  now: () => number;
  counter?: Counter;
}): Heartbeat {
  const counts: HeartbeatCounts = { sent: 0, failed: 0 };
  let inFlight: Promise<void> | null = null;
  const beat = () => {
    // A beat still waiting for the broker's confirm makes the next one pointless.
    if (inFlight) return;
    inFlight = opts.mesh
      .publish(makeEvent('Sovereign.Heartbeat', opts.cmk, { cmk: opts.cmk, at: opts.now() }, { at: opts.now() }))
      .then(
        () => {
          counts.sent++;
          opts.counter?.inc({ outcome: 'sent' });
        },
        (err: unknown) => {
          counts.failed++;
          opts.counter?.inc({ outcome: 'failed' });
          opts.logger.debug({ err: (err as Error)?.message }, 'cmk: heartbeat not published');
        },
      )
      .finally(() => (inFlight = null));
  };
  beat();
  const timer = setInterval(beat, opts.intervalSeconds * 1000);
  timer.unref();
  return {
    counts,
    stop: async () => {
      clearInterval(timer);
      await inFlight;
    },
  };
}
