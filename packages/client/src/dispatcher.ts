/**
 * Requests over one Connection: automatic batching (calls made in the same
 * tick, or within maxDelayMs, leave as one array frame, so the Gateway makes
 * one native call for them), pipelining (many frames in flight, replies
 * matched by id), per-request deadlines, and failing what was in flight when
 * the socket drops. Requests made while the socket is down wait in the queue
 * for the reconnect, bounded by their deadline.
 */
import { KryptonError } from './catalogue.js';
import type { Connection } from './connection.js';
import { KryptonConnectionError } from './errors.js';
import { replyError } from './errors.js';
import { arrayHeaderBytes, decodeReplyFrame, encodeRequest, joinFrame, type Params, type Reply } from './frame.js';

export interface DispatchOptions {
  /** Requests per frame at most. */
  maxRequests: number;
  /** How long a request may wait for others to share its frame; 0 = until the current tick ends. */
  maxDelayMs: number;
  /** The Gateway's frame limit (64 KiB by default); frames are cut below it. */
  maxFrameBytes: number;
  /** Requests sent and not yet answered, at most; more wait in the queue. */
  maxInflight: number;
  /**
   * Frames in flight at most: the Gateway refuses a connection's frames past 1024 pending ones with a frame-level
   * error.
   */
  maxInflightFrames: number;
  requestTimeoutMs: number;
}

export interface ClientStats {
  framesSent: number;
  requestsSent: number;
  framesReceived: number;
  /** Frame-level error replies (`[null, 1, ...]`) that could not be tied to one frame; their requests time out. */
  unattributedFrameErrors: number;
  reconnects: number;
  inflight: number;
  queued: number;
}

interface Frame {
  remaining: number;
  ids: number[];
}

interface Pending {
  id: number;
  encoded: Buffer;
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  done: boolean;
  frame: Frame | null;
}

export class Dispatcher {
  private nextId = 1;
  // A queue with a moving head: a burst of thousands must not pay an O(n) shift per frame.
  private queue: Pending[] = [];
  private head = 0;
  private queuedLive = 0;
  private readonly inflight = new Map<number, Pending>();
  private readonly frames = new Set<Frame>();
  private scheduled: NodeJS.Immediate | NodeJS.Timeout | null = null;
  private lastFrameError: KryptonError | undefined;
  private closed = false;
  private readonly counters = { framesSent: 0, requestsSent: 0, framesReceived: 0, unattributedFrameErrors: 0 };

  constructor(
    private readonly conn: Connection,
    private readonly opts: DispatchOptions,
  ) {}

