/**
 * The deadman switch of ACD-402: a Core that has not heard from its CMK
 * Server (its sovereign anchor) for the Strict Sovereign TTL stops serving
 * keys until it hears again, so a Core cut off from the customer's say
 * cannot keep serving a tenant whose L1 was unlinked meanwhile ("zombie
 * sovereignty").
 *
 * The time last heard is kept in the KSI, so a restart does not grant a
 * fresh TTL. A Core that has never heard from a CMK Server counts from its
 * first start with Orbital.
 */
import { KryptonError } from '../../errors.js';
import type { Clock } from '../clock.js';

export const DEFAULT_SOVEREIGN_TTL_SECONDS = 24 * 3600;

export interface DeadmanState {
  serving: boolean;
  /** When the CMK Server was last heard from (ms), or when counting started. */
  lastHeardAt: number;
  /** The CMK Server's id, once heard. */
  cmk: string | null;
  silentMs: number;
  ttlMs: number;
  /** Why key serving is paused (null while serving). */
  reason: string | null;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export class SovereignDeadman {
  private cmk: string | null = null;

  constructor(
    private readonly clock: Clock,
    readonly ttlMs: number,
    private lastHeardAt: number,
  ) {}

  /** A heartbeat (or any word) from the CMK Server. Older news than what is known is ignored. */
  heard(cmk: string, at = this.clock.now()): void {
    this.cmk = cmk;
    if (at > this.lastHeardAt) this.lastHeardAt = at;
  }

  get lastHeard(): number {
    return this.lastHeardAt;
  }

  state(): DeadmanState {
    const silentMs = Math.max(0, this.clock.now() - this.lastHeardAt);
    const serving = silentMs <= this.ttlMs;
    return {
      serving,
      lastHeardAt: this.lastHeardAt,
      cmk: this.cmk,
      silentMs,
      ttlMs: this.ttlMs,
      reason: serving
        ? null
        : `sovereign deadman: no word from the CMK Server for ${duration(silentMs)} (Strict Sovereign TTL ${duration(this.ttlMs)}); key serving is paused until it is heard again`,
    };
  }

  /** Throws KEY_UNAVAILABLE, with the reason, while key serving is paused. */
  assertServing(): void {
    const s = this.state();
    if (!s.serving) throw new KryptonError('KEY_UNAVAILABLE', s.reason!);
  }
}
