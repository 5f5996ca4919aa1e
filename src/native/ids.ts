import { errors } from '../errors.js';

/** Longest tenant or service id, in bytes. */
export const MAX_ID_BYTES = 64;
/** Tenant and service ids: 1..MAX_ID_BYTES bytes of [A-Za-z0-9._~-] (docs/design.md section 3). */
export const ID_PATTERN = new RegExp(`^[A-Za-z0-9._~-]{1,${MAX_ID_BYTES}}$`);

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

/** The id, or BAD_REQUEST naming what it is (`tenant`, `service`, ...). */
export function requireId(v: unknown, what: string): string {
  if (!isValidId(v)) throw errors.badRequest(`${what} must match [A-Za-z0-9._~-]{1,${MAX_ID_BYTES}}`);
  return v;
}

const cache = new Map<string, Buffer>();
const CACHE_LIMIT = 4096;

/** The id as the bytes the addon takes; cached, since ids repeat on every request. */
export function idBytes(id: string, what = 'id'): Buffer {
  let b = cache.get(id);
  if (b !== undefined) return b;
  if (!isValidId(id)) throw errors.badRequest(`${what} must be 1-64 characters of [A-Za-z0-9._~-]`);
  b = Buffer.from(id, 'latin1');
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(id, b);
  return b;
}
