import { PostgresStore, type PostgresStoreOptions } from '../postgres.js';
import type { KsiTx } from './ksi.js';
import { KSI_SCHEMA } from './store-schema.js';

/** The KSI on PostgreSQL (this module loads `pg`; openKsi loads it only for a postgres:// URL). */
export class PostgresKsi extends PostgresStore<KsiTx> {
  constructor(options: PostgresStoreOptions) {
    super(options, KSI_SCHEMA);
  }
}
