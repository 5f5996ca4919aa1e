import { KryptonError, type ErrorCode } from '../errors.js';

/** Native status numbers (native/status.h) to catalogue codes. */
const STATUS_CODES: readonly (ErrorCode | null)[] = [
  null,
  'INVALID_BLOB',
  'KEY_REVOKED',
  'KEY_UNAVAILABLE',
  'BAD_REQUEST',
  'INTERNAL',
  'ARENA_EXHAUSTED',
  'INVALID_LEASE',
];

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
