/**
 * The transactional outbox: an actor writes the events of a state change
 * into its own store (the Core's KSI, the Registry's or the CMK Server's
 * database, on SQLite or PostgreSQL) in the same transaction as the change,
 * and a relay publishes them afterwards. So an event is never lost when the
 * broker is down at the moment of the change (it waits in the table until
 * the broker is back), and never sent for a change that rolled back.
 *
 * Delivery is at-least-once: a crash between the broker's confirm and the
 * row being marked sent publishes the row again on restart, with the same
 * event id, which idempotent handlers ignore.
 */
import { pino, type Logger } from 'pino';
import { errors } from '../errors.js';
import type { OrbitalTx, OutboxRow } from '../storage/orbital/orbital-tx.js';
import type { Store } from '../storage/store.js';
import { Mutex } from '../storage/mutex.js';
import { decodeEvent, encodeEvent, type OrbitalEvent } from '../protocol/orbital-events.js';
import type { Mesh } from './mesh.js';

export type { OutboxRow };

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

export class Outbox<Tx extends OrbitalTx = OrbitalTx> {
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
    private readonly store: Store<Tx>,
    options: OutboxOptions,
  ) {
    this.mesh = options.mesh;
    this.logger = options.logger ?? pino({ name: 'orbital-outbox' });
    this.initialDelayMs = options.initialDelayMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.batchSize = options.batchSize ?? 100;
    this.now = options.now ?? Date.now;
  }

  /**
   * Adds an event to the outbox inside the caller's own transaction, so it
   * commits or rolls back with the state change; call `nudge()` after the
   * commit (or use `transact`, which does both).
   */
  async enqueue(tx: OrbitalTx, event: OrbitalEvent): Promise<void> {
    const checked = decodeEvent(JSON.stringify(event));
    await tx.enqueueOutbox({
      id: checked.id,
      type: checked.type,
      body: encodeEvent(checked).toString('utf8'),
      createdAt: this.now(),
    });
  }

  /**
   * Runs the caller's state change and enqueues the events it yields in one
   * transaction of the store: both commit or neither does. The relay is
   * nudged after the commit.
   */
  async transact<R>(change: (tx: Tx) => Promise<{ result: R; events: OrbitalEvent[] }>): Promise<R> {
    const { result, count } = await this.store.tx(async (tx) => {
      const { result, events } = await change(tx);
      for (const e of events) await this.enqueue(tx, e);
      return { result, count: events.length };
    });
    if (count > 0) this.nudge();
    return result;
  }

  /** Asks the relay for a pass soon (after a commit that enqueued events). */
  nudge(): void {
    if (this.running) this.schedule(0);
  }

  /** Publishes every unsent row, oldest first, stopping at the first failure. */
  flush(): Promise<FlushResult> {
    return this.mutex.run(async () => {
      let sent = 0;
      for (;;) {
        const rows = await this.store.read((tx) => tx.unsentOutbox(this.batchSize));
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
            return { sent, pending: await this.pending(), error };
          }
          // Marked only after the transport confirmed: ordering is kept, and
          // a failure in between means a re-send, never a loss.
          await this.store.tx((tx) => tx.markOutboxSent(row.id, this.now()));
          sent++;
        }
      }
    });
  }

  pending(): Promise<number> {
    return this.store.read((tx) => tx.countUnsentOutbox());
  }

  rows(limit = 10_000): Promise<OutboxRow[]> {
    return this.store.read((tx) => tx.listOutbox(limit));
  }

  /** Deletes rows sent before `before` (ms), so the table does not grow forever. */
  prune(before: number): Promise<number> {
    return this.store.tx((tx) => tx.pruneOutbox(before));
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
      result = { sent: 0, pending: await this.pending().catch(() => -1), error: err };
    }
    if (result.error === undefined) {
      this.failures = 0;
      return;
    }
    this.failures++;
    const cap = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(this.failures - 1, 20));
    const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
    this.logger.warn(
      { pending: result.pending, retryInMs: delay, err: result.error },
      'orbital: outbox publish failed, will retry',
    );
    this.schedule(delay);
  }
}
