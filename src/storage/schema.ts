/**
 * The KSI schema, one logical design for both engines. The invariants that
 * a crash must never break live here, in the schema, not in application
 * code: a process killed between two statements of a rotation cannot leave
 * two ACTIVE versions, because the database refuses to commit them.
 *
 * - master: singleton (id = 1).
 * - ivk_versions: partial UNIQUE index => at most one ACTIVE version.
 * - l3_versions: partial UNIQUE index => at most one ACTIVE version per (tenant, service).
 * - states: CHECK constraints on every state column.
 * - references (l2 -> tenant, ivk; scope -> tenant; l3 -> scope, l2) are
 *   DEFERRABLE INITIALLY DEFERRED: checked at COMMIT, so a transaction may
 *   write rows in any order.
 * - events.epoch and audit.seq are assigned by the store (max + 1 inside the
 *   transaction): gap-free and in commit order, since two transactions that
 *   append conflict and are serialized.
 * - audit: append-only, enforced by triggers (engine-specific, below).
 */
import type { KsiTx } from './ksi.js';
import { orbitalStatements } from './orbital-sql.js';
import { SqlKsiTx } from './sql-tx.js';
import { UNKEYED_LINKER, type AuditLinker } from './audit-hash.js';
import type { StoreSchema } from './store.js';

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

const IVK_STATES = `'ACTIVE', 'GRACE', 'DEPRECATED', 'REVOKED'`;
const L3_STATES = `'ACTIVE', 'DECRYPT_ONLY', 'REVOKED'`;
const TENANT_STATES = `'ACTIVE', 'OFFBOARDED', 'REVOKED'`;
const OUTCOMES = `'ok', 'denied', 'error'`;
const DEFERRED = 'DEFERRABLE INITIALLY DEFERRED';

/** Tables and indexes, in creation order; every statement is idempotent. */
export function schemaStatements(d: Dialect): string[] {
  return [...masterTables(d), ...tenantTables(d), ...logTables(d)];
}

/** The master key's check value and the IVK versions (at most one ACTIVE). */
function masterTables(d: Dialect): string[] {
  const { int, bigint, text, blob } = d;
  return [
    `CREATE TABLE IF NOT EXISTS master (
      id ${int} PRIMARY KEY CHECK (id = 1),
      kcv ${blob} NOT NULL,
      threshold ${int} NOT NULL CHECK (threshold >= 1),
      shares ${int} NOT NULL,
      created_at ${bigint} NOT NULL,
      CHECK (shares >= threshold)
    )${d.tableSuffix}`,
    `CREATE TABLE IF NOT EXISTS ivk_versions (
      version ${int} PRIMARY KEY CHECK (version >= 1),
      state ${text} NOT NULL CHECK (state IN (${IVK_STATES})),
      created_at ${bigint} NOT NULL,
      grace_until ${bigint},
      hard_expiry ${bigint} NOT NULL,
      wrapped ${blob} NOT NULL,
      mac ${blob} NOT NULL,
      wrap_count ${bigint} NOT NULL CHECK (wrap_count >= 0)
    )${d.tableSuffix}`,
    `CREATE UNIQUE INDEX IF NOT EXISTS ivk_versions_one_active ON ivk_versions (state) WHERE state = 'ACTIVE'`,
  ];
}

