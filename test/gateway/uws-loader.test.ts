/**
 * The one uWS loader (issue 11): it takes the official uWebSockets.js build
 * when its binary for this Node loads, falls back to the npm build when it
 * does not, and when neither loads says so in one line. Each case runs in a
 * child process against a project folder laid out as npm would install it;
 * the "official" binary there is the npm build's real binary for this Node,
 * copied, so what loads is a real uWS either way.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { uwsBinaryName } from '../../src/gateway/uws-binary.js';

const LOADER = resolve('dist/src/gateway/uws-binary.js');
const NPM_BUILD = '@trufflesuite/uws-js-unofficial';
const npmBuildDir = dirname(createRequire(import.meta.url).resolve(`${NPM_BUILD}/package.json`));

let project: string | undefined;
afterEach(() => {
  if (project) rmSync(project, { recursive: true, force: true });
  project = undefined;
});

/** A project folder with node_modules holding the builds asked for. */
function layout(opts: { official?: 'real' | 'broken'; npmBuild: boolean }): string {
  project = mkdtempSync(join(tmpdir(), 'krypton-uws-'));
  writeFileSync(join(project, 'package.json'), '{"name":"app","private":true}');
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, '@trufflesuite'), { recursive: true });
  if (opts.npmBuild) symlinkSync(npmBuildDir, join(modules, NPM_BUILD), 'dir');
  if (opts.official) {
    const dir = join(modules, 'uWebSockets.js');
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), '{"name":"uWebSockets.js","version":"20.52.0","main":"uws.js"}');
    writeFileSync(join(dir, 'uws.js'), "throw new Error('the loader must load the binary, not the JS entry');");
    const binary = join(dir, uwsBinaryName());
    if (opts.official === 'real') copyFileSync(join(npmBuildDir, 'binaries', uwsBinaryName()), binary);
    else writeFileSync(binary, 'not an ELF shared object');
  }
  return project;
}

/** pickUws from `dir`, in a child process: which build, which file, and whether it is the native module. */
function pickIn(dir: string): {
  ok: boolean;
  pkg?: string;
  path?: string;
  native?: boolean;
  tried?: string[];
  line?: string;
} {
  const script = `
    const m = await import(${JSON.stringify(LOADER)});
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const r = m.pickUws((p) => require(p), ${JSON.stringify(join(dir, 'package.json'))});
    process.stdout.write(JSON.stringify(r.ok
      ? { ok: true, pkg: r.build.package, path: r.path, native: typeof r.module.App === 'function' && typeof r.module.us_listen_socket_close === 'function' }
      : { ok: false, tried: r.tried, line: m.uwsLoadFailure(r.tried) }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(child.stderr).toBe('');
  return JSON.parse(child.stdout) as ReturnType<typeof pickIn>;
}

describe.runIf(process.versions.modules === '115')('the uWS loader (Node 20, where both builds have a binary)', () => {
  it('prefers the official uWebSockets.js build when its binary loads', () => {
    const dir = layout({ official: 'real', npmBuild: true });
    const r = pickIn(dir);
    expect(r).toMatchObject({ ok: true, pkg: 'uWebSockets.js', native: true });
    expect(r.path).toBe(join(dir, 'node_modules', 'uWebSockets.js', uwsBinaryName()));
  });

  it('falls back to the npm build when the official binary does not load (as on a glibc older than 2.38)', () => {
    const r = pickIn(layout({ official: 'broken', npmBuild: true }));
    expect(r).toMatchObject({ ok: true, pkg: NPM_BUILD, native: true });
  });

  it('with neither build loading, fails in one line naming each build, the Node version, the glibc and what to install', () => {
    const r = pickIn(layout({ official: 'broken', npmBuild: false }));
    expect(r.ok).toBe(false);
    expect(r.tried).toEqual([
      expect.stringMatching(
        new RegExp(`^uWebSockets\\.js: ${uwsBinaryName().replace(/\./g, '\\.')} did not load \\(.+\\)$`),
      ),
      `${NPM_BUILD}: ${uwsBinaryName()} not installed`,
    ]);
    expect(r.line).not.toContain('\n');
    expect(r.line).toContain(`Node ${process.version} (glibc `);
    expect(r.line).toContain('npm install uNetworking/uWebSockets.js#');
  });

  it('in this repository picks the npm build, as the Gateway does', () => {
    const r = pickIn(resolve('.'));
    expect(r).toMatchObject({ ok: true, pkg: NPM_BUILD, native: true });
  });
});
