/**
 * What every SQL store of Krypton shares (the KSI, the Registry's and the
 * CMK Server's stores): the tiny executor each engine provides, the
 * lifecycle of one transaction, the base class that guards every operation
 * of a transaction, and the column converters.
 */
import { errors } from '../errors.js';
import { storageError } from './storage-error.js';

export type SqlParam = string | number | boolean | Buffer | null;
export type SqlRecord = Record<string, unknown>;

export interface SqlExec {
  /** Rows of a query. */
  all(sql: string, params: readonly SqlParam[]): Promise<SqlRecord[]>;
  /** Runs a statement; resolves to the number of rows it changed. */
  run(sql: string, params: readonly SqlParam[]): Promise<number>;
}

/**
 * Lifecycle of one transaction attempt. A failed statement poisons it: in
 * PostgreSQL the server aborts the transaction anyway, and SQLite (which
 * would let it continue) must behave the same, so the transaction can only
 * roll back. A tx object used after its transaction ended is refused, or it
 * would write outside any transaction.
 */
export interface TxState {
  active: boolean;
  failed: boolean;
}

export const num = (v: unknown): number => {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' || typeof v === 'string') return Number(v);
  throw errors.internal('storage: expected a number column');
};
export const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
export const str = (v: unknown): string => {
  if (typeof v === 'string') return v;
  throw errors.internal('storage: expected a text column');
};
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : str(v));
export const buf = (v: unknown): Buffer => {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw errors.internal('storage: expected a blob column');
};
export const bufOrNull = (v: unknown): Buffer | null => (v === null || v === undefined ? null : buf(v));
export const bool = (v: unknown): boolean => v === true || v === 1 || v === 1n;

/** A limit argument as a non-negative integer. */
export function limitOf(limit: number): number {
  if (!Number.isFinite(limit) || limit < 0) throw errors.badRequest('limit must be a non-negative number');
  return Math.floor(limit);
}

/** One transaction's operations: each is refused once the transaction ended or a statement failed. */
export class SqlTxBase {
  constructor(
    protected readonly db: SqlExec,
    protected readonly state: TxState,
  ) {}

  /** Runs one operation of the transaction, translating and recording failure. */
  protected async op<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (!this.state.active) throw errors.internal(`storage: ${name} called after its transaction ended`);
    if (this.state.failed)
      throw errors.internal(`storage: ${name} called after a failed statement; the transaction will roll back`);
    try {
      return await fn();
    } catch (err) {
      this.state.failed = true;
      throw storageError(name, err);
    }
  }

  protected async one<T>(sql: string, params: readonly SqlParam[], map: (r: SqlRecord) => T): Promise<T | null> {
    const rows = await this.db.all(sql, params);
    const first = rows[0];
    return first === undefined ? null : map(first);
  }

  /** An UPDATE that must hit exactly one row: replacing a row that does not exist is a bug upstream. */
  protected async replaceOne(what: string, sql: string, params: readonly SqlParam[]): Promise<void> {
    const changed = await this.db.run(sql, params);
    if (changed !== 1) throw errors.internal(`storage: no ${what} to replace`);
  }
}
