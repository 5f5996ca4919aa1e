/**
 * One WebSocket to the Gateway that comes back by itself: when it drops, a
 * new one is dialled after a jittered backoff until close() is called. The
 * owner learns of each open, message and drop through callbacks; requests
 * and their fate are not this file's business.
 */
import WebSocket from 'ws';
import { KryptonError } from './catalogue.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { KryptonConnectionError } from './errors.js';

export interface ConnectionEvents {
  open(): void;
  message(data: Buffer): void;
  /** The open socket dropped (not called for failed dials, nor after close()). */
  drop(cause: Error | undefined): void;
  /** A dial was refused in a way retrying will not fix soon (401: the token is not accepted). */
  refused(err: KryptonError): void;
}

export interface ConnectionOptions {
  url: string;
  token: string;
  /** false: a dropped socket stays down. */
  reconnect: BackoffOptions | false;
  handshakeTimeoutMs: number;
}

export class Connection {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private lastError: Error | undefined;
  private waiters: { resolve(): void; reject(e: Error): void }[] = [];
  /** Sockets opened after the first one. */
  reconnects = 0;
  private everOpen = false;

  constructor(
    private readonly opts: ConnectionOptions,
    private readonly on: ConnectionEvents,
  ) {}

  /** Whether a socket that is down now may come back. */
  get willReconnect(): boolean {
    return !this.closed && this.opts.reconnect !== false;
  }

  get isOpen(): boolean {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Starts dialling; resolves on the first open, rejects on 401 or when timeoutMs passes without one. */
  start(timeoutMs: number): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new KryptonConnectionError('connect', `no connection to ${this.opts.url} within ${timeoutMs} ms`, {
              cause: this.lastError,
            }),
          ),
        timeoutMs,
      );
      this.waiters.push({
        resolve: () => (clearTimeout(t), resolve()),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
    });
    this.dial();
    return ready;
  }

  send(frame: Buffer): boolean {
    if (!this.isOpen) return false;
    this.ws!.send(frame, { binary: true });
    return true;
  }

  /** Stops reconnecting and closes the socket; resolves once it is closed. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    for (const w of this.waiters.splice(0)) w.reject(new KryptonConnectionError('closed', 'client closed'));
    if (ws === null || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.on('close', () => resolve());
      // A socket still dialling has nothing to say goodbye to.
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000, 'client closed');
      // Do not hang on a peer that never answers the close handshake.
      setTimeout(() => (ws.terminate(), resolve()), 1_000).unref();
    });
  }

  private dial(): void {
    if (this.closed) return;
    const ws = new WebSocket(this.opts.url, {
      headers: { Authorization: `Bearer ${this.opts.token}` },
      perMessageDeflate: false, // keys and blobs do not compress; deflate would only cost time
      handshakeTimeout: this.opts.handshakeTimeoutMs,
    });
    ws.binaryType = 'nodebuffer';
    this.ws = ws;
    let opened = false;
    ws.on('open', () => {
      if (this.ws !== ws) return;
      opened = true;
      this.attempt = 0;
      if (this.everOpen) this.reconnects++;
      this.everOpen = true;
      for (const w of this.waiters.splice(0)) w.resolve();
      this.on.open();
    });
    ws.on('message', (data, isBinary) => {
      // The client never sets binaryType, so binary data arrives as one Buffer.
      if (this.ws === ws && isBinary) this.on.message(data as Buffer);
    });
    ws.on('error', (err) => {
      this.lastError = err;
      // ws reports a refused upgrade only as this message; 401 will not heal by retrying fast.
      if (/Unexpected server response: 401/.test(err.message)) {
        const e = new KryptonError('UNAUTHENTICATED', 'the Gateway did not accept the token');
        for (const w of this.waiters.splice(0)) w.reject(e);
        this.on.refused(e);
      }
    });
    ws.on('close', () => {
      if (this.ws !== ws) return; // closed by close(), or a socket we already gave up on
      this.ws = null;
      if (opened) this.on.drop(this.lastError);
      else if (this.opts.reconnect === false) {
        const e = new KryptonConnectionError('connect', `cannot connect to ${this.opts.url}`, {
          cause: this.lastError,
        });
        for (const w of this.waiters.splice(0)) w.reject(e);
      }
      this.lastError = undefined;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.closed || this.opts.reconnect === false) return;
    const delay = backoffDelay(this.attempt++, this.opts.reconnect);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.dial();
    }, delay);
  }
}
