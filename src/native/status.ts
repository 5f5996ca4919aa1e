import { isErrorCode, KryptonError, type ErrorCode } from '../errors.js';
import { view } from './addon.js';

/**
 * Native status numbers (native/status.h) to catalogue codes, as the addon
 * itself names them (its STATUS_CODES export, from StatusCode()): one
 * mapping, in C++. Status 0 is OK; a name outside the catalogue is a build
 * out of step with this one, refused at load.
 */
const STATUS_CODES: readonly (ErrorCode | null)[] = view<{ STATUS_CODES: string[] }>().STATUS_CODES.map(
  (name, status) => {
    if (status === 0) return null;
    if (!isErrorCode(name))
      throw new Error(
        `krypton: the addon names native status ${status} "${name}", which is not in the error catalogue`,
      );
    return name;
  },
);

const MESSAGES: Partial<Record<ErrorCode, string>> = {
  INVALID_BLOB: 'invalid blob',
  KEY_REVOKED: 'key version is revoked',
  KEY_UNAVAILABLE: 'no usable key',
  BAD_REQUEST: 'invalid argument',
  ARENA_EXHAUSTED: 'the locked key arena is full: raise KRYPTON_ARENA_BYTES (see krypton_arena_used_bytes)',
  INVALID_LEASE: 'invalid lease',
};

export function statusCode(status: number): ErrorCode {
  return STATUS_CODES[status] ?? 'INTERNAL';
}

export function statusError(status: number): KryptonError {
  const code = statusCode(status);
  return new KryptonError(code, MESSAGES[code] ?? 'internal error');
}
