/**
 * The transactional outbox: an actor writes the events of a state change
 * into its own SQLite database in the same transaction as the change, and a
 * relay publishes them afterwards. So an event is never lost when the broker
 * is down at the moment of the change (it waits in the table until the
 * broker is back), and never sent for a change that rolled back.
 *
 * Delivery is at-least-once: a crash between the broker's confirm and the
 * row being marked sent publishes the row again on restart, with the same
 * event id, which idempotent handlers ignore.
 */
import type Database from 'better-sqlite3';
import { pino, type Logger } from 'pino';
import { errors } from '../errors.js';
import { Mutex } from '../storage/mutex.js';
import { decodeEvent, encodeEvent, type OrbitalEvent } from './events.js';
import type { Mesh } from './mesh.js';

// The KSI's typings (src/storage/better-sqlite3.d.ts) cover only what the
// KSI uses; the outbox needs db.transaction as well, which every
// better-sqlite3 Database has.
type TxDatabase = Database.Database & {
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
};

export const OUTBOX_SCHEMA = `CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  sent_at INTEGER NULL
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;`;

export interface OutboxOptions {
  mesh: Mesh;
  logger?: Logger;
  /** First retry delay after a failed publish (default 200 ms), doubling up to maxDelayMs (default 10 s), jittered. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Rows read per relay pass (default 100). */
  batchSize?: number;
  now?: () => number;
}

export interface FlushResult {
  sent: number;
  pending: number;
  /** Why the pass stopped early (the publish that failed), if it did. */
  error?: unknown;
}

export interface OutboxRow {
  id: string;
  type: string;
  createdAt: number;
  sentAt: number | null;
}

export class Outbox {
  private readonly mesh: Mesh;
  private readonly logger: Logger;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly batchSize: number;
  private readonly now: () => number;
  /** One relay pass at a time: two passes would publish the same rows twice. */
  private readonly mutex = new Mutex();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private failures = 0;

  constructor(
    private readonly db: Database.Database,
    options: OutboxOptions,
  ) {
    this.mesh = options.mesh;
    this.logger = options.logger ?? pino({ name: 'orbital-outbox' });
    this.initialDelayMs = options.initialDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.batchSize = options.batchSize ?? 100;
    this.now = options.now ?? Date.now;
    this.db.exec(OUTBOX_SCHEMA);
  }

  /**
   * Adds an event to the outbox. Call it inside the caller's own
   * transaction (better-sqlite3 is synchronous, so the insert joins it);
   * `transact` does both for you.
   */
  enqueue(event: OrbitalEvent): void {
    const checked = decodeEvent(JSON.stringify(event));
    this.db
      .prepare('INSERT INTO outbox (id, type, body, created_at) VALUES (?, ?, ?, ?)')
      .run(checked.id, checked.type, encodeEvent(checked).toString('utf8'), this.now());
  }

  /**
   * Runs the caller's state change and enqueues the events it yields in one
   * SQLite transaction: both commit or neither does. `change` returns the
   * result and the events to emit; the relay is nudged after the commit.
   */
  transact<R>(change: (db: Database.Database) => { result: R; events: OrbitalEvent[] }): R {
    const run = (this.db as TxDatabase).transaction(() => {
      const { result, events } = change(this.db);
      for (const e of events) this.enqueue(e);
      return { result, count: events.length };
    });
    const { result, count } = run();
    if (count > 0 && this.running) this.schedule(0);
    return result;
  }

  /** Publishes every unsent row, oldest first, stopping at the first failure. */
  flush(): Promise<FlushResult> {
    return this.mutex.run(async () => {
      let sent = 0;
      const select = this.db.prepare('SELECT id, body FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?');
      const mark = this.db.prepare('UPDATE outbox SET sent_at = ? WHERE id = ? AND sent_at IS NULL');
      for (;;) {
        const rows = select.all(this.batchSize) as Array<{ id: string; body: string }>;
        if (rows.length === 0) return { sent, pending: 0 };
        for (const row of rows) {
          let event: OrbitalEvent;
          try {
            event = decodeEvent(row.body);
          } catch (err) {
            // Only enqueue writes rows and it validates, so this is a
            // corrupted table: stopping is safer than skipping an event.
            throw errors.internal(`outbox row ${row.id} is not a valid event`, err);
          }
          try {
            await this.mesh.publish(event);
          } catch (error) {
            return { sent, pending: this.pending(), error };
          }
          // Marked only after the transport confirmed: ordering is kept, and
          // a failure in between means a re-send, never a loss.
          mark.run(this.now(), row.id);
          sent++;
        }
      }
    });
  }

  pending(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM outbox WHERE sent_at IS NULL').get() as { n: number }).n;
  }

  rows(): OutboxRow[] {
    return (this.db.prepare('SELECT id, type, created_at, sent_at FROM outbox ORDER BY seq').all() as Array<{
      id: string;
      type: string;
      created_at: number;
      sent_at: number | null;
    }>).map((r) => ({ id: r.id, type: r.type, createdAt: r.created_at, sentAt: r.sent_at }));
  }

  /** Deletes rows sent before `before` (ms), so the table does not grow forever. */
  prune(before: number): number {
    return this.db.prepare('DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?').run(before).changes;
  }

  /** Starts the relay: a pass now, after every transact, and with backoff while the mesh is down. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops the relay and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.mutex.run(async () => undefined);
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    if (this.timer) {
      // A nudge brings a pending retry forward only while the mesh is up;
      // while it is down, the backoff decides.
      if (this.failures > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.pass();
    }, delayMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    let result: FlushResult;
    try {
      result = await this.flush();
    } catch (err) {
      result = { sent: 0, pending: this.pending(), error: err };
    }
    if (result.error === undefined) {
      this.failures = 0;
      return;
    }
    this.failures++;
    const cap = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(this.failures - 1, 20));
    const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
    this.logger.warn({ pending: result.pending, retryInMs: delay, err: result.error }, 'orbital: outbox publish failed, will retry');
    this.schedule(delay);
  }
}
