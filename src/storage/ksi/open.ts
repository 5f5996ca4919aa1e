import { openStore } from '../open.js';
import type { AuditLinker } from './audit-hash.js';
import type { Ksi, KsiTx } from './ksi.js';
import { KSI_SCHEMA, ksiSchema } from './store-schema.js';

/**
 * Opens (and initializes) the KSI a URL names (see openStore). Audit rows
 * it appends are linked by `linker` (a Core passes its keys); unkeyed
 * without one.
 */
export function openKsi(url: string, linker?: AuditLinker): Promise<Ksi> {
  return openStore<KsiTx>(url, linker === undefined ? KSI_SCHEMA : ksiSchema(linker));
}
