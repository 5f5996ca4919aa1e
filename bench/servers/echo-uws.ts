/**
 * The transport ceiling: a uWebSockets.js msgpack echo server speaking the
 * Gateway's frame protocol (docs/design.md section 4) without doing any work.
 * Every request `[id, op, params]` gets `[id, 0, {}]`, in the same shape
 * (single or array) and order.
 *
 *   node dist/bench/servers/echo-uws.js [--port 0] [--token T] [--delay-ms N]
 *
 * Prints {"port": N} on stdout once listening (port 0 picks one). With
 * --token the upgrade needs `Authorization: Bearer T`, as the Gateway's does.
 * --delay-ms holds each reply back (tests of the load generator's clock).
 */
import { createPackr, MSGPACK_UNPACK_OPTIONS } from '@krypton/client/codec';
import { Unpackr } from 'msgpackr';
import { flag } from '../lib/args.js';
import { uws } from '../../src/gateway/uws.js';

const port = Number(flag('port', '0'));
const token = flag('token');
const delayMs = Number(flag('delay-ms', '0'));

// The wire's settings, but no copies of byte fields: a ceiling does no work it
// need not, and nothing of a request outlives its callback here.
const packr = createPackr();
const unpackr = new Unpackr({ ...MSGPACK_UNPACK_OPTIONS, copyBuffers: false });
const EMPTY = {};

interface Conn {
  closed: boolean;
}

function replyFor(req: unknown): unknown {
  const id: unknown = Array.isArray(req) ? req[0] : undefined;
  if (typeof id !== 'number') return [0, 1, { code: 'BAD_REQUEST', message: 'a request is [id, op, params]' }];
  return [id, 0, EMPTY];
}

function reply(frame: unknown): Buffer {
  // A frame whose first element is an array is an array of requests.
  if (Array.isArray(frame) && Array.isArray(frame[0])) return packr.pack(frame.map(replyFor));
  return packr.pack(replyFor(frame));
}

const open = new Set<import('@trufflesuite/uws-js-unofficial').WebSocket<Conn>>();
let listenSocket: import('@trufflesuite/uws-js-unofficial').us_listen_socket | null = null;

uws
  .App()
  .ws<Conn>('/v1/ws', {
    compression: uws.DISABLED,
    maxPayloadLength: 16 * 1024 * 1024,
    maxBackpressure: 64 * 1024 * 1024,
    idleTimeout: 120,
    upgrade: (res, req, context) => {
      if (token !== undefined && req.getHeader('authorization') !== `Bearer ${token}`) {
        res.writeStatus('401 Unauthorized').end('UNAUTHENTICATED');
        return;
      }
      res.upgrade<Conn>(
        { closed: false },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      open.add(ws);
    },
    message: (ws, message) => {
      // The ArrayBuffer dies when this callback returns: decode here.
      let out: Buffer;
      try {
        out = reply(unpackr.unpack(new Uint8Array(message)));
      } catch {
        out = packr.pack([0, 1, { code: 'BAD_REQUEST', message: 'not msgpack' }]);
      }
      if (delayMs <= 0) {
        ws.send(out, true);
        return;
      }
      const conn = ws.getUserData();
      setTimeout(() => {
        if (!conn.closed) ws.send(out, true);
      }, delayMs);
    },
    close: (ws) => {
      ws.getUserData().closed = true;
      open.delete(ws);
    },
  })
  .any('/*', (res) => {
    res.writeStatus('404 Not Found').end();
  })
  .listen('127.0.0.1', port, (ls) => {
    if (ls === false) {
      console.error(`echo-uws: cannot listen on 127.0.0.1:${port}`);
      process.exit(1);
    }
    listenSocket = ls;
    process.stdout.write(JSON.stringify({ port: uws.us_socket_local_port(ls), pid: process.pid }) + '\n');
  });

function shutdown(): void {
  // Close the listen socket first so no new connection races the exit.
  if (listenSocket !== null) uws.us_listen_socket_close(listenSocket);
  listenSocket = null;
  for (const ws of open) ws.close();
  open.clear();
  setImmediate(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
