/**
 * A lean RFC 6455 client over node:net for load generation. Node 20 has no
 * built-in WebSocket, and a general client (ws) does more work per message
 * than a load generator can afford to hide in its numbers:
 * - sends are copied (masked) into one staging buffer and flushed in one
 *   socket write per tick, so P pipelined frames cost one syscall;
 * - masks come from a pooled random buffer, not one crypto call per frame;
 * - received binary frames are handed to the callback as views into the
 *   socket's chunk (no copy) unless a frame spans chunks.
 * Only what a load generator needs: binary/text data frames, ping/pong,
 * close; no extensions (no permessage-deflate is offered).
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';

export interface WsClientOptions {
  /** ws://host:port/path */
  url: string;
  /** Extra upgrade headers, e.g. { authorization: 'Bearer t' }. */
  headers?: Record<string, string>;
  /**
   * One call per complete data message. The Buffer may be a view into the
   * socket's read chunk: use it before returning, copy it to keep it.
   */
  onMessage: (data: Buffer) => void;
  /** Called once when the connection ends (err when it ended abnormally). */
  onClose?: (err?: Error) => void;
  connectTimeoutMs?: number;
  /** Largest message accepted from the server (protects the generator). */
  maxMessageBytes?: number;
}

/** The handshake was answered with something other than 101. */
export class WsHandshakeError extends Error {
  constructor(
    readonly status: number,
    readonly response: string,
  ) {
    super(`WebSocket upgrade refused: HTTP ${status}`);
  }
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// Masking keys are drawn from a pool refilled 4 KiB at a time.
const maskPool = Buffer.alloc(4096);
let maskAt = maskPool.length;
function nextMaskOffset(): number {
  if (maskAt + 4 > maskPool.length) {
    randomFillSync(maskPool);
    maskAt = 0;
  }
  const at = maskAt;
  maskAt += 4;
  return at;
}

export class LeanWsClient {
  private staging = Buffer.allocUnsafe(64 * 1024);
  private staged = 0;
  private flushQueued = false;
  private closed = false;
  // Read side: unparsed bytes kept as a list until `need` bytes are there,
  // so a large frame arriving in many chunks is concatenated once.
  private parts: Buffer[] = [];
  private partsLen = 0;
  private need = 2;
  private fragments: Buffer[] | null = null;
  private readonly flushBound = () => this.flush();

  private constructor(
    private readonly socket: Socket,
    private readonly opts: WsClientOptions,
  ) {}

