import { normalizeDetails, UNKEYED_LINKER, type AuditLinker } from './audit-hash.js';
import type {
  AuditEntry,
  AuditRow,
  EventRow,
  IvkRow,
  IvkState,
  KsiTx,
  L2Row,
  L3Row,
  L3State,
  MasterRow,
  ScopeRow,
  TenantRow,
  TenantState,
} from './ksi.js';
import {
  bool,
  buf,
  bufOrNull,
  limitOf,
  num,
  numOrNull,
  str,
  strOrNull,
  type SqlExec,
  type SqlRecord,
  type TxState,
} from '../sql-base.js';
import { SqlOrbitalTx } from '../orbital/sql-orbital-tx.js';

/**
 * The KsiTx contract written once, in SQL both engines accept ('?'
 * placeholders, ON CONFLICT upserts), over a tiny executor each engine
 * provides. Keeping one implementation is what keeps SQLite and PostgreSQL
 * behaviourally identical.
 */

const IVK_COLS = 'version, state, created_at, grace_until, hard_expiry, wrapped, mac, wrap_count';
const TENANT_COLS = 'tenant, state, l1_provider, l1_ref, created_at, updated_at';
const L2_COLS = 'tenant, version, ivk_version, wrapped_active, wrapped_sovereign, created_at';
const SCOPE_COLS = 'tenant, service, rotate_after_seconds, created_at, deleted';
const L3_COLS = 'tenant, service, version, state, l2_version, wrapped, created_at, updated_at';
const EVENT_COLS = 'epoch, type, tenant, service, version, payload, created_at';
const AUDIT_COLS = 'seq, ts, actor, action, target, outcome, details, prev_hash, hash';

const toIvk = (r: SqlRecord): IvkRow => ({
  version: num(r.version),
  state: str(r.state) as IvkState,
  createdAt: num(r.created_at),
  graceUntil: numOrNull(r.grace_until),
  hardExpiry: num(r.hard_expiry),
  wrapped: buf(r.wrapped),
  mac: buf(r.mac),
  wrapCount: num(r.wrap_count),
});
const toTenant = (r: SqlRecord): TenantRow => ({
  tenant: str(r.tenant),
  state: str(r.state) as TenantState,
  l1Provider: strOrNull(r.l1_provider),
  l1Ref: strOrNull(r.l1_ref),
  createdAt: num(r.created_at),
  updatedAt: num(r.updated_at),
});
const toL2 = (r: SqlRecord): L2Row => ({
  tenant: str(r.tenant),
  version: num(r.version),
  ivkVersion: num(r.ivk_version),
  wrappedActive: buf(r.wrapped_active),
  wrappedSovereign: bufOrNull(r.wrapped_sovereign),
  createdAt: num(r.created_at),
});
const toScope = (r: SqlRecord): ScopeRow => ({
  tenant: str(r.tenant),
  service: str(r.service),
  rotateAfterSeconds: numOrNull(r.rotate_after_seconds),
  createdAt: num(r.created_at),
  deleted: bool(r.deleted),
});
const toL3 = (r: SqlRecord): L3Row => ({
  tenant: str(r.tenant),
  service: str(r.service),
  version: num(r.version),
  state: str(r.state) as L3State,
  l2Version: num(r.l2_version),
  wrapped: buf(r.wrapped),
  createdAt: num(r.created_at),
  updatedAt: num(r.updated_at),
});
const toEvent = (r: SqlRecord): EventRow => ({
  epoch: num(r.epoch),
  type: str(r.type),
  tenant: strOrNull(r.tenant),
  service: strOrNull(r.service),
  version: numOrNull(r.version),
  payload: str(r.payload),
  createdAt: num(r.created_at),
});
function toAudit(r: SqlRecord): AuditRow {
  const details = strOrNull(r.details);
  const row: AuditRow = {
    seq: num(r.seq),
    ts: num(r.ts),
    actor: str(r.actor),
    action: str(r.action),
    target: str(r.target),
    outcome: str(r.outcome) as AuditRow['outcome'],
    prevHash: str(r.prev_hash),
    hash: str(r.hash),
  };
  if (details !== null) row.details = JSON.parse(details) as Record<string, unknown>;
  return row;
}

export class SqlKsiTx extends SqlOrbitalTx implements KsiTx {
  constructor(
    db: SqlExec,
    state: TxState,
    /** How appended audit rows are linked (a Core's keys; unkeyed for a KSI opened without one). */
    private readonly linker: AuditLinker = UNKEYED_LINKER,
  ) {
    super(db, state);
  }

  getMaster(): Promise<MasterRow | null> {
    return this.op('getMaster', () =>
      this.one('SELECT kcv, threshold, shares, created_at FROM master WHERE id = 1', [], (r) => ({
        kcv: buf(r.kcv),
        threshold: num(r.threshold),
        shares: num(r.shares),
        createdAt: num(r.created_at),
      })),
    );
  }

