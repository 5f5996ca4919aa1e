/** A small msgpack-over-WebSocket test client for the Gateway. */
import { pack, unpack } from 'msgpackr';
import WebSocket from 'ws';

/**
 * The result of a key.* reply, as the tests read it: each method fills some
 * of these (key.create one plaintext and blob, or `keys` with a count;
 * key.decrypt `plaintext` or `plaintexts`; key.rewrap `blob`; key.info
 * `version`). Nothing checks the shape: a field that is absent is undefined.
 */
export interface KeyResult {
  plaintext: Buffer;
  blob: Buffer;
  keys: { plaintext: Buffer; blob: Buffer }[];
  plaintexts: Buffer[];
  version: number;
}

export interface WsClient {
  ws: WebSocket;
  /** Sends one frame (any value, packed) and resolves with the next reply frame. */
  call(frame: unknown): Promise<unknown>;
  /** Sends raw bytes and resolves with the next reply frame. */
  raw(bytes: Uint8Array | string): Promise<unknown>;
  close(): void;
}

export function connect(url: string, token?: string): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    const waiting: ((v: unknown) => void)[] = [];
    ws.on('message', (d: Buffer) => waiting.shift()?.(unpack(d)));
    ws.once('unexpected-response', (_req, res) =>
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })),
    );
    ws.once('error', reject);
    ws.once('open', () => {
      const send = (data: Uint8Array | string): Promise<unknown> =>
        new Promise<unknown>((res) => {
          waiting.push(res);
          ws.send(data);
        });
      resolve({ ws, call: (frame) => send(pack(frame)), raw: send, close: () => ws.close() });
    });
  });
}
