/** The `ws` server, for the fake Gateway of transport.test.ts (merges with src/client/ws.d.ts). */
declare module 'ws' {
  import { EventEmitter } from 'node:events';
  import type { IncomingMessage } from 'node:http';
  import type { AddressInfo } from 'node:net';

  export class WebSocketServer extends EventEmitter {
    constructor(options: {
      port: number;
      host?: string;
      verifyClient?: (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number, message?: string) => void) => void;
    });
    address(): AddressInfo;
    close(cb?: () => void): void;
    clients: Set<WebSocket>;
    on(event: 'listening', listener: () => void): this;
    on(event: 'connection', listener: (socket: WebSocket, req: IncomingMessage) => void): this;
  }
}
