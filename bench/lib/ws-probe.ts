/**
 * One WebSocket to the Gateway sending one request at a time, for benches
 * that watch a state change (revocation, relink) rather than load: each
 * call is a key.create whose reply is decoded in full (the error code is
 * what is being waited for), timed at its receipt.
 */
import { performance } from 'node:perf_hooks';
import { createPackr, createUnpackr } from '@krypton/client/codec';
import { LeanWsClient } from './ws-client.js';

// The client's settings: encodes as a client, and decodes replies as one.
const packr = createPackr();
const unpackr = createUnpackr();

export interface ProbeReply {
  ok: boolean;
  /** The error code when !ok (e.g. KEY_REVOKED). */
  code?: string;
  /** performance.now() at the reply's receipt. */
  at: number;
}

export class GatewayProbe {
  private nextId = 1;
  private waiting: { id: number; resolve: (r: ProbeReply) => void; reject: (e: Error) => void } | null = null;
  private closedWith: Error | null = null;

  private constructor(private client: LeanWsClient | null) {}

  static async open(url: string, token: string): Promise<GatewayProbe> {
    const probe = new GatewayProbe(null);
    probe.client = await LeanWsClient.connect({
      url,
      headers: { authorization: `Bearer ${token}` },
      onMessage: (data) => probe.onMessage(data),
      onClose: (err) => probe.onClose(err),
    });
    return probe;
  }

  /** One key.create; resolves with its reply (rejects only when the connection fails or timeoutMs passes). */
  create(service: string, timeoutMs = 10_000): Promise<ProbeReply> {
    if (this.closedWith !== null) return Promise.reject(this.closedWith);
    if (this.waiting !== null) return Promise.reject(new Error('GatewayProbe: one request at a time'));
    const id = this.nextId++;
    return new Promise<ProbeReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no reply from the Gateway to key.create within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = {
        id,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.client!.send(packr.pack([id, 'key.create', { service }]));
    });
  }

  close(): void {
    this.client?.close();
  }

  private onMessage(data: Buffer): void {
    const at = performance.now();
    const w = this.waiting;
    if (w === null) return;
    let reply: unknown;
    try {
      reply = unpackr.unpack(data);
    } catch (err) {
      this.waiting = null;
      w.reject(new Error(`undecodable reply from the Gateway: ${(err as Error).message}`));
      return;
    }
    if (!Array.isArray(reply) || reply.length !== 3 || reply[0] !== w.id) {
      this.waiting = null;
      w.reject(new Error(`unexpected reply from the Gateway: ${JSON.stringify(reply)?.slice(0, 200)}`));
      return;
    }
    this.waiting = null;
    if (reply[1] === 0) w.resolve({ ok: true, at });
    else {
      const code = (reply[2] as { code?: unknown } | null)?.code;
      w.resolve({ ok: false, code: typeof code === 'string' ? code : 'UNKNOWN', at });
    }
  }

  private onClose(err?: Error): void {
    this.closedWith = err ?? new Error('the Gateway closed the WebSocket');
    const w = this.waiting;
    this.waiting = null;
    w?.reject(this.closedWith);
  }
}
