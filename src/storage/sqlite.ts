import { realpathSync } from 'node:fs';
import Database from 'better-sqlite3';
import { errors } from '../errors.js';
import { Mutex } from './mutex.js';
import { SQLITE_DIALECT } from './dialect.js';
import type { SqlExec, SqlParam, SqlRecord, TxState } from './sql-base.js';
import type { Store, StoreSchema } from './store.js';
import { storageError } from './storage-error.js';
import { assertNotNested, runInTx } from './tx-guard.js';

export interface SqliteStoreOptions {
  /** How long a writer waits for another process's lock before failing (ms). */
  busyTimeoutMs?: number;
}

/**
 * A store in one SQLite file (the default KSI is one), written through better-sqlite3.
 *
 * Durability: journal_mode=WAL with synchronous=FULL. A `kill -9` of this
 * process never loses a committed transaction in WAL mode (the WAL is in
 * the OS page cache once COMMIT returns). A power loss or kernel crash is
 * different: with synchronous=NORMAL the WAL is only fsynced at checkpoints,
 * so transactions already reported committed (a rotation whose new version
 * was handed out) can vanish. FULL fsyncs the WAL at every COMMIT. The cost,
 * one fsync per transaction, is acceptable: key-state changes are rare next
 * to key use (sealing and opening L4 blobs), which never writes here.
 *
 * Concurrency: better-sqlite3 is synchronous and has one connection, but
 * `tx` takes an async function. An async mutex queues transactions so that
 * their awaits never interleave inside one SQL transaction. BEGIN IMMEDIATE
 * takes the write lock up front, so a transaction never fails half-way
 * because another process wrote first (other processes wait busy_timeout).
 * SQLite transactions are serializable by construction (one writer).
 */
export class SqliteStore<Tx> implements Store<Tx> {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly mutex: Mutex;
  private readonly statements = new Map<string, Database.Statement>();
  private closed = false;

  constructor(
    readonly path: string,
    private readonly schema: StoreSchema<Tx>,
    options: SqliteStoreOptions = {},
  ) {
    let db: Database.Database | undefined;
    try {
      db = this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    } catch (err) {
      db?.close();
      throw storageError('open', err);
    }
    this.mutex = mutexFor(path);
  }

  async init(): Promise<void> {
    await this.mutex.run(async () => {
      this.assertOpen();
      await this.exclusive('init', false, async () => {
        try {
          for (const sql of this.schema.statements(SQLITE_DIALECT, 'sqlite')) this.db.exec(sql);
        } catch (err) {
          throw storageError('init', err);
        }
      });
    });
  }

  tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.run(fn, false);
  }

  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.run(fn, true);
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    try {
      this.prepare('SELECT 1 AS one').get();
      return true;
    } catch {
      return false;
    }
  }

  /** Waits for queued transactions, then closes the file (checkpointing the WAL). */
  async close(): Promise<void> {
    await this.mutex.run(async () => {
      if (this.closed) return;
      this.closed = true;
      this.statements.clear();
      this.db.close();
    });
  }

  private run<T>(fn: (tx: Tx) => Promise<T>, readOnly: boolean): Promise<T> {
    assertNotNested(this.mutex);
    return this.mutex.run(async () => {
      this.assertOpen();
      const state: TxState = { active: true, failed: false };
      return this.exclusive(readOnly ? 'read' : 'tx', readOnly, () =>
        runInTx(this.mutex, state, async () => {
          try {
            return await fn(this.schema.makeTx(this.exec, state));
          } finally {
            state.active = false;
          }
        }).then((result) => {
          if (state.failed) throw errors.internal('storage: a statement failed inside the transaction; rolled back');
          return result;
        }),
      );
    });
  }

  /**
   * BEGIN ... COMMIT around body (the caller holds the mutex). A read runs
   * with query_only set, so a "read" that writes fails as it would on a
   * PostgreSQL READ ONLY transaction.
   */
  private async exclusive<T>(what: string, readOnly: boolean, body: () => Promise<T>): Promise<T> {
    try {
      this.db.exec(readOnly ? 'BEGIN DEFERRED' : 'BEGIN IMMEDIATE');
      if (readOnly) this.db.pragma('query_only = ON');
    } catch (err) {
      throw storageError(`${what}: begin`, err);
    }
    try {
      const result = await body();
      try {
        this.db.exec('COMMIT');
      } catch (err) {
        throw storageError(`${what}: commit`, err);
      }
      return result;
    } catch (err) {
      // A failed COMMIT can leave the transaction open (SQLITE_BUSY); roll back either way.
      if (this.db.inTransaction) {
        try {
          this.db.exec('ROLLBACK');
        } catch {
          // The original error matters more than the rollback's.
        }
      }
      throw err;
    } finally {
      if (readOnly) this.db.pragma('query_only = OFF');
    }
  }

  private readonly exec: SqlExec = {
    all: (sql, params) => Promise.resolve(this.prepare(sql).all(...bind(params)) as SqlRecord[]),
    run: (sql, params) => Promise.resolve(this.prepare(sql).run(...bind(params)).changes),
  };

  private prepare(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  private assertOpen(): void {
    if (this.closed) throw errors.internal(`storage: the ${this.schema.name} is closed`);
  }
}

/**
 * One mutex per database file in this process. busy_timeout waits are
 * synchronous: if two stores of one process opened the same file, the
 * second's BEGIN IMMEDIATE would block the event loop while the first's
 * transaction (awaiting inside fn) could never finish. Sharing the mutex
 * queues them instead. Other processes are handled by SQLite's file lock.
 */
const fileMutexes = new Map<string, Mutex>();
function mutexFor(path: string): Mutex {
  if (path === ':memory:' || path === '') return new Mutex();
  let key: string;
  try {
    key = realpathSync(path);
  } catch {
    return new Mutex();
  }
  let m = fileMutexes.get(key);
  if (!m) {
    m = new Mutex();
    fileMutexes.set(key, m);
  }
  return m;
}

/** better-sqlite3 takes no booleans: store them as 0/1. */
function bind(params: readonly SqlParam[]): unknown[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
}
