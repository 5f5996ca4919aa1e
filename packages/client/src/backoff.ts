/**
 * Reconnect delays: exponential from minDelayMs to maxDelayMs with "equal
 * jitter" (half fixed, half random), so a fleet of clients that lost the
 * same Gateway does not come back in lockstep, yet none retries at ~0 ms.
 */
export interface BackoffOptions {
  minDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { minDelayMs: 50, maxDelayMs: 5_000 };

export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.minDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