/** Tenants and their keys: L2 versions, scopes and L3 versions (at most one ACTIVE per scope). */
function tenantTables(d: Dialect): string[] {
  const { int, bigint, text, blob } = d;
  return [
    `CREATE TABLE IF NOT EXISTS tenants (
      tenant ${text} PRIMARY KEY,
      state ${text} NOT NULL CHECK (state IN (${TENANT_STATES})),
      l1_provider ${text},
      l1_ref ${text},
      created_at ${bigint} NOT NULL,
      updated_at ${bigint} NOT NULL
    )${d.tableSuffix}`,
    `CREATE TABLE IF NOT EXISTS l2_keys (
      tenant ${text} NOT NULL REFERENCES tenants (tenant) ${DEFERRED},
      version ${int} NOT NULL CHECK (version >= 1),
      ivk_version ${int} NOT NULL REFERENCES ivk_versions (version) ${DEFERRED},
      wrapped_active ${blob} NOT NULL,
      wrapped_sovereign ${blob},
      created_at ${bigint} NOT NULL,
      PRIMARY KEY (tenant, version)
    )${d.tableSuffix}`,
    `CREATE TABLE IF NOT EXISTS scopes (
      tenant ${text} NOT NULL REFERENCES tenants (tenant) ${DEFERRED},
      service ${text} NOT NULL,
      rotate_after_seconds ${bigint} CHECK (rotate_after_seconds IS NULL OR rotate_after_seconds > 0),
      created_at ${bigint} NOT NULL,
      ${d.bool('deleted')},
      PRIMARY KEY (tenant, service)
    )${d.tableSuffix}`,
    `CREATE TABLE IF NOT EXISTS l3_versions (
      tenant ${text} NOT NULL,
      service ${text} NOT NULL,
      version ${int} NOT NULL CHECK (version >= 1),
      state ${text} NOT NULL CHECK (state IN (${L3_STATES})),
      l2_version ${int} NOT NULL,
      wrapped ${blob} NOT NULL,
      created_at ${bigint} NOT NULL,
      updated_at ${bigint} NOT NULL,
      PRIMARY KEY (tenant, service, version),
      FOREIGN KEY (tenant, service) REFERENCES scopes (tenant, service) ${DEFERRED},
      FOREIGN KEY (tenant, l2_version) REFERENCES l2_keys (tenant, version) ${DEFERRED}
    )${d.tableSuffix}`,
    `CREATE UNIQUE INDEX IF NOT EXISTS l3_versions_one_active ON l3_versions (tenant, service) WHERE state = 'ACTIVE'`,
  ];
}

/** The event log the Gateways follow and the hash-chained audit log. */
function logTables(d: Dialect): string[] {
  const { int, bigint, text } = d;
  return [
    `CREATE TABLE IF NOT EXISTS events (
      epoch ${bigint} PRIMARY KEY CHECK (epoch >= 1),
      type ${text} NOT NULL,
      tenant ${text},
      service ${text},
      version ${int},
      payload ${text} NOT NULL,
      created_at ${bigint} NOT NULL
    )${d.tableSuffix}`,
    `CREATE TABLE IF NOT EXISTS audit (
      seq ${bigint} PRIMARY KEY CHECK (seq >= 1),
      ts ${bigint} NOT NULL,
      actor ${text} NOT NULL,
      action ${text} NOT NULL,
      target ${text} NOT NULL,
      outcome ${text} NOT NULL CHECK (outcome IN (${OUTCOMES})),
      details ${text},
      prev_hash ${text} NOT NULL,
      hash ${text} NOT NULL UNIQUE
    )${d.tableSuffix}`,
  ];
}

/** SQLite: audit rows can be neither changed nor removed. */
export const SQLITE_AUDIT_TRIGGERS = [
  `CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
   BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END`,
  `CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
   BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END`,
];

/**
 * PostgreSQL: one trigger function refuses UPDATE, DELETE (row triggers) and
 * TRUNCATE (statement trigger). Created only if missing, so init is idempotent
 * on PostgreSQL versions without CREATE OR REPLACE TRIGGER.
 */
export const POSTGRES_AUDIT_TRIGGERS = [
  `CREATE OR REPLACE FUNCTION krypton_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN RAISE EXCEPTION 'audit rows are append-only' USING ERRCODE = 'insufficient_privilege'; END $$`,
  `DO $$ BEGIN
     IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_no_update_delete' AND tgrelid = 'audit'::regclass) THEN
       CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit
         FOR EACH ROW EXECUTE FUNCTION krypton_audit_append_only();
     END IF;
     IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_no_truncate' AND tgrelid = 'audit'::regclass) THEN
       CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
         FOR EACH STATEMENT EXECUTE FUNCTION krypton_audit_append_only();
     END IF;
   END $$`,
];

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
