import pg from 'pg';
import { errors } from '../errors.js';
import { Mutex } from './mutex.js';
import { POSTGRES_DIALECT } from './dialect.js';
import type { SqlExec, SqlParam, SqlRecord, TxState } from './sql-base.js';
import type { Store, StoreSchema } from './store.js';
import { driverCode, storageError } from './storage-error.js';
import { assertNotNested, runInTx } from './tx-guard.js';

export interface PostgresStoreOptions {
  connectionString: string;
  /** Schema to create and use (search_path of every connection); default: the server's. */
  schema?: string;
  /** Pool size; transactions are serialized in-process, so few are needed. */
  poolMax?: number;
  connectionTimeoutMs?: number;
  /** Server-side limit per statement. */
  statementTimeoutMs?: number;
  /** Server-side limit on a transaction left idle (a stuck caller must not hold locks forever). */
  idleInTxTimeoutMs?: number;
  /** Attempts of a transaction that hits a serialization failure or deadlock. */
  maxAttempts?: number;
}

/** SQLSTATEs after which the whole transaction is safely re-run. */
const RETRYABLE = new Set(['40001', '40P01']);
const INT8_OID = 20;
/** Serializes concurrent init() of several processes on one database. */
const INIT_LOCK_KEY = 0x6b73_6900;

/** BIGINT columns hold ms times, epochs and counters: return them as numbers, never silently rounded. */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw errors.internal('storage: a BIGINT column exceeds 2^53');
  return n;
}

const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : (pg.types.getTypeParser(oid, format ?? 'text') as (
          value: string,
        ) => unknown)) as pg.CustomTypesConfig['getTypeParser'],
};

