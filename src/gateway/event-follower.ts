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
  /** The epoch of the last event applied (or announced by the Core as caught up to); -1 before a `since=now` stream caught up. */
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
  const log = opts.logger ?? pino({ level: 'silent' });
  const idleMs = opts.idleTimeoutMs ?? 40_000;
  const backoffs = new ExponentialBackoff({ initialDelay: opts.initialDelayMs ?? 100, maxDelay: opts.maxDelayMs ?? 5_000 });
  let backoff: IBackoff<unknown> = backoffs.next();
  // -1: a `since=now` stream that has not said yet where now is.
  let last = since === SINCE_NOW ? -1 : since;
  let startedFrom = since === SINCE_NOW ? Infinity : since;
  let live = false;
  let closed = false;
  // Each stream gets a generation; callbacks of a stream we replaced are ignored.
  let generation = 0;
  let handle: StreamHandle | null = null;
  let idleTimer: NodeJS.Timeout | null = null;
  let retryTimer: NodeJS.Timeout | null = null;

  const setLive = (v: boolean, err?: Error): void => {
    if (live === v) return;
    live = v;
    onState(v ? 'connected' : 'disconnected', err);
  };

  // One timer, pushed back by every frame; it only matters while a stream is open.
  const armIdle = (): void => {
    if (idleTimer) {
      idleTimer.refresh();
      return;
    }
    idleTimer = setTimeout(() => {
      if (closed || handle === null) return;
      log.warn({ event: 'core.events.idle' }, 'event stream silent too long; reconnecting');
      restart(new Error(`no frame from the Core in ${idleMs} ms`));
    }, idleMs);
    idleTimer.unref();
  };

  const onFrame = (gen: number, f: unknown): void => {
    if (gen !== generation || closed) return;
    armIdle();
    const frame = f as { type?: unknown; epoch?: unknown };
    if (typeof frame?.epoch !== 'number') return;
    if (frame.type === 'caught-up' || frame.type === 'heartbeat') {
      if (frame.epoch > last) last = frame.epoch;
      startedFrom = Math.min(startedFrom, last);
      if (frame.type === 'caught-up') {
        backoff = backoffs.next();
        setLive(true);
      }
      return;
    }
    if (typeof frame.type !== 'string' || !CORE_EVENT_TYPES.has(frame.type)) return;
    // The Core never sends an epoch twice on one stream; after a replay it may.
    if (frame.epoch <= last) return;
    try {
      onEvent(frame as CoreEvent);
    } catch (err) {
      // Not applied: stay before it, and have the Core send it again.
      log.error({ err, epoch: frame.epoch, type: frame.type }, 'event handler failed; the event will be delivered again');
      restart(err as Error, true);
      return;
    }
    last = frame.epoch;
  };

  const connect = (): void => {
    retryTimer = null;
    if (closed) return;
    const gen = ++generation;
    if (last >= 0) startedFrom = Math.min(startedFrom, last);
    armIdle();
    handle = http.stream(`/v1/events?since=${last >= 0 ? last : SINCE_NOW}`, (f) => onFrame(gen, f), {
      contentType: MSGPACK_TYPE,
      onClose: (err) => {
        if (gen !== generation || closed) return;
        handle = null;
        setLive(false, err);
        schedule(err);
      },
    });
  };

  const schedule = (err?: Error): void => {
    const delay = backoff.duration;
    backoff = backoff.next(undefined);
    log.debug({ event: 'core.events.reconnect', delay, err: err?.message }, 'event stream closed');
    retryTimer = setTimeout(connect, delay);
    retryTimer.unref();
  };



  /** Drops the current stream and opens a new one from `last`: at once, or after a backoff. */
  const restart = (err?: Error, later = false): void => {
    if (closed) return;
    generation++;
    const h = handle;
    handle = null;
    h?.close();
    setLive(false, err);
    if (retryTimer) clearTimeout(retryTimer);
    if (later) schedule(err);
    else connect();
  };

  connect();

  return {
    lastEpoch: () => last,
    since: () => startedFrom,
    connected: () => live,
    replayFrom: (epoch?: number) => {
      // Before a `since=now` stream said where now is, any epoch is earlier.
      if (epoch !== undefined && (epoch < last || last < 0)) {
        last = epoch;
        startedFrom = Math.min(startedFrom, epoch);
      }
      restart();
    },
    close: () => {
      if (closed) return;
      closed = true;
      generation++;
      if (retryTimer) clearTimeout(retryTimer);
      if (idleTimer) clearTimeout(idleTimer);
      handle?.close();
      handle = null;
      setLive(false);
    },
  };
}
