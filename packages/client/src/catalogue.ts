/**
 * The one error catalogue of Krypton: every error any component returns has
 * a code from this table, an HTTP status, and a documentation line. It lives
 * in the client package because it is part of the wire contract; the server
 * re-exports it from src/errors.ts, and the README's error table is checked
 * against it by test/errors.test.ts.
 */
export const ERROR_CATALOGUE = {
  BAD_REQUEST: { status: 400, doc: 'The request is malformed: wrong types, missing or out-of-range fields.' },
  UNAUTHENTICATED: { status: 401, doc: 'No valid bearer token or client certificate was presented.' },
  FORBIDDEN: { status: 403, doc: 'The caller is authenticated but not allowed this tenant, service or route.' },
  INVALID_BLOB: {
    status: 400,
    doc: "The blob is not one this caller can open: malformed, tampered, another tenant's, or the wrong context.",
  },
  KEY_REVOKED: {
    status: 410,
    doc: "The L3 version that sealed this blob has been revoked, or the tenant's keys were (its L1 unlinked, or it was offboarded).",
  },
  KEY_UNAVAILABLE: {
    status: 503,
    doc: 'No usable key right now (no lease, or the lease expired): the request fails closed.',
  },
  NOT_FOUND: { status: 404, doc: 'No such route, or the method is not allowed on it.' },
  UNKNOWN_SERVICE: { status: 404, doc: 'The service is not defined for this tenant.' },
  OVERLOADED: { status: 503, doc: 'Too many requests in flight; retry with backoff.' },
  FRAME_TOO_LARGE: { status: 413, doc: 'The frame or body exceeds the size limit (64 KiB by default).' },
  INTERNAL: { status: 500, doc: 'An internal failure; details are in the server log, never in the reply.' },
  SEALED: { status: 503, doc: 'The Core is sealed: only unseal and status are served until it is unsealed.' },
  ARENA_EXHAUSTED: { status: 503, doc: 'The locked key arena is full; raise KRYPTON_ARENA_BYTES.' },
  INVALID_LEASE: { status: 502, doc: 'A lease from the Core did not open or did not match the scope asked for.' },
} as const satisfies Record<string, { status: number; doc: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code);
}

export class KryptonError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERROR_CATALOGUE[code].doc, options);
    this.name = 'KryptonError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
  }
}
