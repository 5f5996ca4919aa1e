/**
 * The KSI as a store definition (see ../store.ts): the KSI's tables and
 * audit triggers (schema.ts) with the Orbital tables beside them, since the
 * Core writes its outbox events in the transaction that changes its keys;
 * its transactions are SqlKsiTx.
 */
import { orbitalStatements } from '../orbital/schema.js';
import type { StoreSchema } from '../store.js';
import { UNKEYED_LINKER, type AuditLinker } from './audit-hash.js';
import type { KsiTx } from './ksi.js';
import { POSTGRES_AUDIT_TRIGGERS, SQLITE_AUDIT_TRIGGERS, schemaStatements } from './schema.js';
import { SqlKsiTx } from './sql-ksi-tx.js';

/** The KSI: its tables, the engine's audit triggers and the Orbital tables; audit rows linked by `linker`. */
export function ksiSchema(linker: AuditLinker): StoreSchema<KsiTx> {
  return {
    name: 'KSI',
    statements: (d, engine) => [
      ...schemaStatements(d),
      ...(engine === 'sqlite' ? SQLITE_AUDIT_TRIGGERS : POSTGRES_AUDIT_TRIGGERS),
      ...orbitalStatements(d),
    ],
    makeTx: (exec, state) => new SqlKsiTx(exec, state, linker),
  };
}

/** The KSI with unkeyed audit links: opened by tools and tests, never by a Core (Core.open links with its keys). */
export const KSI_SCHEMA: StoreSchema<KsiTx> = ksiSchema(UNKEYED_LINKER);
