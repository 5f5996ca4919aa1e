/**
 * The mTLS server's sessions: each one's caller identity (read once, after
 * the handshake), its open streams and its idle timer (a session with no
 * open stream for the idle timeout is closed), and their end at shutdown.
 */
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { peerIdentity, type PeerIdentity } from './identity.js';

export interface SessionState {
  identity: PeerIdentity;
  active: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export class SessionTable {
  private readonly sessions = new Map<Http2Session, SessionState>();
  private closing = false;

  constructor(
    private readonly idleTimeoutMs: number,
    private readonly log: Logger,
  ) {}

  /** A new session: its error handler, its caller's identity, its idle timer (closed at once while closing). */
  add(session: Http2Session): void {
    session.on('error', (err) => this.log.debug({ err: err.message }, 'http2 session error'));
    const state: SessionState = {
      identity: peerIdentity(session.socket as TLSSocket),
      active: 0,
      idleTimer: undefined,
    };
    this.sessions.set(session, state);
    session.on('close', () => {
      clearTimeout(state.idleTimer);
      this.sessions.delete(session);
    });
    if (this.closing) session.close();
    else this.armIdle(session, state);
  }

  /** Counts a stream on its session until it closes; undefined when its session is not (or no longer) known. */
  track(stream: ServerHttp2Stream): SessionState | undefined {
    const session = stream.session;
    const state = session ? this.sessions.get(session) : undefined;
    if (!session || !state) return undefined;
    state.active++;
    clearTimeout(state.idleTimer);
    stream.once('close', () => {
      state.active--;
      if (state.active === 0 && !session.closed && !session.destroyed) this.armIdle(session, state);
    });
    return state;
  }

  private armIdle(session: Http2Session, state: SessionState): void {
    clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(() => {
      if (state.active === 0) session.close();
    }, this.idleTimeoutMs);
    state.idleTimer.unref();
  }

  /** Shutdown: from now on a new session is closed as soon as it opens. */
  markClosing(): void {
    this.closing = true;
  }

  /** Shutdown: closes every session, waits up to timeoutMs for them to go, then destroys what is left. */
  async closeAll(timeoutMs: number): Promise<void> {
    for (const session of this.sessions.keys()) if (!session.closed) session.close();
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const session of this.sessions.keys()) session.destroy();
  }
}
