/**
 * Idempotent handling of one event by one consumer: the mark that the
 * consumer handled the event id, the handler's state change and the events
 * it causes (through the outbox) commit in one transaction of the actor's
 * store. A redelivered or duplicated event finds the mark and changes
 * nothing; a crash before the commit leaves neither, and the redelivery
 * does the whole work.
 */
import type { OrbitalTx } from '../storage/orbital/orbital-tx.js';
import type { OrbitalEvent } from '../protocol/orbital-events.js';
import type { Outbox } from './outbox.js';

/** Returns the events to emit (possibly none). */
export type TxHandler<Tx, E extends OrbitalEvent = OrbitalEvent> = (tx: Tx, event: E) => Promise<OrbitalEvent[]>;

/** True when the event was new and applied; false for a duplicate. */
export function handleOnce<Tx extends OrbitalTx, E extends OrbitalEvent>(
  outbox: Outbox<Tx>,
  consumer: string,
  event: E,
  apply: TxHandler<Tx, E>,
  now: () => number = Date.now,
): Promise<boolean> {
  return outbox.transact(async (tx) => {
    if (!(await tx.markProcessed(consumer, event.id, now()))) return { result: false, events: [] };
    return { result: true, events: await apply(tx, event) };
  });
}
