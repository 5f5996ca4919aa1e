/**
 * The Registry's store: intent only (tenants and the scopes they define,
 * with their rotation policy), never key material; plus the last manifest
 * each Core sent, and the Orbital tables. States are CHECKed in the schema
 * so a bug cannot store a state the rules do not know.
 */
import { auditHeadTable, ManifestTx, manifestTable } from '../mesh/actor-runtime.js';
import { orbitalStatements } from '../storage/orbital/schema.js';
import { num, numOrNull, str, type SqlRecord } from '../storage/sql-base.js';
import type { StoreSchema } from '../storage/store.js';

export type TenantState = 'ACTIVE' | 'OFFBOARDED';
export type ScopeState = 'DEFINED' | 'DELETED';

export interface TenantRow {
  tenant: string;
  state: TenantState;
  createdAt: number;
  updatedAt: number;
}

export interface ScopeRow {
  tenant: string;
  service: string;
  rotateAfterSeconds: number | null;
  state: ScopeState;
  createdAt: number;
  updatedAt: number;
}

const tenantOf = (r: SqlRecord): TenantRow => ({
  tenant: str(r.tenant),
  state: str(r.state) as TenantState,
  createdAt: num(r.created_at),
  updatedAt: num(r.updated_at),
});

const scopeOf = (r: SqlRecord): ScopeRow => ({
  tenant: str(r.tenant),
  service: str(r.service),
  rotateAfterSeconds: numOrNull(r.rotate_after_seconds),
  state: str(r.state) as ScopeState,
  createdAt: num(r.created_at),
  updatedAt: num(r.updated_at),
});

export class RegistryTx extends ManifestTx {
  getTenant(tenant: string): Promise<TenantRow | null> {
    return this.op('getTenant', () => this.one('SELECT * FROM tenants WHERE tenant = ?', [tenant], tenantOf));
  }

  putTenant(t: TenantRow): Promise<void> {
    return this.op('putTenant', async () => {
      await this.db.run(
        `INSERT INTO tenants (tenant, state, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
        [t.tenant, t.state, t.createdAt, t.updatedAt],
      );
    });
  }

  listTenants(): Promise<TenantRow[]> {
    return this.op('listTenants', async () =>
      (await this.db.all('SELECT * FROM tenants ORDER BY tenant', [])).map(tenantOf),
    );
  }

  getScope(tenant: string, service: string): Promise<ScopeRow | null> {
    return this.op('getScope', () =>
      this.one('SELECT * FROM scopes WHERE tenant = ? AND service = ?', [tenant, service], scopeOf),
    );
  }

  putScope(s: ScopeRow): Promise<void> {
    return this.op('putScope', async () => {
      await this.db.run(
        `INSERT INTO scopes (tenant, service, rotate_after_seconds, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant, service) DO UPDATE SET rotate_after_seconds = excluded.rotate_after_seconds, state = excluded.state, updated_at = excluded.updated_at`,
        [s.tenant, s.service, s.rotateAfterSeconds, s.state, s.createdAt, s.updatedAt],
      );
    });
  }

  /** Every scope, or a tenant's, ordered. */
  listScopes(tenant?: string): Promise<ScopeRow[]> {
    return this.op('listScopes', async () =>
      (tenant === undefined
        ? await this.db.all('SELECT * FROM scopes ORDER BY tenant, service', [])
        : await this.db.all('SELECT * FROM scopes WHERE tenant = ? ORDER BY service', [tenant])
      ).map(scopeOf),
    );
  }

  /** Scopes that should exist on every Core: DEFINED, of an ACTIVE tenant. */
  listLiveScopes(): Promise<ScopeRow[]> {
    return this.op('listLiveScopes', async () =>
      (
        await this.db.all(
          `SELECT s.* FROM scopes s JOIN tenants t ON t.tenant = s.tenant
           WHERE s.state = 'DEFINED' AND t.state = 'ACTIVE' ORDER BY s.tenant, s.service`,
          [],
        )
      ).map(scopeOf),
    );
  }

  /** Marks every DEFINED scope of a tenant DELETED; returns how many. */
  deleteScopesOf(tenant: string, at: number): Promise<number> {
    return this.op('deleteScopesOf', () =>
      this.db.run(`UPDATE scopes SET state = 'DELETED', updated_at = ? WHERE tenant = ? AND state = 'DEFINED'`, [
        at,
        tenant,
      ]),
    );
  }
}

export const REGISTRY_SCHEMA: StoreSchema<RegistryTx> = {
  name: 'registry store',
  statements: (d) => {
    const { bigint, text } = d;
    return [
      `CREATE TABLE IF NOT EXISTS tenants (
        tenant ${text} PRIMARY KEY,
        state ${text} NOT NULL CHECK (state IN ('ACTIVE', 'OFFBOARDED')),
        created_at ${bigint} NOT NULL,
        updated_at ${bigint} NOT NULL
      )${d.tableSuffix}`,
      `CREATE TABLE IF NOT EXISTS scopes (
        tenant ${text} NOT NULL REFERENCES tenants (tenant),
        service ${text} NOT NULL,
        rotate_after_seconds ${bigint} CHECK (rotate_after_seconds IS NULL OR rotate_after_seconds > 0),
        state ${text} NOT NULL CHECK (state IN ('DEFINED', 'DELETED')),
        created_at ${bigint} NOT NULL,
        updated_at ${bigint} NOT NULL,
        PRIMARY KEY (tenant, service)
      )${d.tableSuffix}`,
      manifestTable(bigint, text, d.tableSuffix),
      auditHeadTable(bigint, text, d.tableSuffix),
      ...orbitalStatements(d),
    ];
  },
  makeTx: (exec, state) => new RegistryTx(exec, state),
};
