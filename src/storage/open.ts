import { errors } from '../errors.js';
import type { Ksi } from './ksi.js';
import { SqliteKsi } from './sqlite.js';

/**
 * Opens (and initializes) the KSI a URL names:
 * - `sqlite:<path>`, `sqlite::memory:` or a bare file path: SQLite;
 * - `postgres://...` or `postgresql://...`: PostgreSQL. A `schema` query
 *   parameter selects (and creates) the schema to use; the rest of the URL
 *   goes to `pg` unchanged.
 */
export async function openKsi(url: string): Promise<Ksi> {
  const ksi = await ksiFor(url);
  try {
    await ksi.init();
  } catch (err) {
    await ksi.close().catch(() => undefined);
    throw err;
  }
  return ksi;
}

async function ksiFor(url: string): Promise<Ksi> {
  if (typeof url !== 'string' || url.trim() === '') throw errors.badRequest('KSI URL is empty');
  if (/^postgres(ql)?:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw errors.badRequest('KSI URL is not a valid postgres:// URL');
    }
    const schema = parsed.searchParams.get('schema') ?? undefined;
    parsed.searchParams.delete('schema');
    // Loaded only when asked for: `pg` reserves ~10 GB of address space
    // (WebAssembly) at import, which an embedded SQLite Core never needs.
    const { PostgresKsi } = await import('./postgres.js');
    return new PostgresKsi({ connectionString: parsed.toString(), ...(schema !== undefined ? { schema } : {}) });
  }
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw errors.badRequest('KSI URL sqlite: names no file');
    return new SqliteKsi(path);
  }
  // Anything else with a scheme is a mistake, not a file name.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw errors.badRequest('KSI URL must be sqlite:<path>, a file path, or postgres://...');
  }
  return new SqliteKsi(url);
}