  call(op: string, params: Params): Promise<unknown> {
    if (this.closed) return Promise.reject(new KryptonConnectionError('closed', 'client closed'));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1; // stays a msgpack uint32
    const encoded = encodeRequest(id, op, params);
    if (encoded.length + arrayHeaderBytes(1) > this.opts.maxFrameBytes) {
      return Promise.reject(
        new KryptonError(
          'FRAME_TOO_LARGE',
          `request of ${encoded.length} bytes exceeds the ${this.opts.maxFrameBytes}-byte frame limit`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const p: Pending = {
        id,
        encoded,
        resolve,
        reject,
        done: false,
        frame: null,
        timer: undefined as unknown as NodeJS.Timeout,
      };
      p.timer = setTimeout(() => this.expire(p), this.opts.requestTimeoutMs);
      this.queue.push(p);
      this.queuedLive++;
      // A full frame need not wait for the tick to end.
      if (this.queuedLive >= this.opts.maxRequests) this.flush();
      else this.schedule();
    });
  }

  stats(): ClientStats {
    return {
      ...this.counters,
      reconnects: this.conn.reconnects,
      inflight: this.inflight.size,
      queued: this.queuedLive,
    };
  }

  /** The socket (re)opened: send what waited. */
  onOpen(): void {
    this.flush();
  }

  /** The socket dropped: what was in flight may or may not have run; the caller decides whether to retry. */
  onDrop(cause: Error | undefined): void {
    const err = () =>
      new KryptonConnectionError('disconnected', 'the connection to the Gateway dropped with the request in flight', {
        cause,
      });
    for (const p of [...this.inflight.values()]) this.settle(p, err());
    this.frames.clear();
    if (!this.conn.willReconnect)
      this.failQueue(
        () => new KryptonConnectionError('disconnected', 'the connection to the Gateway is down and reconnect is off'),
      );
  }

  /** A dial was refused (401): waiting for a reconnect would only end in a timeout. */
  onRefused(err: KryptonError): void {
    this.failQueue(() => new KryptonError(err.code, err.message));
  }

  onMessage(data: Buffer): void {
    this.counters.framesReceived++;
    const d = decodeReplyFrame(data);
    if (d.kind === 'replies') {
      for (const r of d.replies) this.reply(r);
    } else if (d.kind === 'frame-error') {
      this.frameError(replyError(d.error));
    }
    if (this.queuedLive > 0) this.flush(); // capacity may have freed up
  }

  close(): void {
    this.closed = true;
    if (this.scheduled !== null) this.unschedule();
    const err = () => new KryptonConnectionError('closed', 'client closed');
    for (const p of [...this.inflight.values()]) this.settle(p, err());
    this.failQueue(err);
  }

  private reply(r: Reply): void {
    if (!Array.isArray(r)) return;
    const [id, status, result] = r;
    const p = typeof id === 'number' ? this.inflight.get(id) : undefined;
    if (p === undefined) return; // timed out already, or not ours
    if (status === 0) this.settle(p, null, result);
    else this.settle(p, replyError(result));
  }

  /**
   * `[null, 1, {code, message}]` names no frame. With one frame in flight
   * it can only be that one; otherwise it stays unattributed (the Gateway
   * answers frames out of order) and its requests end by timeout.
   */
  private frameError(err: KryptonError): void {
    if (this.frames.size === 1) {
      const [frame] = this.frames;
      for (const id of frame!.ids) {
        const p = this.inflight.get(id);
        if (p !== undefined) this.settle(p, new KryptonError(err.code, err.message));
      }
      return;
    }
    this.counters.unattributedFrameErrors++;
    this.lastFrameError = err;
  }

  private settle(p: Pending, err: Error | null, result?: unknown): void {
    if (p.done) return;
    p.done = true;
    clearTimeout(p.timer);
    if (p.frame !== null) {
      this.inflight.delete(p.id);
      if (--p.frame.remaining === 0) this.frames.delete(p.frame);
    } else {
      this.queuedLive--;
    }
    if (err === null) p.resolve(result);
    else p.reject(err);
  }

  private expire(p: Pending): void {
    const sent = p.frame !== null;
    const why = sent ? 'no reply' : this.conn.isOpen ? 'no room to send' : 'no connection';
    this.settle(
      p,
      new KryptonConnectionError('timeout', `${why} within ${this.opts.requestTimeoutMs} ms`, {
        cause: sent ? this.lastFrameError : undefined,
      }),
    );
  }

  private failQueue(err: () => Error): void {
    for (let i = this.head; i < this.queue.length; i++) this.settle(this.queue[i]!, err());
    this.queue = [];
    this.head = 0;
  }

  private schedule(): void {
    if (this.scheduled !== null) return;
    const run = () => {
      this.scheduled = null;
      this.flush();
    };
    this.scheduled = this.opts.maxDelayMs > 0 ? setTimeout(run, this.opts.maxDelayMs) : setImmediate(run);
  }

  private unschedule(): void {
    const s = this.scheduled;
    this.scheduled = null;
    if (s === null) return;
    if (this.opts.maxDelayMs > 0) clearTimeout(s as NodeJS.Timeout);
    else clearImmediate(s as NodeJS.Immediate);
  }

  /** Sends queued requests as frames, each within maxRequests and maxFrameBytes, while there is room in flight. */
  private flush(): void {
    if (!this.conn.isOpen) return;
    const { maxRequests, maxFrameBytes, maxInflight, maxInflightFrames } = this.opts;
    while (this.queuedLive > 0 && this.frames.size < maxInflightFrames && this.inflight.size < maxInflight) {
      const take: Pending[] = [];
      let bytes = arrayHeaderBytes(maxRequests); // the largest header this frame can need
      let i = this.head;
      for (
        ;
        i < this.queue.length && take.length < maxRequests && this.inflight.size + take.length < maxInflight;
        i++
      ) {
        const p = this.queue[i]!;
        if (p.done) continue; // timed out while queued
        if (bytes + p.encoded.length > maxFrameBytes) break;
        bytes += p.encoded.length;
        take.push(p);
      }
      this.head = i;
      if (take.length === 0) break;
      const frame: Frame = { remaining: take.length, ids: take.map((p) => p.id) };
      this.conn.send(joinFrame(take.map((p) => p.encoded)));
      this.frames.add(frame);
      this.queuedLive -= take.length;
      for (const p of take) {
        p.frame = frame;
        this.inflight.set(p.id, p);
      }
      this.counters.framesSent++;
      this.counters.requestsSent += take.length;
    }
    // Drop the consumed prefix now and then, not on every frame.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.queuedLive === 0) {
      this.queue = [];
      this.head = 0;
      if (this.scheduled !== null) this.unschedule();
    }
  }
}
