/**
 * The Gateway's client for the Core (docs/design.md sections 4, 5 and 7): one
 * long-lived HTTP/2 mTLS session shared by lease calls and the event stream,
 * a deadline per call, jittered exponential retries for answers that may
 * change on their own (no reply, 503), and a circuit breaker so a Core that
 * is down costs a fast local failure instead of a timeout per request.
 *
 * It pins the Core twice: the SPIFFE ID of its certificate, and its lease
 * signing key (`leaseTrust`). Lease replies come back checked for shape
 * only; the binder verifies them (src/gateway/scope-entry.ts) before it
 * opens anything, whoever delivered them.
 */
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  retry,
  wrap,
  type CircuitBreakerPolicy,
  type IPolicy,
} from 'cockatiel';
import { pino, type Logger } from 'pino';
import { errors, KryptonError, type ErrorCode } from '../errors.js';
import { createMtlsClient, TransportError, type MtlsClient } from '../http/client.js';
import { MSGPACK_TYPE } from '../http/codec.js';
import type { SINCE_NOW } from '../protocol/core-events.js';
import { checkLeaseReply, type LeaseReply, type LeaseRequest, type LeaseTrust } from '../protocol/lease.js';
import {
  followEvents,
  type CoreEvent,
  type EventFollower,
  type FollowerOptions,
  type FollowState,
} from './event-follower.js';

export type { CoreEvent, EventFollower, FollowState } from './event-follower.js';

export interface CoreClientOptions {
  /** e.g. https://127.0.0.1:7443 */
  url: string;
  key: string | Buffer;
  cert: string | Buffer;
  ca: string | Buffer;
  servername?: string;
  /** The SPIFFE ID the Core's certificate must carry (e.g. spiffe://krypton.dev/core). */
  serverSpiffeId: string;
  /** The Core's raw 32-byte Ed25519 public key (`core-sign.pub`): only leases it signed are bound. */
  corePublicKey: Uint8Array;
  /** How far a lease's issue time may be from this clock (default 120 s). */
  maxLeaseSkewMs?: number;
  /** Deadline of one attempt (default 5 s). */
  timeoutMs?: number;
  retry?: { maxAttempts?: number; initialDelayMs?: number; maxDelayMs?: number };
  breaker?: { consecutiveFailures?: number; halfOpenAfterMs?: number };
  follow?: FollowerOptions;
  logger?: Logger;
}

/** Default skew allowed between a lease's issue time and the Gateway's clock. */
export const DEFAULT_LEASE_SKEW_MS = 120_000;

export type CircuitStateName = 'closed' | 'open' | 'half-open';

export interface CoreClientStats {
  /** Logical lease calls made by callers. */
  leaseCalls: number;
  /** Lease requests actually sent to the Core (retries included). */
  leaseRequests: number;
  leaseFailures: number;
  circuit: CircuitStateName;
}

/**
 * Codes that are the Core's verdict on the request itself: asking again
 * cannot change them, so they are neither retried nor counted against the
 * Core's health.
 */
const FINAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'FORBIDDEN',
  'UNKNOWN_SERVICE',
  'BAD_REQUEST',
  'KEY_REVOKED',
  'NOT_FOUND',
]);

/** No reply at all, or a 503 (sealed, overloaded, KSI down): worth another try later. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TransportError) return true;
  return err instanceof KryptonError && err.status === 503;
}

/** What the Gateway's callers see: the Core's final verdicts as they are; anything else fails closed. */
function toCallerError(err: unknown): KryptonError {
  if (err instanceof KryptonError && FINAL_CODES.has(err.code)) return err;
  // What was wrong with a reply is for the log (the caller logs it), never for the app.
  if (err instanceof KryptonError && err.code === 'INVALID_LEASE')
    return new KryptonError('KEY_UNAVAILABLE', 'no usable lease from the Core', { cause: err });
  if (err instanceof BrokenCircuitError)
    return new KryptonError('KEY_UNAVAILABLE', 'the Core is unreachable (circuit open)', { cause: err });
  const why = err instanceof Error ? err.message : String(err);
  return new KryptonError('KEY_UNAVAILABLE', `the Core did not serve the lease: ${why}`, { cause: err });
}

export class CoreClient {
  private readonly http: MtlsClient;
  private readonly breaker: CircuitBreakerPolicy;
  private readonly policy: IPolicy;
  private readonly halfOpenAfterMs: number;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private openedAt = 0;
  private readonly counters = { leaseCalls: 0, leaseRequests: 0, leaseFailures: 0 };
  /** What a lease must carry to be bound: the pinned Core signing key and the allowed clock skew. */
  readonly leaseTrust: LeaseTrust;

