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
import type { CoreEvent } from '../core/event-log.js';

/** Events are the Core's own type: one definition for both ends of the stream. */
export type { CoreEvent, CoreEventType } from '../core/event-log.js';

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
  /** The epoch of the last event applied (or announced by the Core as caught up to). */
  lastEpoch(): number;
  /** The epoch this follower was started from. */
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

const EVENT_TYPES: ReadonlySet<string> = new Set(['rotation', 'revocation', 'tenant.revoked', 'tenant.restored', 'scope.deleted', 'serving.paused', 'serving.resumed']);

export function followEvents(
  http: MtlsClient,
  since: number,
  onEvent: (e: CoreEvent) => void,
  onState: (s: FollowState, err?: Error) => void,
  opts: FollowerOptions = {},
): EventFollower {
  const log = opts.logger ?? pino({ level: 'silent' });
  const idleMs = opts.idleTimeoutMs ?? 40_000;
  const backoffs = new ExponentialBackoff({ initialDelay: opts.initialDelayMs ?? 100, maxDelay: opts.maxDelayMs ?? 5_000 });
  let backoff: IBackoff<unknown> = backoffs.next();
  let last = since;
  let startedFrom = since;
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
      if (frame.type === 'caught-up') {
        backoff = backoffs.next();
        setLive(true);
      }
      return;
    }
    if (typeof frame.type !== 'string' || !EVENT_TYPES.has(frame.type)) return;
    // The Core never sends an epoch twice on one stream; after a replay it may.
    if (frame.epoch <= last) return;
    try {
      onEvent(frame as CoreEvent);
    } catch (err) {
      log.error({ err, epoch: frame.epoch }, 'event handler failed');
    }
    last = frame.epoch;
  };

  const connect = (): void => {
    retryTimer = null;
    if (closed) return;
    const gen = ++generation;
    startedFrom = Math.min(startedFrom, last);
    armIdle();
    handle = http.stream(`/v1/events?since=${last}`, (f) => onFrame(gen, f), {
      contentType: MSGPACK_TYPE,
      onClose: (err) => {
        if (gen !== generation || closed) return;
        handle = null;
        setLive(false, err);
        const delay = backoff.duration;
        backoff = backoff.next(undefined);
        log.debug({ event: 'core.events.reconnect', delay, err: err?.message }, 'event stream closed');
        retryTimer = setTimeout(connect, delay);
        retryTimer.unref();
      },
    });
  };

  const restart = (err?: Error): void => {
    if (closed) return;
    generation++;
    const h = handle;
    handle = null;
    h?.close();
    setLive(false, err);
    if (retryTimer) clearTimeout(retryTimer);
    connect();
  };

  connect();

  return {
    lastEpoch: () => last,
    since: () => startedFrom,
    connected: () => live,
    replayFrom: (epoch?: number) => {
      if (epoch !== undefined && epoch < last) {
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