/** '?' placeholders (the SQL shared with SQLite) to PostgreSQL's $1, $2, ... */
const converted = new Map<string, string>();
function toPg(sql: string): string {
  let out = converted.get(sql);
  if (out === undefined) {
    let i = 0;
    out = sql.replace(/\?/g, () => `$${++i}`);
    converted.set(sql, out);
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The KSI on PostgreSQL, for deployments that already run one (replication,
 * backups, several Cores on one store).
 *
 * Why SERIALIZABLE: key-state changes are read-modify-write ("read the
 * ACTIVE version, demote it, insert the next"; "read the last audit hash,
 * chain onto it"; "max epoch + 1"). Under READ COMMITTED two Cores could
 * both read the same state and both write, forking the audit chain or
 * reusing an epoch. SERIALIZABLE makes the outcome equal to some serial
 * order; the price is that a transaction may be aborted (40001, or 40P01 on
 * deadlock), so the whole function is re-run with jittered backoff. fn must
 * therefore have no side effects outside the transaction it is given.
 *
 * In-process, transactions are also queued on a mutex, like SQLite's, so
 * both engines behave the same and retries only arise between processes.
 */
export class PostgresStore<Tx> implements Store<Tx> {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly mutex = new Mutex();
  private readonly schema: string | undefined;
  private readonly maxAttempts: number;
  private closed = false;
  /** Transactions re-run after a serialization failure or deadlock (for metrics). */
  retries = 0;

  constructor(
    options: PostgresStoreOptions,
    private readonly definition: StoreSchema<Tx>,
  ) {
    if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) {
      throw errors.badRequest('the PostgreSQL schema name must match [a-z_][a-z0-9_]*');
    }
    this.schema = options.schema;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 10);
    const statementTimeout = options.statementTimeoutMs ?? 10_000;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolMax ?? 4,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
      statement_timeout: statementTimeout,
      // Client-side backstop for a server that stops answering.
      query_timeout: statementTimeout + 5_000,
      idle_in_transaction_session_timeout: options.idleInTxTimeoutMs ?? 60_000,
      idleTimeoutMillis: 30_000,
      application_name: `krypton-${definition.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
      types: TYPES,
      ...(this.schema !== undefined ? { options: `-c search_path=${this.schema}` } : {}),
    });
    // An idle client losing its connection emits 'error' on the pool; without
    // a listener that would crash the process. The next query reports it.
    this.pool.on('error', () => undefined);
  }

  async init(): Promise<void> {
    await this.mutex.run(async () => {
      this.assertOpen();
      await this.withClient('init', async (client) => {
        try {
          await client.query('BEGIN');
          await client.query('SELECT pg_advisory_xact_lock($1)', [INIT_LOCK_KEY]);
          if (this.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
          for (const sql of this.definition.statements(POSTGRES_DIALECT, 'postgres')) await client.query(sql);
          await client.query('COMMIT');
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
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  /** Waits for queued transactions, then closes every connection. */
  async close(): Promise<void> {
    await this.mutex.run(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.pool.end();
    });
  }

  private run<T>(fn: (tx: Tx) => Promise<T>, readOnly: boolean): Promise<T> {
    assertNotNested(this.mutex);
    return this.mutex.run(async () => {
      for (let attempt = 1; ; attempt++) {
        this.assertOpen();
        try {
          return await this.attempt(fn, readOnly);
        } catch (err) {
          const code = driverCode(err);
          if (code === undefined || !RETRYABLE.has(code) || attempt >= this.maxAttempts) throw err;
          this.retries++;
          // Jittered exponential backoff (~5, 10, 20 ... capped at 160 ms), so
          // competing Cores fall out of step even on a loaded machine.
          await sleep(5 * 2 ** Math.min(attempt - 1, 5) * (0.5 + Math.random()));
        }
      }
    });
  }

  /** One attempt: BEGIN, fn, COMMIT on one client; ROLLBACK on any failure. */
  private attempt<T>(fn: (tx: Tx) => Promise<T>, readOnly: boolean): Promise<T> {
    return this.withClient(readOnly ? 'read' : 'tx', async (client) => {
      const state: TxState = { active: true, failed: false };
      let statementError: unknown;
      const exec: SqlExec = {
        all: async (sql, params) => {
          try {
            return (await client.query<SqlRecord>({ text: toPg(sql), values: params as SqlParam[] })).rows;
          } catch (err) {
            statementError = err;
            throw err;
          }
        },
        run: async (sql, params) => {
          try {
            return (await client.query({ text: toPg(sql), values: params as SqlParam[] })).rowCount ?? 0;
          } catch (err) {
            statementError = err;
            throw err;
          }
        },
      };
      await control(
        client,
        'begin',
        readOnly ? 'BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY' : 'BEGIN ISOLATION LEVEL SERIALIZABLE',
      );
      let result: T;
      try {
        result = await runInTx(this.mutex, state, () => fn(this.definition.makeTx(exec, state)));
      } finally {
        state.active = false;
      }
      if (state.failed) {
        // fn swallowed a statement error; the server has aborted the
        // transaction. Surface that error (a serialization failure retries).
        throw storageError(
          'tx',
          statementError ?? errors.internal('storage: a statement failed inside the transaction'),
        );
      }
      // COMMIT is where SERIALIZABLE may report a conflict (40001): retried by run().
      await control(client, 'commit', 'COMMIT');
      return result;
    });
  }

  /**
   * Runs body on a pooled client; on failure rolls back and, if even that
   * fails, discards the client instead of returning a broken one to the pool.
   * Errors pass through unchanged: driver errors were already made INTERNAL
   * where they arose, and the caller's own errors are theirs.
   */
  private async withClient<T>(what: string, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storageError(`${what}: connect`, err);
    }
    let discard: Error | undefined;
    try {
      return await body(client);
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        discard = rollbackErr instanceof Error ? rollbackErr : new Error('rollback failed');
      }
      throw err;
    } finally {
      client.release(discard);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw errors.internal(`storage: the ${this.definition.name} is closed`);
  }
}

/** A transaction-control statement; its failure becomes INTERNAL (with the SQLSTATE kept in the cause). */
async function control(client: pg.PoolClient, what: string, sql: string): Promise<void> {
  try {
    await client.query(sql);
  } catch (err) {
    throw storageError(what, err);
  }
}
