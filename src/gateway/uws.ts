/**
 * Loads a NATIVE uWebSockets.js binary (the first build of UWS_BUILDS that
 * loads on this Node). The packages silently fall back to a JavaScript
 * implementation when their binary does not load; Krypton loads the binary
 * itself and fails loudly instead, in one line (uws-binary.ts).
 * Only the Gateway imports this module.
 */
import { createRequire } from 'node:module';
import type * as Uws from '@trufflesuite/uws-js-unofficial';
import { pickUws, uwsLoadFailure } from './uws-binary.js';

const require = createRequire(import.meta.url);

function load(): typeof Uws {
  const pick = pickUws((path) => require(path) as typeof Uws);
  if (!pick.ok) throw new Error(uwsLoadFailure(pick.tried));
  return pick.module;
}

export const uws = load();
export type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  us_listen_socket,
  us_socket_context_t,
  WebSocket,
  WebSocketBehavior,
} from '@trufflesuite/uws-js-unofficial';
