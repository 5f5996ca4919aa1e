/**
 * OrbitalTx in SQL both engines accept, over the Orbital tables (schema.ts).
 * An actor's own transaction class extends it: the KSI's SqlKsiTx, the
 * Registry's and the CMK Server's through ManifestTx (src/mesh/actor-runtime.ts).
 */
import { limitOf, num, numOrNull, SqlTxBase, str } from '../sql-base.js';
import type { OrbitalTx, OutboxInsert, OutboxRow } from './orbital-tx.js';

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
      (
        await this.db.all('SELECT id, body FROM orbital_outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?', [
          limitOf(limit),
        ])
      ).map((r) => ({
        id: str(r.id),
        body: str(r.body),
      })),
    );
  }

  markOutboxSent(id: string, at: number): Promise<boolean> {
    return this.op(
      'markOutboxSent',
      async () =>
        (await this.db.run('UPDATE orbital_outbox SET sent_at = ? WHERE id = ? AND sent_at IS NULL', [at, id])) === 1,
    );
  }

  countUnsentOutbox(): Promise<number> {
    return this.op('countUnsentOutbox', async () =>
      num((await this.db.all('SELECT COUNT(*) AS n FROM orbital_outbox WHERE sent_at IS NULL', []))[0]?.n ?? 0),
    );
  }

  listOutbox(limit: number): Promise<OutboxRow[]> {
    return this.op('listOutbox', async () =>
      (
        await this.db.all('SELECT id, type, created_at, sent_at FROM orbital_outbox ORDER BY seq LIMIT ?', [
          limitOf(limit),
        ])
      ).map((r) => ({
        id: str(r.id),
        type: str(r.type),
        createdAt: num(r.created_at),
        sentAt: numOrNull(r.sent_at),
      })),
    );
  }

  pruneOutbox(before: number): Promise<number> {
    return this.op('pruneOutbox', () =>
      this.db.run('DELETE FROM orbital_outbox WHERE sent_at IS NOT NULL AND sent_at < ?', [before]),
    );
  }

  markProcessed(consumer: string, eventId: string, at: number): Promise<boolean> {
    return this.op(
      'markProcessed',
      async () =>
        (await this.db.run(
          'INSERT INTO orbital_processed (consumer, event_id, processed_at) VALUES (?, ?, ?) ON CONFLICT (consumer, event_id) DO NOTHING',
          [consumer, eventId, at],
        )) === 1,
    );
  }

  hasProcessed(consumer: string, eventId: string): Promise<boolean> {
    return this.op(
      'hasProcessed',
      async () =>
        (
          await this.db.all('SELECT 1 AS one FROM orbital_processed WHERE consumer = ? AND event_id = ?', [
            consumer,
            eventId,
          ])
        ).length > 0,
    );
  }

  discardUnsentOutbox(type: string): Promise<number> {
    return this.op('discardUnsentOutbox', () =>
      this.db.run('DELETE FROM orbital_outbox WHERE sent_at IS NULL AND type = ?', [type]),
    );
  }

  pruneProcessed(before: number): Promise<number> {
    return this.op('pruneProcessed', () =>
      this.db.run('DELETE FROM orbital_processed WHERE processed_at < ?', [before]),
    );
  }

  getMark(name: string): Promise<number | null> {
    return this.op('getMark', () =>
      this.one('SELECT value FROM orbital_marks WHERE name = ?', [name], (r) => num(r.value)),
    );
  }

  putMark(name: string, value: number): Promise<void> {
    return this.op('putMark', async () => {
      await this.db.run(
        'INSERT INTO orbital_marks (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
        [name, value],
      );
    });
  }
}
