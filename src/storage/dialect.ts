/**
 * What differs between the engines in a CREATE statement: column types,
 * booleans and table options. A store's schema writes its statements once,
 * over a Dialect, and each engine passes its own.
 */
export interface Dialect {
  /** 32-bit-safe integers (versions, counts of shares). */
  int: string;
  /** Integers that may exceed 2^31: Unix ms times, epochs, counters. */
  bigint: string;
  text: string;
  blob: string;
  /** Column definition of a NOT NULL boolean named `name`. */
  bool(name: string): string;
  /** Table options after the closing parenthesis. */
  tableSuffix: string;
}

export const SQLITE_DIALECT: Dialect = {
  int: 'INTEGER',
  bigint: 'INTEGER',
  text: 'TEXT',
  blob: 'BLOB',
  bool: (name) => `${name} INTEGER NOT NULL CHECK (${name} IN (0, 1))`,
  // STRICT: SQLite otherwise stores any type in any column; a string where a
  // wrapped key belongs would then be kept silently.
  tableSuffix: ' STRICT',
};

export const POSTGRES_DIALECT: Dialect = {
  int: 'INTEGER',
  bigint: 'BIGINT',
  text: 'TEXT',
  blob: 'BYTEA',
  bool: (name) => `${name} BOOLEAN NOT NULL`,
  tableSuffix: '',
};
