/**
 * The tables every Orbital actor keeps in its own store (the Core's KSI,
 * the Registry's and the CMK Server's databases), so that its state change,
 * the events it causes and the events it has handled commit together:
 * - orbital_outbox: events written in the same transaction as the change,
 *   sent by the relay afterwards (src/mesh/outbox.ts);
 * - orbital_processed: (consumer, event id) of every event handled, written
 *   in the handler's transaction, so a redelivered event changes nothing;
 * - orbital_marks: named numbers (the time an actor last heard a peer, the
 *   newest event applied to a subject) that must survive a restart.
 */
import type { Dialect } from '../dialect.js';

export function orbitalStatements(d: Dialect): string[] {
  const { bigint, text } = d;
  return [
    `CREATE TABLE IF NOT EXISTS orbital_outbox (
      seq ${bigint} PRIMARY KEY CHECK (seq >= 1),
      id ${text} NOT NULL UNIQUE,
      type ${text} NOT NULL,
      body ${text} NOT NULL,
      created_at ${bigint} NOT NULL,
      sent_at ${bigint}
    )${d.tableSuffix}`,
    `CREATE INDEX IF NOT EXISTS orbital_outbox_unsent ON orbital_outbox (seq) WHERE sent_at IS NULL`,
    `CREATE TABLE IF NOT EXISTS orbital_processed (
      consumer ${text} NOT NULL,
      event_id ${text} NOT NULL,
      processed_at ${bigint} NOT NULL,
      PRIMARY KEY (consumer, event_id)
    )${d.tableSuffix}`,
    `CREATE TABLE IF NOT EXISTS orbital_marks (
      name ${text} PRIMARY KEY,
      value ${bigint} NOT NULL
    )${d.tableSuffix}`,
  ];
}
