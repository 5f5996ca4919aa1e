/**
 * The server's side of the one error catalogue: the table, the error class
 * and the code guard come from the client package (they are part of the wire
 * contract, see packages/client/src/catalogue.ts); the factories and the
 * addon's status mapping are the server's.
 */
import { isErrorCode, KryptonError } from '@krypton/client/errors';

export { ERROR_CATALOGUE, isErrorCode, KryptonError, type ErrorCode } from '@krypton/client/errors';

/** Error factories, so call sites read as what went wrong. */
export const errors = {
  badRequest: (message: string) => new KryptonError('BAD_REQUEST', message),
  invalidBlob: () => new KryptonError('INVALID_BLOB', 'invalid blob'),
  keyRevoked: () => new KryptonError('KEY_REVOKED', 'key version is revoked'),
  keyUnavailable: (message = 'no usable key') => new KryptonError('KEY_UNAVAILABLE', message),
  notFound: (message: string) => new KryptonError('NOT_FOUND', message),
  internal: (message = 'internal error', cause?: unknown) => new KryptonError('INTERNAL', message, { cause }),
};

/** Turns an error thrown by the addon (an Error with a code) into a KryptonError. */
export function fromNative(err: unknown): KryptonError {
  if (err instanceof KryptonError) return err;
  if (err instanceof TypeError) return new KryptonError('BAD_REQUEST', err.message);
  const code = (err as { code?: unknown } | null)?.code;
  if (isErrorCode(code)) return new KryptonError(code, (err as Error).message);
  return new KryptonError('INTERNAL', 'internal error', { cause: err });
}