  /** Opens the TCP connection and completes the upgrade. */
  static connect(opts: WsClientOptions): Promise<LeanWsClient> {
    const u = new URL(opts.url);
    if (u.protocol !== 'ws:') throw new Error(`only ws:// is supported (got ${u.protocol})`);
    const port = Number(u.port || 80);
    const key = randomBytes(16).toString('base64');
    const expectAccept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: u.hostname, port });
      socket.setNoDelay(true);
      const timer = setTimeout(
        () => fail(new Error(`WebSocket connect to ${opts.url} timed out`)),
        opts.connectTimeoutMs ?? 5000,
      );
      let head: Buffer = Buffer.alloc(0);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16 * 1024) fail(new Error('upgrade response headers too large'));
          return;
        }
        const text = head.subarray(0, end).toString('latin1');
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
        if (status !== 101) return fail(new WsHandshakeError(status, head.toString('latin1')));
        const accept = /\r\nsec-websocket-accept:\s*([^\r]+)/i.exec(text)?.[1]?.trim();
        if (accept !== expectAccept) return fail(new Error('bad Sec-WebSocket-Accept in upgrade response'));
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', fail);
        const client = new LeanWsClient(socket, opts);
        client.attach();
        resolve(client);
        const rest = head.subarray(end + 4);
        if (rest.length > 0) client.onData(rest);
      };
      socket.on('data', onData);
      socket.on('error', fail);
      socket.on('connect', () => {
        let req =
          `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
        for (const [k, v] of Object.entries(opts.headers ?? {})) req += `${k}: ${v}\r\n`;
        socket.write(req + '\r\n');
      });
    });
  }

  private attach(): void {
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.finish(err));
    this.socket.on('close', () => this.finish());
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.onClose?.(err);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Bytes handed to the kernel but not yet sent, plus bytes staged this tick. */
  get bufferedAmount(): number {
    return this.socket.writableLength + this.staged;
  }

  /**
   * Queues one binary message. The payload is copied (masked) at once, so
   * the caller may overwrite it (e.g. patch the next id) right after.
   */
  send(payload: Uint8Array, opcode = 0x2): void {
    if (this.closed) return;
    const len = payload.length;
    const headLen = len < 126 ? 2 : len < 0x10000 ? 4 : 10;
    this.reserve(headLen + 4 + len);
    const b = this.staging;
    let p = this.staged;
    b[p++] = 0x80 | opcode; // FIN + opcode
    if (len < 126) b[p++] = 0x80 | len;
    else if (len < 0x10000) {
      b[p++] = 0x80 | 126;
      b.writeUInt16BE(len, p);
      p += 2;
    } else {
      b[p++] = 0x80 | 127;
      b.writeUInt32BE(Math.floor(len / 0x100000000), p);
      b.writeUInt32BE(len >>> 0, p + 4);
      p += 8;
    }
    const m = nextMaskOffset();
    const m0 = maskPool[m]!,
      m1 = maskPool[m + 1]!,
      m2 = maskPool[m + 2]!,
      m3 = maskPool[m + 3]!;
    b[p] = m0;
    b[p + 1] = m1;
    b[p + 2] = m2;
    b[p + 3] = m3;
    p += 4;
    let i = 0;
    for (; i + 4 <= len; i += 4) {
      b[p + i] = payload[i]! ^ m0;
      b[p + i + 1] = payload[i + 1]! ^ m1;
      b[p + i + 2] = payload[i + 2]! ^ m2;
      b[p + i + 3] = payload[i + 3]! ^ m3;
    }
    for (; i < len; i++) b[p + i] = payload[i]! ^ maskPool[m + (i & 3)]!;
    this.staged = p + len;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushBound);
    }
  }

  private reserve(n: number): void {
    if (this.staged + n <= this.staging.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.staging.length * 2, this.staged + n));
    this.staging.copy(bigger, 0, 0, this.staged);
    this.staging = bigger;
  }

  /** Writes everything staged in one socket write (one allocation per flush, not per message). */
  flush(): void {
    this.flushQueued = false;
    if (this.staged === 0 || this.closed) return;
    const out = Buffer.allocUnsafe(this.staged);
    this.staging.copy(out, 0, 0, this.staged);
    this.staged = 0;
    this.socket.write(out);
  }

  /** Sends a close frame and ends the socket; onClose fires when it is gone. */
  close(code = 1000): void {
    if (this.closed) return;
    const body = Buffer.alloc(2);
    body.writeUInt16BE(code, 0);
    this.send(body, 0x8);
    this.flush();
    this.socket.end();
    // A server that never answers the close must not keep us alive.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** Drops the connection without a close handshake. */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.partsLen > 0) {
      this.parts.push(chunk);
      this.partsLen += chunk.length;
      if (this.partsLen < this.need) return;
      chunk = Buffer.concat(this.parts, this.partsLen);
      this.parts = [];
      this.partsLen = 0;
    }
    let pos = 0;
    const max = this.opts.maxMessageBytes ?? 64 * 1024 * 1024;
    while (true) {
      const avail = chunk.length - pos;
      if (avail < 2) {
        this.need = 2;
        break;
      }
      const b0 = chunk[pos]!;
      const b1 = chunk[pos + 1]!;
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (avail < 4) {
          this.need = 4;
          break;
        }
        len = chunk.readUInt16BE(pos + 2);
        hdr = 4;
      } else if (len === 127) {
        if (avail < 10) {
          this.need = 10;
          break;
        }
        len = chunk.readUInt32BE(pos + 2) * 0x100000000 + chunk.readUInt32BE(pos + 6);
        hdr = 10;
      }
      if (b1 & 0x80) return this.protocolError('server frames must not be masked');
      if (len > max) return this.protocolError(`message of ${len} bytes exceeds the limit`);
      if (avail < hdr + len) {
        this.need = hdr + len;
        break;
      }
      const payload = chunk.subarray(pos + hdr, pos + hdr + len);
      pos += hdr + len;
      this.onFrame(b0 & 0x80 ? true : false, b0 & 0x0f, payload);
      if (this.closed) return;
    }
    // Every break above set `need` to more than what is left, so the
    // remainder waits for more bytes.
    if (pos < chunk.length) {
      this.parts.push(chunk.subarray(pos));
      this.partsLen = chunk.length - pos;
    }
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case 0x1:
      case 0x2:
        if (fin) this.opts.onMessage(payload);
        else this.fragments = [Buffer.from(payload)];
        return;
      case 0x0:
        if (this.fragments === null) return this.protocolError('continuation without a first fragment');
        this.fragments.push(Buffer.from(payload));
        if (fin) {
          const whole = Buffer.concat(this.fragments);
          this.fragments = null;
          this.opts.onMessage(whole);
        }
        return;
      case 0x8:
        // Echo the close and end; the server closes the TCP connection.
        this.send(payload.subarray(0, 2), 0x8);
        this.flush();
        this.socket.end();
        return;
      case 0x9:
        this.send(payload, 0xa);
        return;
      case 0xa:
        return;
      default:
        this.protocolError(`unknown opcode ${opcode}`);
    }
  }

  private protocolError(message: string): void {
    this.socket.destroy();
    this.finish(new Error(`WebSocket protocol error: ${message}`));
  }
}
