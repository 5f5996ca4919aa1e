/**
 * Follows the Core's event stream (GET /v1/events?since=EPOCH) for as long
 * as the Gateway runs. Revocations must land within a second, so a dropped
 * stream is reopened at once-ish (jittered exponential backoff, forever) and
 * resumes from the last epoch it saw; the Core replays what was missed.
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import { pino, type Logger } from 'pino';
import type { MtlsClient, StreamHandle } from '../http/client.js';
import { MSGPACK_TYPE } from '../http/codec.js';
import { CORE_EVENT_TYPES, SINCE_NOW, type CoreEvent } from '../protocol/core-events.js';

export type { CoreEvent, CoreEventType } from '../protocol/core-events.js';

export type FollowState = 'connected' | 'disconnected';

export interface FollowerOptions {
  /** First reconnect delay (default 100 ms), growing to maxDelayMs (default 5 s), jittered. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /**
   * A stream with no frame for this long is taken as dead (default 40 s):
   * the Core sends a heartbeat after 15 s of quiet, so a silent stream is a
   * half-open connection that would otherwise hide revocations forever.
   */
  idleTimeoutMs?: number;
  logger?: Logger;
}

export interface EventFollower {
  /**
   * The epoch of the last event applied (or announced by the Core as caught up to); -1 before a `since=now` stream
   * caught up.
   */
  lastEpoch(): number;
  /** The epoch this follower was started from; Infinity until a `since=now` stream said where that is. */
  since(): number;
  /** True once the Core said caught-up on the current stream, until it drops. */
  connected(): boolean;
  /**
   * Reopens the stream from `epoch` (default: the last epoch), replaying
   * every event after it; events are idempotent, so replaying is safe.
   */
  replayFrom(epoch?: number): void;
  close(): void;
}

/**
 * Follows from `since`, or from the Core's current epoch (`'now'`: a
 * Gateway starting with no lease connects at once, so it is ready before
 * any request). An event whose handler throws is not passed: the stream is
 * reopened from the last event applied, after a backoff, and the event is
 * delivered again (handlers are idempotent), so a revocation that failed
 * to apply is retried rather than lost.
 */
export function followEvents(
  http: MtlsClient,
  since: number | typeof SINCE_NOW,
  onEvent: (e: CoreEvent) => void,
  onState: (s: FollowState, err?: Error) => void,
  opts: FollowerOptions = {},
): EventFollower {
  const follower = new Follower(http, since, onEvent, onState, opts);
  follower.connect();
  return {
    lastEpoch: () => follower.last,
    since: () => follower.startedFrom,
    connected: () => follower.live,
    replayFrom: (epoch?: number) => follower.replayFrom(epoch),
    close: () => follower.close(),
  };
}

/** One follower's state: the stream open now, its generation, the epochs seen and the timers. */
class Follower {
  private readonly log: Logger;
  private readonly idleMs: number;
  private readonly backoffs: ExponentialBackoff<unknown>;
  private backoff: IBackoff<unknown>;
  // -1: a `since=now` stream that has not said yet where now is.
  last: number;
  startedFrom: number;
  live = false;
  private closed = false;
  // Each stream gets a generation; callbacks of a stream we replaced are ignored.
  private generation = 0;
  private handle: StreamHandle | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly http: MtlsClient,
    since: number | typeof SINCE_NOW,
    private readonly onEvent: (e: CoreEvent) => void,
    private readonly onState: (s: FollowState, err?: Error) => void,
    opts: FollowerOptions,
  ) {
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.idleMs = opts.idleTimeoutMs ?? 40_000;
    this.backoffs = new ExponentialBackoff({
      initialDelay: opts.initialDelayMs ?? 100,
      maxDelay: opts.maxDelayMs ?? 5_000,
    });
    this.backoff = this.backoffs.next();
    this.last = since === SINCE_NOW ? -1 : since;
    this.startedFrom = since === SINCE_NOW ? Infinity : since;
  }

  private setLive(v: boolean, err?: Error): void {
    if (this.live === v) return;
    this.live = v;
    this.onState(v ? 'connected' : 'disconnected', err);
  }

  // One timer, pushed back by every frame; it only matters while a stream is open.
  private armIdle(): void {
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => {
      if (this.closed || this.handle === null) return;
      this.log.warn({ event: 'core.events.idle' }, 'event stream silent too long; reconnecting');
      this.restart(new Error(`no frame from the Core in ${this.idleMs} ms`));
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private onFrame(gen: number, f: unknown): void {
    if (gen !== this.generation || this.closed) return;
    this.armIdle();
    const frame = f as { type?: unknown; epoch?: unknown };
    if (typeof frame?.epoch !== 'number') return;
    if (frame.type === 'caught-up' || frame.type === 'heartbeat') {
      if (frame.epoch > this.last) this.last = frame.epoch;
      this.startedFrom = Math.min(this.startedFrom, this.last);
      if (frame.type === 'caught-up') {
        this.backoff = this.backoffs.next();
        this.setLive(true);
      }
      return;
    }
    if (typeof frame.type !== 'string' || !CORE_EVENT_TYPES.has(frame.type)) return;
    // The Core never sends an epoch twice on one stream; after a replay it may.
    if (frame.epoch <= this.last) return;
    try {
      this.onEvent(frame as CoreEvent);
    } catch (err) {
      // Not applied: stay before it, and have the Core send it again.
      this.log.error(
        { err, epoch: frame.epoch, type: frame.type },
        'event handler failed; the event will be delivered again',
      );
      this.restart(err as Error, true);
      return;
    }
    this.last = frame.epoch;
  }

  connect(): void {
    this.retryTimer = null;
    if (this.closed) return;
    const gen = ++this.generation;
    if (this.last >= 0) this.startedFrom = Math.min(this.startedFrom, this.last);
    this.armIdle();
    const path = `/v1/events?since=${this.last >= 0 ? this.last : SINCE_NOW}`;
    this.handle = this.http.stream(path, (f) => this.onFrame(gen, f), {
      contentType: MSGPACK_TYPE,
      onClose: (err) => {
        if (gen !== this.generation || this.closed) return;
        this.handle = null;
        this.setLive(false, err);
        this.schedule(err);
      },
    });
  }

  private schedule(err?: Error): void {
    const delay = this.backoff.duration;
    this.backoff = this.backoff.next(undefined);
    this.log.debug({ event: 'core.events.reconnect', delay, err: err?.message }, 'event stream closed');
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.retryTimer.unref();
  }

  /** Drops the current stream and opens a new one from `last`: at once, or after a backoff. */
  private restart(err?: Error, later = false): void {
    if (this.closed) return;
    this.generation++;
    const h = this.handle;
    this.handle = null;
    h?.close();
    this.setLive(false, err);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (later) this.schedule(err);
    else this.connect();
  }

  replayFrom(epoch?: number): void {
    // Before a `since=now` stream said where now is, any epoch is earlier.
    if (epoch !== undefined && (epoch < this.last || this.last < 0)) {
      this.last = epoch;
      this.startedFrom = Math.min(this.startedFrom, epoch);
    }
    this.restart();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.handle?.close();
    this.handle = null;
    this.setLive(false);
  }
}
