import { SQLITE_DIALECT } from '../../src/storage/dialect.js';
import { orbitalStatements } from '../../src/storage/orbital/schema.js';
import { SqlOrbitalTx } from '../../src/storage/orbital/sql-orbital-tx.js';
import { SqliteStore } from '../../src/storage/sqlite.js';
import type { StoreSchema } from '../../src/storage/store.js';

/** A Registry-like store for the outbox tests: one table of tenants beside the Orbital tables. */
export class TenantTx extends SqlOrbitalTx {
  insertTenant(tenant: string): Promise<void> {
    return this.op('insertTenant', async () => {
      await this.db.run('INSERT INTO tenants (tenant) VALUES (?)', [tenant]);
    });
  }
  listTenants(): Promise<string[]> {
    return this.op('listTenants', async () =>
      (await this.db.all('SELECT tenant FROM tenants ORDER BY tenant', [])).map((r) => String(r.tenant)),
    );
  }
}

export const TENANT_SCHEMA: StoreSchema<TenantTx> = {
  name: 'test store',
  statements: (d) => [
    `CREATE TABLE IF NOT EXISTS tenants (tenant TEXT PRIMARY KEY)${d === SQLITE_DIALECT ? ' STRICT' : ''}`,
    ...orbitalStatements(d),
  ],
  makeTx: (exec, state) => new TenantTx(exec, state),
};

export async function openTenantStore(path: string): Promise<SqliteStore<TenantTx>> {
  const store = new SqliteStore(path, TENANT_SCHEMA);
  await store.init();
  return store;
}