  putMaster(row: MasterRow): Promise<void> {
    return this.op('putMaster', async () => {
      await this.db.run(
        `INSERT INTO master (id, kcv, threshold, shares, created_at) VALUES (1, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET kcv = excluded.kcv, threshold = excluded.threshold,
           shares = excluded.shares, created_at = excluded.created_at`,
        [row.kcv, row.threshold, row.shares, row.createdAt],
      );
    });
  }

  listIvks(): Promise<IvkRow[]> {
    return this.op('listIvks', async () =>
      (await this.db.all(`SELECT ${IVK_COLS} FROM ivk_versions ORDER BY version`, [])).map(toIvk),
    );
  }

  getIvk(version: number): Promise<IvkRow | null> {
    return this.op('getIvk', () =>
      this.one(`SELECT ${IVK_COLS} FROM ivk_versions WHERE version = ?`, [version], toIvk),
    );
  }

  insertIvk(row: IvkRow): Promise<void> {
    return this.op('insertIvk', async () => {
      await this.db.run(`INSERT INTO ivk_versions (${IVK_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [
        row.version,
        row.state,
        row.createdAt,
        row.graceUntil ?? null,
        row.hardExpiry,
        row.wrapped,
        row.mac,
        row.wrapCount,
      ]);
    });
  }

  updateIvk(row: IvkRow): Promise<void> {
    return this.op('updateIvk', () =>
      this.replaceOne(
        `IVK version ${row.version}`,
        `UPDATE ivk_versions SET state = ?, created_at = ?, grace_until = ?, hard_expiry = ?, wrapped = ?,
           mac = ?, wrap_count = ? WHERE version = ?`,
        [
          row.state,
          row.createdAt,
          row.graceUntil ?? null,
          row.hardExpiry,
          row.wrapped,
          row.mac,
          row.wrapCount,
          row.version,
        ],
      ),
    );
  }

  getTenant(tenant: string): Promise<TenantRow | null> {
    return this.op('getTenant', () =>
      this.one(`SELECT ${TENANT_COLS} FROM tenants WHERE tenant = ?`, [tenant], toTenant),
    );
  }

  putTenant(row: TenantRow): Promise<void> {
    return this.op('putTenant', async () => {
      await this.db.run(
        `INSERT INTO tenants (${TENANT_COLS}) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant) DO UPDATE SET state = excluded.state, l1_provider = excluded.l1_provider,
           l1_ref = excluded.l1_ref, created_at = excluded.created_at, updated_at = excluded.updated_at`,
        [row.tenant, row.state, row.l1Provider ?? null, row.l1Ref ?? null, row.createdAt, row.updatedAt],
      );
    });
  }

  listTenants(): Promise<TenantRow[]> {
    return this.op('listTenants', async () =>
      (await this.db.all(`SELECT ${TENANT_COLS} FROM tenants ORDER BY tenant`, [])).map(toTenant),
    );
  }

  listL2(tenant: string): Promise<L2Row[]> {
    return this.op('listL2', async () =>
      (await this.db.all(`SELECT ${L2_COLS} FROM l2_keys WHERE tenant = ? ORDER BY version`, [tenant])).map(toL2),
    );
  }

  insertL2(row: L2Row): Promise<void> {
    return this.op('insertL2', async () => {
      await this.db.run(`INSERT INTO l2_keys (${L2_COLS}) VALUES (?, ?, ?, ?, ?, ?)`, [
        row.tenant,
        row.version,
        row.ivkVersion,
        row.wrappedActive,
        row.wrappedSovereign ?? null,
        row.createdAt,
      ]);
    });
  }

  updateL2(row: L2Row): Promise<void> {
    return this.op('updateL2', () =>
      this.replaceOne(
        `L2 version ${row.version} of this tenant`,
        `UPDATE l2_keys SET ivk_version = ?, wrapped_active = ?, wrapped_sovereign = ?, created_at = ?
         WHERE tenant = ? AND version = ?`,
        [row.ivkVersion, row.wrappedActive, row.wrappedSovereign ?? null, row.createdAt, row.tenant, row.version],
      ),
    );
  }

  getScope(tenant: string, service: string): Promise<ScopeRow | null> {
    return this.op('getScope', () =>
      this.one(`SELECT ${SCOPE_COLS} FROM scopes WHERE tenant = ? AND service = ?`, [tenant, service], toScope),
    );
  }

  putScope(row: ScopeRow): Promise<void> {
    return this.op('putScope', async () => {
      await this.db.run(
        `INSERT INTO scopes (${SCOPE_COLS}) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant, service) DO UPDATE SET rotate_after_seconds = excluded.rotate_after_seconds,
           created_at = excluded.created_at, deleted = excluded.deleted`,
        [row.tenant, row.service, row.rotateAfterSeconds ?? null, row.createdAt, row.deleted],
      );
    });
  }

  listScopes(tenant?: string): Promise<ScopeRow[]> {
    return this.op('listScopes', async () => {
      const rows =
        tenant === undefined
          ? await this.db.all(`SELECT ${SCOPE_COLS} FROM scopes ORDER BY tenant, service`, [])
          : await this.db.all(`SELECT ${SCOPE_COLS} FROM scopes WHERE tenant = ? ORDER BY service`, [tenant]);
      return rows.map(toScope);
    });
  }

  listL3(tenant: string, service: string): Promise<L3Row[]> {
    return this.op('listL3', async () =>
      (
        await this.db.all(`SELECT ${L3_COLS} FROM l3_versions WHERE tenant = ? AND service = ? ORDER BY version`, [
          tenant,
          service,
        ])
      ).map(toL3),
    );
  }

  insertL3(row: L3Row): Promise<void> {
    return this.op('insertL3', async () => {
      await this.db.run(`INSERT INTO l3_versions (${L3_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [
        row.tenant,
        row.service,
        row.version,
        row.state,
        row.l2Version,
        row.wrapped,
        row.createdAt,
        row.updatedAt,
      ]);
    });
  }

