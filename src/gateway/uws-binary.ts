/**
 * Finds the native uWebSockets.js binary this Node can load, and says so in
 * one line when there is none. Two builds are known, tried in this order:
 *
 * 1. the official build, the package `uWebSockets.js` (installed from
 *    github:uNetworking/uWebSockets.js): binaries for Node 20 to 25, linked
 *    against glibc 2.38 or later (Debian 13, Ubuntu 24.04);
 * 2. `@trufflesuite/uws-js-unofficial`, the npm republish this repository
 *    installs: binaries for Node 16, 18 and 20 only, any recent glibc.
 *
 * Only the Gateway loads one (uws.ts). Commands that do not serve never load
 * uWS; `selfcheck` asks a child process (probeUws), so its own process never
 * loads it either.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface UwsBuild {
  /** The npm package the binary comes from. */
  readonly package: string;
  /** Where the binary sits inside the package's folder. */
  readonly folder: string;
  /** What an operator installs to get it. */
  readonly install: string;
}

export const UWS_BUILDS: readonly UwsBuild[] = [
  {
    package: 'uWebSockets.js',
    folder: '',
    install: 'npm install uNetworking/uWebSockets.js#v20.52.0 (needs glibc 2.38 or later)',
  },
  {
    package: '@trufflesuite/uws-js-unofficial',
    folder: 'binaries',
    install: 'Node 20 with the @trufflesuite/uws-js-unofficial this repository installs',
  },
];

/** The binary's file name for this platform and Node ABI. */
export function uwsBinaryName(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

/**
 * The binary of `build` for this Node, as an absolute path, or null when the package or the binary is not installed.
 */
export function uwsBinaryPath(build: UwsBuild, from: string = import.meta.url): string | null {
  let manifest: string;
  try {
    // Neither package has an `exports` map, so its package.json resolves; the binaries are under its folder.
    manifest = createRequire(from).resolve(`${build.package}/package.json`);
  } catch {
    return null;
  }
  const path = join(dirname(manifest), build.folder, uwsBinaryName());
  return existsSync(path) ? path : null;
}

export type UwsPick<T> = { ok: true; build: UwsBuild; path: string; module: T } | { ok: false; tried: string[] };

/**
 * Loads the first build whose binary for this Node is installed and loads;
 * `tried` says, per build, why it was passed over. `load` is `require`.
 */
export function pickUws<T>(load: (path: string) => T, from: string = import.meta.url): UwsPick<T> {
  const tried: string[] = [];
  for (const build of UWS_BUILDS) {
    const path = uwsBinaryPath(build, from);
    if (path === null) {
      tried.push(`${build.package}: ${uwsBinaryName()} not installed`);
      continue;
    }
    try {
      return { ok: true, build, path, module: load(path) };
    } catch (err) {
      tried.push(`${build.package}: ${uwsBinaryName()} did not load (${firstLine(err)})`);
    }
  }
  return { ok: false, tried };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

export function glibcVersion(): string {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ?? 'none found';
}

/** One line: what was tried, on which Node and glibc, and what to install (never the slow JavaScript fallback). */
export function uwsLoadFailure(tried: readonly string[]): string {
  return (
    `krypton gateway: no native uWebSockets.js for Node ${process.version} (glibc ${glibcVersion()}): ${tried.join('; ')}. ` +
    `Install one: ${UWS_BUILDS.map((b) => b.install).join('; or ')}. Krypton refuses the slow JavaScript fallback. ` +
    'Every command but the Gateway (admin, core, registry, cmk, pki, token, selfcheck) works without it.'
  );
}

/**
 * Whether the Gateway can run on this Node: the same pick, made in a child
 * process so this one never loads uWS. Returns the selfcheck line.
 */
export function probeUws(): { ok: boolean; line: string } {
  const script =
    `import(${JSON.stringify(import.meta.url)}).then((m) => {` +
    ' const r = m.pickUws((p) => { require(p); return null; });' +
    ' process.stdout.write(JSON.stringify(r.ok ? { ok: true, pkg: r.build.package } : r)); })';
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env, timeout: 20_000 });
  let r: { ok: true; pkg: string } | { ok: false; tried: string[] };
  try {
    r = JSON.parse(child.stdout) as typeof r;
  } catch {
    r = { ok: false, tried: [`the probe exited with ${child.status ?? child.signal}`] };
  }
  return r.ok
    ? {
        ok: true,
        line: `Gateway transport: native uWebSockets.js ${uwsBinaryName()} from ${r.pkg} loads on Node ${process.version}`,
      }
    : {
        ok: false,
        line: `Gateway transport: NO native uWebSockets.js loads on Node ${process.version} (glibc ${glibcVersion()}): ${r.tried.join('; ')}; the Gateway cannot run here`,
      };
}
