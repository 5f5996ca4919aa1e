/**
 * KryptonClient: the Node client of the Gateway's WebSocket API (docs/design.md
 * section 4). One socket, reconnected by itself; concurrent calls are
 * batched into frames and pipelined; error replies are KryptonErrors with
 * the catalogue's code, transport failures KryptonConnectionErrors.
 */
import { KryptonError } from './catalogue.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { Connection } from './connection.js';
import { Dispatcher, type ClientStats } from './dispatcher.js';
import { decryptEnvelope, encryptEnvelope, type EnvelopeOptions } from './envelope.js';
import type { Params } from './frame.js';

export interface ConnectOptions {
  /** `ws://host:port/v1/ws` (or wss://). */
  url: string;
  /** An app token (`krypton token create`); it fixes the tenant. */
  token: string;
  /** Backoff between reconnects (default 50 ms to 5 s, jittered); false: do not reconnect. */
  reconnect?: Partial<BackoffOptions> | false;
  batch?: {
    /** Requests per frame at most (default 256). */
    maxRequests?: number;
    /** Extra wait for more requests to share a frame (default 0: only the current tick). */
    maxDelayMs?: number;
    /** The Gateway's frame limit (default 64 KiB). */
    maxFrameBytes?: number;
  };
  /** Deadline of each call, waiting for a reconnect included (default 5000); also bounds connect(). */
  requestTimeoutMs?: number;
  /** Requests in flight on the socket at most (default 8192); more wait their turn. */
  maxInflight?: number;
}

export interface CallOptions {
  /** Caller context bound into the blob: the same bytes must be given to decrypt it. */
  context?: Uint8Array;
}

export interface DataKey {
  /** The 32-byte data key. Wipe it (`fill(0)`) once used. */
  plaintext: Buffer;
  /** The wrapped key to store beside the data. */
  blob: Buffer;
}

export interface KeyInfo {
  tenant: string;
  service: string;
  version: number;
  state: string;
}

/** The Gateway's bounds on one request (section 4): blobs or keys per call. */
const MAX_BATCH = 4096;

