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
import { UWS_BUILDS, uwsBinaryPath, uwsLoadFailure } from '../../src/gateway/uws-binary.js';

const MAIN = resolve('dist/src/cli/main.js');
const REFUSE_UWS = resolve('test/fixtures/refuse-uws.cjs');

const run = (args: string[]) =>
  spawnSync(process.execPath, ['--secure-heap=65536', '-r', REFUSE_UWS, MAIN, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });

describe('commands that do not run the Gateway never load uWebSockets.js', () => {
  const commands = [
    ['--help'],
    ['selfcheck'],
    ...['admin', 'core', 'registry', 'cmk', 'pki', 'token', 'gateway'].map((c) => [c, '--help']),
  ];

  it.each(commands.map((c) => [c.join(' '), c] as const))(
    '`krypton %s` runs to completion without loading it',
    (_name, args) => {
      const r = run(args);
      expect(r.stderr).not.toContain('uWebSockets.js loaded');
      expect(r.status).toBe(0);
    },
  );

  // Where a uWS binary for this Node is installed (Node 20 here), loading the Gateway's module loads it and the guard
  // stops the process; where it has none (Node 22 on glibc 2.36), the loader refuses in one line instead.
  const hasBinary = UWS_BUILDS.some((b) => uwsBinaryPath(b) !== null);
  const importGatewayUws = () =>
    spawnSync(
      process.execPath,
      [
        '--secure-heap=65536',
        '-r',
        REFUSE_UWS,
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(resolve('dist/src/gateway/uws.js'))})`,
      ],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );

  it(`starting the Gateway ${hasBinary ? 'loads uWS, and the preload stops it (exit 97): the guard works' : 'fails in one line and loads nothing'}`, () => {
    const r = importGatewayUws();
    if (hasBinary) {
      expect(r.status).toBe(97);
      expect(r.stderr).toContain('uWebSockets.js loaded');
    } else {
      expect(r.status).not.toBe(0);
      expect(r.status).not.toBe(97);
      expect(r.stderr).toMatch(
        new RegExp(
          `krypton gateway: no native uWebSockets\\.js for Node ${process.version.replace(/\./g, '\\.')} \\(glibc `,
        ),
      );
    }
  });

  it('no uWS build that loads is one line naming each build tried, the Node version, the glibc and what to install', () => {
    const line = uwsLoadFailure([
      'uWebSockets.js: uws_linux_x64_127.node not installed',
      '@trufflesuite/uws-js-unofficial: uws_linux_x64_127.node not installed',
    ]);
    expect(line).not.toContain('\n');
    expect(line).toContain('uWebSockets.js: uws_linux_x64_127.node not installed');
    expect(line).toContain(`Node ${process.version}`);
    expect(line).toMatch(/glibc \d+\.\d+/);
    expect(line).toContain('npm install uNetworking/uWebSockets.js');
    expect(line).toContain('Node 20');
  });

  it('selfcheck says whether the Gateway can run on this Node (this Node 20 can, with the npm build), asking a child process', () => {
    const r = run(['selfcheck']);
    expect(r.status).toBe(0);
    const expected =
      process.versions.modules === '115'
        ? /Gateway transport: native uWebSockets\.js uws_linux_x64_115\.node from @trufflesuite\/uws-js-unofficial loads on Node v20/
        : /Gateway transport: NO native uWebSockets\.js loads on Node v\d+/;
    expect(r.stdout).toMatch(expected);
  });
});
