import { errors } from '../errors.js';
import { SqliteStore } from './sqlite.js';
import type { Store, StoreSchema } from './store.js';

/**
 * Opens (and initializes) a store of this schema at the place a URL names:
 * - `sqlite:<path>`, `sqlite::memory:` or a bare file path: SQLite;
 * - `postgres://...` or `postgresql://...`: PostgreSQL. A `schema` query
 *   parameter selects (and creates) the schema to use; the rest of the URL
 *   goes to `pg` unchanged.
 */
export async function openStore<Tx>(url: string, schema: StoreSchema<Tx>): Promise<Store<Tx>> {
  const store = await storeFor(url, schema);
  try {
    await store.init();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

async function storeFor<Tx>(url: string, schema: StoreSchema<Tx>): Promise<Store<Tx>> {
  if (typeof url !== 'string' || url.trim() === '') throw errors.badRequest(`${schema.name} URL is empty`);
  if (/^postgres(ql)?:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw errors.badRequest(`${schema.name} URL is not a valid postgres:// URL`);
    }
    const pgSchema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    // Loaded only when asked for: `pg` reserves ~10 GB of address space
    // (WebAssembly) at import, which an embedded SQLite Core never needs.
    const { PostgresStore } = await import('./postgres.js');
    return new PostgresStore(
      { connectionString: parsed.toString(), ...(pgSchema !== undefined ? { schema: pgSchema } : {}) },
      schema,
    );
  }
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw errors.badRequest(`${schema.name} URL sqlite: names no file`);
    return new SqliteStore(path, schema);
  }
  // Anything else with a scheme is a mistake, not a file name.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw errors.badRequest(`${schema.name} URL must be sqlite:<path>, a file path, or postgres://...`);
  }
  return new SqliteStore(url, schema);
}
