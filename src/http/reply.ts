/**
 * Error replies. A KryptonError goes out as its status and {code, message};
 * anything else is INTERNAL with a fixed message, its details only in the log.
 */
import type { Logger } from 'pino';
import { KryptonError } from '../errors.js';

export interface ErrorReply {
  status: number;
  body: { code: string; message: string };
}

const GENERIC_INTERNAL = 'internal error';

export function errorReply(err: unknown, log: Logger, where: Record<string, unknown> = {}): ErrorReply {
  if (err instanceof KryptonError && err.code !== 'INTERNAL') {
    return { status: err.status, body: { code: err.code, message: err.message } };
  }
  // INTERNAL messages may carry details too, so they never reach the client.
  log.error({ ...where, err }, 'request failed');
  return { status: 500, body: { code: 'INTERNAL', message: GENERIC_INTERNAL } };
}
