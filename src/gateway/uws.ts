/**
 * Loads the NATIVE uWebSockets.js binary. The package silently falls back to
 * a JavaScript implementation when its binary does not load; Krypton loads
 * the binary itself and fails loudly instead.
 */
import { createRequire } from 'node:module';
import type * as Uws from '@trufflesuite/uws-js-unofficial';

const require = createRequire(import.meta.url);

function load(): typeof Uws {
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    return require(`@trufflesuite/uws-js-unofficial/binaries/${name}`) as typeof Uws;
  } catch (err) {
    throw new Error(
      `krypton gateway: the native uWebSockets.js binary ${name} did not load (${(err as Error).message}). ` +
        'Refusing to run on the slow JavaScript fallback.',
    );
  }
}

export const uws = load();
export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, WebSocket, WebSocketBehavior } from '@trufflesuite/uws-js-unofficial';
