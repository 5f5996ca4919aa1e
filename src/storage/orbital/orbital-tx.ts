/**
 * What every Orbital actor's transaction offers the mesh (the outbox, the
 * handled event ids, the marks), whatever else its store holds. The tables
 * are in schema.ts, the SQL in sql-orbital-tx.ts.
 */
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
