/**
 * Commands other than the Gateway never load uWebSockets.js (issue 11): its
 * build has binaries only for some Node versions, and an admin, the Core or
 * `krypton --help` must work on the others. A preload ends the process with
 * exit code 97 at the first load of uWS; the Gateway's own loader fails with
 * one line naming the Node version and the glibc found.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { uwsLoadFailure, uwsStatusLine } from '../../src/gateway/uws-binary.js';

const MAIN = resolve('dist/src/cli/main.js');
const REFUSE_UWS = resolve('test/fixtures/refuse-uws.cjs');

const run = (args: string[]) =>
  spawnSync(process.execPath, ['--secure-heap=65536', '-r', REFUSE_UWS, MAIN, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('commands that do not run the Gateway never load uWebSockets.js', () => {
  const commands = [['--help'], ['selfcheck'], ...['admin', 'core', 'registry', 'cmk', 'pki', 'token', 'gateway'].map((c) => [c, '--help'])];

  it.each(commands.map((c) => [c.join(' '), c] as const))('`krypton %s` runs to completion without loading it', (_name, args) => {
    const r = run(args);
    expect(r.stderr).not.toContain('uWebSockets.js loaded');
    expect(r.status).toBe(0);
  });

  it('the guard itself works: starting the Gateway loads uWS, and the preload stops it (exit 97)', () => {
    const r = spawnSync(process.execPath, ['--secure-heap=65536', '-r', REFUSE_UWS, '--input-type=module', '-e', `await import(${JSON.stringify(resolve('dist/src/gateway/uws.js'))})`], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(97);
    expect(r.stderr).toContain('uWebSockets.js loaded');
  });

  it('a uWS binary that does not load is one line naming the binary, the Node version, the glibc and what to do', () => {
    const line = uwsLoadFailure('uws_linux_x64_127.node', new Error("Cannot find module 'x'\nRequire stack: ..."));
    expect(line).not.toContain('\n');
    expect(line).toContain('uws_linux_x64_127.node');
    expect(line).toContain(`Node ${process.version}`);
    expect(line).toMatch(/glibc \d+\.\d+/);
    expect(line).toContain('Node 20');
    expect(line).toContain('Cannot find module');
    expect(line).not.toContain('Require stack');
  });

  it('selfcheck says whether this Node has the binary (this Node 20 does), without loading it', () => {
    const r = run(['selfcheck']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(uwsStatusLine());
    expect(uwsStatusLine()).toMatch(process.versions.modules === '115' ? /installed for Node v20/ : /NO native uWebSockets\.js/);
  });
});