  constructor(private readonly opts: CoreClientOptions) {
    this.log = opts.logger ?? pino({ level: 'silent' });
    if (typeof opts.serverSpiffeId !== 'string' || !opts.serverSpiffeId.startsWith('spiffe://')) {
      throw errors.badRequest('the Core client needs the SPIFFE ID the Core must present (serverSpiffeId)');
    }
    if (!(opts.corePublicKey instanceof Uint8Array) || opts.corePublicKey.length !== 32) {
      throw errors.badRequest("the Core client needs the Core's 32-byte Ed25519 lease signing key (corePublicKey)");
    }
    const skew = opts.maxLeaseSkewMs ?? DEFAULT_LEASE_SKEW_MS;
    if (!Number.isInteger(skew) || skew < 0) throw errors.badRequest('maxLeaseSkewMs must be a non-negative integer');
    this.leaseTrust = Object.freeze({ corePublicKey: Buffer.from(opts.corePublicKey), maxSkewMs: skew });
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.http = createMtlsClient({
      url: opts.url,
      key: opts.key,
      cert: opts.cert,
      ca: opts.ca,
      timeoutMs: this.timeoutMs,
      logger: this.log,
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
      serverSpiffeId: opts.serverSpiffeId,
    });
    const transient = handleWhen(isTransient);
    this.halfOpenAfterMs = opts.breaker?.halfOpenAfterMs ?? 5_000;
    this.breaker = circuitBreaker(transient, {
      halfOpenAfter: this.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(opts.breaker?.consecutiveFailures ?? 5),
    });
    this.breaker.onBreak(() => {
      this.openedAt = Date.now();
      this.log.warn({ event: 'core.circuit.open' }, 'circuit to the Core opened');
    });
    this.breaker.onReset(() => this.log.info({ event: 'core.circuit.closed' }, 'circuit to the Core closed'));
    // Retry outside the breaker: each attempt is judged by the breaker, and
    // an open circuit (BrokenCircuitError, not transient) ends the call at once.
    const retries = retry(transient, {
      maxAttempts: Math.max(0, (opts.retry?.maxAttempts ?? 3) - 1),
      backoff: new ExponentialBackoff({
        initialDelay: opts.retry?.initialDelayMs ?? 100,
        maxDelay: opts.retry?.maxDelayMs ?? 2_000,
      }),
    });
    this.policy = wrap(retries, this.breaker);
  }

  /**
   * Sends a lease request (src/protocol/lease.ts; its nonce fresh per
   * request, kept across retries of it) and returns the reply, its shape
   * checked. Not verified here: the binder verifies it against the request
   * and `leaseTrust` before it opens anything. Rejects with a KryptonError;
   * a malformed reply is logged and is KEY_UNAVAILABLE to the caller.
   */
  async lease(req: LeaseRequest): Promise<LeaseReply> {
    this.counters.leaseCalls++;
    try {
      return await this.policy.execute(async () => {
        this.counters.leaseRequests++;
        const r = await this.http.request('POST', '/v1/leases', req, {
          contentType: MSGPACK_TYPE,
          timeoutMs: this.timeoutMs,
        });
        return checkLeaseReply(r.body, req);
      });
    } catch (err) {
      this.counters.leaseFailures++;
      if (err instanceof KryptonError && err.code === 'INVALID_LEASE') {
        this.log.error(
          { event: 'lease.invalid', tenant: req.tenant, service: req.service, err: err.message },
          'a lease reply from the Core was refused',
        );
      }
      throw toCallerError(err);
    }
  }

  /** Whether the Core answers and is unsealed (its /readyz), through the same breaker. */
  async ping(): Promise<boolean> {
    try {
      await this.breaker.execute(() =>
        this.http.request('GET', '/readyz', undefined, { contentType: MSGPACK_TYPE, timeoutMs: this.timeoutMs }),
      );
      return true;
    } catch {
      return false;
    }
  }

  /** Follows the Core's events from `since` (or from now) until closed; reconnects and resumes on its own. */
  followEvents(
    since: number | typeof SINCE_NOW,
    onEvent: (e: CoreEvent) => void,
    onState: (s: FollowState, err?: Error) => void,
  ): EventFollower {
    return followEvents(this.http, since, onEvent, onState, { ...this.opts.follow, logger: this.log });
  }

  /**
   * The breaker's state for metrics. cockatiel moves from open to half-open
   * only when the next call arrives; an open circuit whose delay has passed
   * lets that next call through as the probe, so it is reported as half-open.
   */
  circuitState(): CircuitStateName {
    switch (this.breaker.state) {
      case CircuitState.Closed:
        return 'closed';
      case CircuitState.HalfOpen:
        return 'half-open';
      default:
        return Date.now() - this.openedAt >= this.halfOpenAfterMs ? 'half-open' : 'open';
    }
  }

  stats(): CoreClientStats {
    return { ...this.counters, circuit: this.circuitState() };
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
