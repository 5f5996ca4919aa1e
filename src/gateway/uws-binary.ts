/**
 * Which native uWebSockets.js binary this Node needs, whether it is
 * installed, and the one line that says so when it is not: all without
 * loading it (selfcheck and the commands that do not serve use this).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const UWS_PACKAGE = '@trufflesuite/uws-js-unofficial';

/** The binary's file name for this platform and Node ABI. */
export function uwsBinaryName(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

/** The module id of this Node's binary. */
export function uwsBinaryId(): string {
  return `${UWS_PACKAGE}/binaries/${uwsBinaryName()}`;
}

/** Whether this Node's binary is installed (resolved, not loaded). */
export function uwsBinaryInstalled(): boolean {
  try {
    require.resolve(uwsBinaryId());
    return true;
  } catch {
    return false;
  }
}

function glibcVersion(): string {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ?? 'none found';
}

/** One line: what did not load, on which Node and glibc, and what to do (never the slow JavaScript fallback). */
export function uwsLoadFailure(name: string, err: unknown): string {
  const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  return (
    `krypton gateway: no native uWebSockets.js for Node ${process.version} (glibc ${glibcVersion()}): ${name} did not load (${reason}). ` +
    `Run the Gateway on Node 20 (${UWS_PACKAGE}, as installed); Krypton refuses the slow JavaScript fallback. ` +
    'Every command but the Gateway (admin, core, registry, cmk, pki, token, selfcheck) works without it.'
  );
}

/** The selfcheck line: whether the Gateway can run on this Node. */
export function uwsStatusLine(): string {
  return uwsBinaryInstalled()
    ? `Gateway transport: native uWebSockets.js ${uwsBinaryName()} installed for Node ${process.version}`
    : `Gateway transport: NO native uWebSockets.js for Node ${process.version} (glibc ${glibcVersion()}): the Gateway cannot run here; run it on Node 20`;
}
