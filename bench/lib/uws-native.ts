/**
 * Loads the NATIVE uWebSockets.js binary of @trufflesuite/uws-js-unofficial.
 * The package's main entry silently falls back to a JavaScript emulation
 * when the binary does not load; a benchmark against that fallback would
 * measure the wrong thing, so we require the .node file ourselves and fail
 * loudly instead.
 */
import { createRequire } from 'node:module';
import type * as Uws from '@trufflesuite/uws-js-unofficial';

export type UwsModule = typeof Uws;

const require = createRequire(import.meta.url);

export function nativeUwsPath(): string {
  return `@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

export function loadNativeUws(): UwsModule {
  const path = nativeUwsPath();
  let mod: UwsModule;
  try {
    mod = require(path) as UwsModule;
  } catch (err) {
    throw new Error(`native uWebSockets.js binary did not load (${path}); refusing the JS fallback: ${(err as Error).message}`);
  }
  // The native module exposes us_listen_socket_close; the JS fallback's shape differs.
  if (typeof mod.App !== 'function' || typeof mod.us_listen_socket_close !== 'function') {
    throw new Error(`${path} loaded but does not look like the native uWebSockets.js module`);
  }
  return mod;
}