  updateL3(row: L3Row): Promise<void> {
    return this.op('updateL3', () =>
      this.replaceOne(
        `L3 version ${row.version} of this scope`,
        `UPDATE l3_versions SET state = ?, l2_version = ?, wrapped = ?, created_at = ?, updated_at = ?
         WHERE tenant = ? AND service = ? AND version = ?`,
        [row.state, row.l2Version, row.wrapped, row.createdAt, row.updatedAt, row.tenant, row.service, row.version],
      ),
    );
  }

  appendEvent(event: Omit<EventRow, 'epoch'>): Promise<number> {
    return this.op('appendEvent', async () => {
      const epoch = (await this.maxOf('epoch', 'events')) + 1;
      await this.db.run(`INSERT INTO events (${EVENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
        epoch,
        event.type,
        event.tenant ?? null,
        event.service ?? null,
        event.version ?? null,
        event.payload,
        event.createdAt,
      ]);
      return epoch;
    });
  }

  eventsSince(since: number, limit: number): Promise<EventRow[]> {
    return this.op('eventsSince', async () =>
      (
        await this.db.all(`SELECT ${EVENT_COLS} FROM events WHERE epoch > ? ORDER BY epoch LIMIT ?`, [
          since,
          limitOf(limit),
        ])
      ).map(toEvent),
    );
  }

  lastEpoch(): Promise<number> {
    return this.op('lastEpoch', () => this.maxOf('epoch', 'events'));
  }

  appendAudit(entry: AuditEntry, ts: number = Date.now()): Promise<AuditRow> {
    return this.op('appendAudit', async () => {
      // The last row is read inside this transaction, which is serializable
      // (SQLite: the write lock is held; PostgreSQL: a concurrent append
      // conflicts and one of the two retries), so no two rows share a seq or
      // a prevHash.
      const last = await this.one('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1', [], (r) => ({
        seq: num(r.seq),
        hash: str(r.hash),
      }));
      const details = normalizeDetails(entry.details);
      const base = {
        seq: (last?.seq ?? 0) + 1,
        ts,
        actor: entry.actor,
        action: entry.action,
        target: entry.target,
        outcome: entry.outcome,
      };
      const prevHash = last?.hash ?? '';
      const hash = this.linker.link(prevHash, { ...base, details: details ?? undefined });
      await this.db.run(`INSERT INTO audit (${AUDIT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, [
        base.seq,
        base.ts,
        base.actor,
        base.action,
        base.target,
        base.outcome,
        details === null ? null : JSON.stringify(details),
        prevHash,
        hash,
      ]);
      const row: AuditRow = { ...base, prevHash, hash };
      if (details !== null) row.details = details;
      return row;
    });
  }

  lastAudit(): Promise<{ seq: number; hash: string } | null> {
    return this.op('lastAudit', () =>
      this.one('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1', [], (r) => ({
        seq: num(r.seq),
        hash: str(r.hash),
      })),
    );
  }

  auditSince(since: number, limit: number): Promise<AuditRow[]> {
    return this.op('auditSince', async () =>
      (
        await this.db.all(`SELECT ${AUDIT_COLS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, [since, limitOf(limit)])
      ).map(toAudit),
    );
  }

  private async maxOf(column: 'epoch', table: 'events'): Promise<number> {
    const rows = await this.db.all(`SELECT COALESCE(MAX(${column}), 0) AS m FROM ${table}`, []);
    return num(rows[0]?.m ?? 0);
  }
}
