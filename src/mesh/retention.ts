/**
 * Sent outbox rows and handled event ids are kept long past any redelivery
 * (a broker holds an unacked event for at most its queue's life), then
 * pruned, so an actor's Orbital tables do not grow for ever.
 */
import type { Logger } from 'pino';
import type { OrbitalTx } from '../storage/orbital/orbital-tx.js';
import type { Store } from '../storage/store.js';
import type { Outbox } from './outbox.js';

export const PRUNE_EVERY_MS = 3_600_000;
export const OUTBOX_RETENTION_MS = 7 * 86_400_000;
export const PROCESSED_RETENTION_MS = 30 * 86_400_000;

/** Prunes every hour; returns the function that stops it. */
export function startRetention<Tx extends OrbitalTx>(
  store: Store<Tx>,
  outbox: Outbox<Tx>,
  now: () => number,
  logger: Logger,
  name: string,
): () => void {
  const timer = setInterval(() => {
    const t = now();
    Promise.all([
      outbox.prune(t - OUTBOX_RETENTION_MS),
      store.tx((tx) => tx.pruneProcessed(t - PROCESSED_RETENTION_MS)),
    ]).catch((err: unknown) => logger.warn({ err }, `${name}: pruning the Orbital tables failed`));
  }, PRUNE_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
