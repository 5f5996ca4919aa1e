/**
 * Client-side errors. A reply error keeps the Gateway's catalogue code; a
 * transport failure (socket dropped, no connection in time, client closed)
 * is a KryptonConnectionError. It extends KryptonError with KEY_UNAVAILABLE
 * so code that fails closed on "no usable key" also fails closed here, yet
 * can tell the two apart with `instanceof` and `reason`.
 */
import { isErrorCode, KryptonError } from './catalogue.js';

export type ConnectionFailure =
  /** The socket dropped while the request was in flight: it may or may not have run. */
  | 'disconnected'
  /** No reply (or no connection to send it on) within requestTimeoutMs. */
  | 'timeout'
  /** close() was called. */
  | 'closed'
  /** The first connection could not be made. */
  | 'connect';

export class KryptonConnectionError extends KryptonError {
  readonly reason: ConnectionFailure;

  constructor(reason: ConnectionFailure, message: string, options?: { cause?: unknown }) {
    super('KEY_UNAVAILABLE', message, options);
    this.name = 'KryptonConnectionError';
    this.reason = reason;
  }
}

/** The `{code, message}` of an error reply as a KryptonError; an unknown code is INTERNAL, not a guess. */
export function replyError(result: unknown): KryptonError {
  const r = (result ?? {}) as { code?: unknown; message?: unknown };
  const message = typeof r.message === 'string' ? r.message : undefined;
  if (isErrorCode(r.code)) return new KryptonError(r.code, message);
  return new KryptonError(
    'INTERNAL',
    `gateway replied with an unknown error code ${String(r.code)}${message ? `: ${message}` : ''}`,
  );
}
