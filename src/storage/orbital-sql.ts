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
import type { Dialect } from './schema.js';
import { limitOf, num, numOrNull, SqlTxBase, str } from './sql-base.js';

export interface OutboxInsert {
  id: string;
  type: string;
  /** The encoded event. */
  body: string;
  createdAt: number;
}

export interface OutboxRow {
  id: string;
  type: string;
  createdAt: number;
  sentAt: number | null;
}

/** What every actor's transaction offers Orbital. */
export interface OrbitalTx {
  enqueueOutbox(row: OutboxInsert): Promise<void>;
  /** Unsent rows, oldest first. */
  unsentOutbox(limit: number): Promise<Array<{ id: string; body: string }>>;
  /** False when the row was already marked (or is gone). */
  markOutboxSent(id: string, at: number): Promise<boolean>;
  countUnsentOutbox(): Promise<number>;
  /** Every row, oldest first, at most limit. */
  listOutbox(limit: number): Promise<OutboxRow[]>;
  /** Deletes rows sent before `before`; returns how many. */
  pruneOutbox(before: number): Promise<number>;
  /**
   * Records that `consumer` handled event `eventId`. False when it already
   * had: the caller must then change nothing (and its transaction commits
   * nothing new).
   */
  markProcessed(consumer: string, eventId: string, at: number): Promise<boolean>;
  hasProcessed(consumer: string, eventId: string): Promise<boolean>;
  /** Drops unsent rows of a type (a periodic snapshot superseded by a newer one); returns how many. */
  discardUnsentOutbox(type: string): Promise<number>;
  /** Forgets handled ids older than `before` (far beyond any redelivery). */
  pruneProcessed(before: number): Promise<number>;
  getMark(name: string): Promise<number | null>;
  putMark(name: string, value: number): Promise<void>;
}

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

export class SqlOrbitalTx extends SqlTxBase implements OrbitalTx {
  enqueueOutbox(row: OutboxInsert): Promise<void> {
    return this.op('enqueueOutbox', async () => {
      // seq = max + 1 inside the transaction: gap-free and in commit order,
      // as the KSI's epochs (two enqueuing transactions are serialized).
      await this.db.run(
        `INSERT INTO orbital_outbox (seq, id, type, body, created_at)
         SELECT COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ? FROM orbital_outbox`,
        [row.id, row.type, row.body, row.createdAt],
      );
    });
  }

  unsentOutbox(limit: number): Promise<Array<{ id: string; body: string }>> {
    return this.op('unsentOutbox', async () =>
      (await this.db.all('SELECT id, body FROM orbital_outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?', [limitOf(limit)])).map((r) => ({
        id: str(r.id),
        body: str(r.body),
      })),
    );
  }

  markOutboxSent(id: string, at: number): Promise<boolean> {
    return this.op('markOutboxSent', async () => (await this.db.run('UPDATE orbital_outbox SET sent_at = ? WHERE id = ? AND sent_at IS NULL', [at, id])) === 1);
  }

  countUnsentOutbox(): Promise<number> {
    return this.op('countUnsentOutbox', async () => num((await this.db.all('SELECT COUNT(*) AS n FROM orbital_outbox WHERE sent_at IS NULL', []))[0]?.n ?? 0));
  }

  listOutbox(limit: number): Promise<OutboxRow[]> {
    return this.op('listOutbox', async () =>
      (await this.db.all('SELECT id, type, created_at, sent_at FROM orbital_outbox ORDER BY seq LIMIT ?', [limitOf(limit)])).map((r) => ({
        id: str(r.id),
        type: str(r.type),
        createdAt: num(r.created_at),
        sentAt: numOrNull(r.sent_at),
      })),
    );
  }

  pruneOutbox(before: number): Promise<number> {
    return this.op('pruneOutbox', () => this.db.run('DELETE FROM orbital_outbox WHERE sent_at IS NOT NULL AND sent_at < ?', [before]));
  }

  markProcessed(consumer: string, eventId: string, at: number): Promise<boolean> {
    return this.op('markProcessed', async () =>
      (await this.db.run(
        'INSERT INTO orbital_processed (consumer, event_id, processed_at) VALUES (?, ?, ?) ON CONFLICT (consumer, event_id) DO NOTHING',
        [consumer, eventId, at],
      )) === 1,
    );
  }

  hasProcessed(consumer: string, eventId: string): Promise<boolean> {
    return this.op('hasProcessed', async () =>
      (await this.db.all('SELECT 1 AS one FROM orbital_processed WHERE consumer = ? AND event_id = ?', [consumer, eventId])).length > 0,
    );
  }

  discardUnsentOutbox(type: string): Promise<number> {
    return this.op('discardUnsentOutbox', () => this.db.run('DELETE FROM orbital_outbox WHERE sent_at IS NULL AND type = ?', [type]));
  }

  pruneProcessed(before: number): Promise<number> {
    return this.op('pruneProcessed', () => this.db.run('DELETE FROM orbital_processed WHERE processed_at < ?', [before]));
  }

  getMark(name: string): Promise<number | null> {
    return this.op('getMark', () => this.one('SELECT value FROM orbital_marks WHERE name = ?', [name], (r) => num(r.value)));
  }

  putMark(name: string, value: number): Promise<void> {
    return this.op('putMark', async () => {
      await this.db.run('INSERT INTO orbital_marks (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value', [name, value]);
    });
  }
}
