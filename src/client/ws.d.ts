/**
 * The slice of `ws` 8 the client uses. `ws` is in node_modules only as a
 * transitive dependency, without `@types/ws`, and package.json is not ours
 * to change; this declaration is the contract we rely on.
 */
declare module 'ws' {
  import { EventEmitter } from 'node:events';

  export interface ClientOptions {
    headers?: Record<string, string>;
    perMessageDeflate?: boolean;
    handshakeTimeout?: number;
    maxPayload?: number;
  }

  export default class WebSocket extends EventEmitter {
    static readonly CONNECTING: 0;
    static readonly OPEN: 1;
    static readonly CLOSING: 2;
    static readonly CLOSED: 3;
    constructor(address: string, options?: ClientOptions);
    readonly readyState: 0 | 1 | 2 | 3;
    readonly bufferedAmount: number;
    binaryType: 'nodebuffer' | 'arraybuffer' | 'fragments';
    send(data: Uint8Array, options?: { binary?: boolean }, cb?: (err?: Error) => void): void;
    close(code?: number, reason?: string): void;
    terminate(): void;
    on(event: 'open', listener: () => void): this;
    on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
    on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
  }
}
