/**
 * The CMK Server's store: the tenants it has heard of from the Registry,
 * the L1 reference of each tenant (a pointer to the customer's root of
 * trust, never key material), the last manifest of each Core, and the
 * Orbital tables.
 */
import { auditHeadTable, ManifestTx, manifestTable } from '../mesh/actor-runtime.js';
import { orbitalStatements } from '../storage/orbital/schema.js';
import { num, str, type SqlRecord } from '../storage/sql-base.js';
import type { StoreSchema } from '../storage/store.js';

export type L1Kind = 'soft' | 'pkcs11';
export type LinkState = 'LINKED' | 'UNLINKED';

export interface KnownTenant {
  tenant: string;
  state: 'ACTIVE' | 'OFFBOARDED';
  updatedAt: number;
}

export interface LinkRow {
  tenant: string;
  kind: L1Kind;
  ref: string;
  state: LinkState;
  updatedAt: number;
}

const linkOf = (r: SqlRecord): LinkRow => ({
  tenant: str(r.tenant),
  kind: str(r.kind) as L1Kind,
  ref: str(r.ref),
  state: str(r.state) as LinkState,
  updatedAt: num(r.updated_at),
});

const tenantOf = (r: SqlRecord): KnownTenant => ({
  tenant: str(r.tenant),
  state: str(r.state) as KnownTenant['state'],
  updatedAt: num(r.updated_at),
});

export class CmkTx extends ManifestTx {
  putTenant(t: KnownTenant): Promise<void> {
    return this.op('putTenant', async () => {
      await this.db.run(
        'INSERT INTO tenants (tenant, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (tenant) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at',
        [t.tenant, t.state, t.updatedAt],
      );
    });
  }

  listTenants(): Promise<KnownTenant[]> {
    return this.op('listTenants', async () =>
      (await this.db.all('SELECT * FROM tenants ORDER BY tenant', [])).map(tenantOf),
    );
  }

  getLink(tenant: string): Promise<LinkRow | null> {
    return this.op('getLink', () => this.one('SELECT * FROM links WHERE tenant = ?', [tenant], linkOf));
  }

  putLink(l: LinkRow): Promise<void> {
    return this.op('putLink', async () => {
      await this.db.run(
        `INSERT INTO links (tenant, kind, ref, state, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant) DO UPDATE SET kind = excluded.kind, ref = excluded.ref, state = excluded.state, updated_at = excluded.updated_at`,
        [l.tenant, l.kind, l.ref, l.state, l.updatedAt],
      );
    });
  }

  listLinks(state?: LinkState): Promise<LinkRow[]> {
    return this.op('listLinks', async () =>
      (state === undefined
        ? await this.db.all('SELECT * FROM links ORDER BY tenant', [])
        : await this.db.all('SELECT * FROM links WHERE state = ? ORDER BY tenant', [state])
      ).map(linkOf),
    );
  }
}

export const CMK_SCHEMA: StoreSchema<CmkTx> = {
  name: 'cmk store',
  statements: (d) => {
    const { bigint, text } = d;
    return [
      `CREATE TABLE IF NOT EXISTS tenants (
        tenant ${text} PRIMARY KEY,
        state ${text} NOT NULL CHECK (state IN ('ACTIVE', 'OFFBOARDED')),
        updated_at ${bigint} NOT NULL
      )${d.tableSuffix}`,
      // No reference to tenants: a link may come before the Registry's Tenant.Define.
      `CREATE TABLE IF NOT EXISTS links (
        tenant ${text} PRIMARY KEY,
        kind ${text} NOT NULL CHECK (kind IN ('soft', 'pkcs11')),
        ref ${text} NOT NULL CHECK (length(ref) BETWEEN 1 AND 2048),
        state ${text} NOT NULL CHECK (state IN ('LINKED', 'UNLINKED')),
        updated_at ${bigint} NOT NULL
      )${d.tableSuffix}`,
      manifestTable(bigint, text, d.tableSuffix),
      auditHeadTable(bigint, text, d.tableSuffix),
      ...orbitalStatements(d),
    ];
  },
  makeTx: (exec, state) => new CmkTx(exec, state),
};
