import { SqliteStore, type SqliteStoreOptions } from '../sqlite.js';
import type { KsiTx } from './ksi.js';
import { KSI_SCHEMA } from './store-schema.js';

/** The KSI on SQLite. */
export class SqliteKsi extends SqliteStore<KsiTx> {
  constructor(path: string, options: SqliteStoreOptions = {}) {
    super(path, KSI_SCHEMA, options);
  }
}
