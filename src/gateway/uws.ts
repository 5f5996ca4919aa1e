/**
 * Loads the NATIVE uWebSockets.js binary. The package silently falls back to
 * a JavaScript implementation when its binary does not load; Krypton loads
 * the binary itself and fails loudly instead (one line: uws-binary.ts).
 * Only the Gateway imports this module.
 */
import { createRequire } from 'node:module';
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { uwsBinaryId, uwsBinaryName, uwsLoadFailure } from './uws-binary.js';

const require = createRequire(import.meta.url);

function load(): typeof Uws {
  try {
    return require(uwsBinaryId()) as typeof Uws;
  } catch (err) {
    throw new Error(uwsLoadFailure(uwsBinaryName(), err));
  }
}

export const uws = load();
export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, WebSocket, WebSocketBehavior } from '@trufflesuite/uws-js-unofficial';
