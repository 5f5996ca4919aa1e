/**
 * A transactional SQL store, on SQLite or PostgreSQL, for any schema: the
 * KSI is one (ksi/ksi.ts), the Registry's and the CMK Server's stores are
 * others. A store definition names its tables and how a transaction object
 * is made over the engine's executor; the engines (sqlite.ts, postgres.ts)
 * do the rest (locking, serializable transactions, retries).
 */
import type { Dialect } from './dialect.js';
import type { SqlExec, TxState } from './sql-base.js';

export type Engine = 'sqlite' | 'postgres';

export interface StoreSchema<Tx> {
  /** Names the store in logs and in PostgreSQL's application_name. */
  readonly name: string;
  /** Idempotent statements that create the tables (CREATE ... IF NOT EXISTS). */
  statements(dialect: Dialect, engine: Engine): string[];
  makeTx(exec: SqlExec, state: TxState): Tx;
}

export interface Store<Tx> {
  readonly kind: Engine;
  /** Creates the schema if needed. */
  init(): Promise<void>;
  /**
   * Runs fn in one serializable transaction: committed if fn resolves,
   * rolled back if it throws. Transactions do not interleave.
   */
  tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Read-only convenience: fn in a transaction. */
  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** True when the store answers (for readiness). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
