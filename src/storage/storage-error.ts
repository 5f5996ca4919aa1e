import { KryptonError, errors } from '../errors.js';

/**
 * Turns a driver error into a KryptonError INTERNAL whose message names the
 * operation and the driver's message (table, constraint: never values, so
 * never key bytes). The original error stays as `cause` for the server log;
 * PostgreSQL's `detail` (which can quote values) is not copied into the message.
 */
export function storageError(op: string, err: unknown): KryptonError {
  if (err instanceof KryptonError) return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? ` [${e.code}]` : '';
  const msg = typeof e?.message === 'string' ? `: ${e.message}` : '';
  return errors.internal(`storage: ${op} failed${code}${msg}`, err);
}

/** The driver code (SQLSTATE for pg, SQLITE_* for SQLite) of err or of its cause. */
export function driverCode(err: unknown): string | undefined {
  for (let e: unknown = err, i = 0; e && i < 4; e = (e as { cause?: unknown }).cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && !(e instanceof KryptonError)) return code;
  }
  return undefined;
}