function buf(v: unknown, what: string): Buffer {
  if (!(v instanceof Uint8Array)) throw new KryptonError('INTERNAL', `malformed reply: ${what} is not bytes`);
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function field(result: unknown, name: string): unknown {
  if (result === null || typeof result !== 'object') throw new KryptonError('INTERNAL', `malformed reply: no ${name}`);
  return (result as Record<string, unknown>)[name];
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new KryptonError('INTERNAL', `malformed reply: ${what} is not a list`);
  return v;
}

function dataKey(v: unknown): DataKey {
  return { plaintext: buf(field(v, 'plaintext'), 'plaintext'), blob: buf(field(v, 'blob'), 'blob') };
}

export class KryptonClient {
  private constructor(
    private readonly conn: Connection,
    private readonly dispatcher: Dispatcher,
    private readonly maxFrameBytes: number,
  ) {}

  /** Connects; resolves once the socket is open. A token the Gateway refuses rejects with UNAUTHENTICATED. */
  static async connect(opts: ConnectOptions): Promise<KryptonClient> {
    const requestTimeoutMs = opts.requestTimeoutMs ?? 5_000;
    const maxFrameBytes = opts.batch?.maxFrameBytes ?? 64 * 1024;
    let dispatcher: Dispatcher | null = null;
    const conn = new Connection(
      {
        url: opts.url,
        token: opts.token,
        reconnect: opts.reconnect === false ? false : { ...DEFAULT_BACKOFF, ...opts.reconnect },
        handshakeTimeoutMs: requestTimeoutMs,
      },
      {
        open: () => dispatcher?.onOpen(),
        message: (data) => dispatcher?.onMessage(data),
        drop: (cause) => dispatcher?.onDrop(cause),
        refused: (err) => dispatcher?.onRefused(err),
      },
    );
    dispatcher = new Dispatcher(conn, {
      maxRequests: Math.max(1, Math.min(opts.batch?.maxRequests ?? 256, 0xffff)),
      maxDelayMs: opts.batch?.maxDelayMs ?? 0,
      maxFrameBytes,
      maxInflight: opts.maxInflight ?? 8192,
      maxInflightFrames: 1000,
      requestTimeoutMs,
    });
    try {
      await conn.start(requestTimeoutMs);
    } catch (err) {
      dispatcher.close();
      await conn.close();
      throw err;
    }
    return new KryptonClient(conn, dispatcher, maxFrameBytes);
  }

  /** Fails whatever is queued or in flight with reason 'closed', stops reconnecting, closes the socket. */
  async close(): Promise<void> {
    this.dispatcher.close();
    await this.conn.close();
  }

  /** Frames and requests sent so far, and what is in flight now. */
  stats(): ClientStats {
    return this.dispatcher.stats();
  }

  private call(op: string, params: Params): Promise<unknown> {
    return this.dispatcher.call(op, params);
  }

  async createKey(service: string, opts: CallOptions = {}): Promise<DataKey> {
    return dataKey(await this.call('key.create', { service, context: opts.context }));
  }

  /** `count` fresh keys in one request (the Gateway allows 1 to 4096). */
  async createKeys(service: string, count: number, opts: CallOptions = {}): Promise<DataKey[]> {
    const r = await this.call('key.create', { service, count, context: opts.context });
    return list(field(r, 'keys'), 'keys').map(dataKey);
  }

  async decryptKey(blob: Uint8Array, opts: CallOptions = {}): Promise<Buffer> {
    return buf(field(await this.call('key.decrypt', { blob, context: opts.context }), 'plaintext'), 'plaintext');
  }

  /** Plaintext keys in the order of the blobs; a list too large for one frame goes as several requests. */
  async decryptKeys(blobs: Uint8Array[], opts: CallOptions = {}): Promise<Buffer[]> {
    const parts = await Promise.all(
      this.chunks(blobs, opts.context).map(async (chunk) => {
        const r = await this.call('key.decrypt', { blobs: chunk, context: opts.context });
        return list(field(r, 'plaintexts'), 'plaintexts').map((p) => buf(p, 'plaintext'));
      }),
    );
    return parts.flat();
  }

  /** The blob re-sealed under the service's ACTIVE version; the key itself is unchanged. */
  async rewrapKey(blob: Uint8Array, opts: CallOptions = {}): Promise<Buffer> {
    return buf(field(await this.call('key.rewrap', { blob, context: opts.context }), 'blob'), 'blob');
  }

  async rewrapKeys(blobs: Uint8Array[], opts: CallOptions = {}): Promise<Buffer[]> {
    const parts = await Promise.all(
      this.chunks(blobs, opts.context).map(async (chunk) => {
        const r = await this.call('key.rewrap', { blobs: chunk, context: opts.context });
        return list(field(r, 'blobs'), 'blobs').map((b) => buf(b, 'blob'));
      }),
    );
    return parts.flat();
  }

  /** What a blob names, without decrypting it. */
  async info(blob: Uint8Array): Promise<KeyInfo> {
    const r = await this.call('key.info', { blob });
    const tenant = field(r, 'tenant');
    const service = field(r, 'service');
    const version = field(r, 'version');
    const state = field(r, 'state');
    if (
      typeof tenant !== 'string' ||
      typeof service !== 'string' ||
      typeof version !== 'number' ||
      typeof state !== 'string'
    ) {
      throw new KryptonError('INTERNAL', 'malformed reply to key.info');
    }
    return { tenant, service, version, state };
  }

  async ping(): Promise<void> {
    await this.call('ping', {});
  }

  /** Encrypts data under a fresh data key: a self-contained envelope (see envelope.ts). */
  encrypt(data: Uint8Array, opts: EnvelopeOptions): Promise<Buffer> {
    return encryptEnvelope(this, data, opts);
  }

  /** Opens an envelope from encrypt(); a tampered one, or the wrong context, is INVALID_BLOB. */
  decrypt(envelope: Uint8Array, opts: CallOptions = {}): Promise<Buffer> {
    return decryptEnvelope(this, envelope, opts);
  }

  /** Splits a blob list so each request fits a frame and the Gateway's 4096 per request. */
  private chunks(blobs: Uint8Array[], context: Uint8Array | undefined): Uint8Array[][] {
    const budget = this.maxFrameBytes - 128 - (context?.length ?? 0); // room for the frame, id, op, keys
    const out: Uint8Array[][] = [];
    let cur: Uint8Array[] = [];
    let bytes = 0;
    for (const b of blobs) {
      const size = b.length + (b.length < 256 ? 2 : 3); // msgpack bin8/bin16 header
      if (cur.length > 0 && (cur.length >= MAX_BATCH || bytes + size > budget)) {
        out.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(b);
      bytes += size;
    }
    if (cur.length > 0) out.push(cur);
    return out;
  }
}
