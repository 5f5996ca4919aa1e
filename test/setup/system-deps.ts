/**
 * Before any test: what the tests need from the system (scripts/test-deps.sh)
 * is there, or the run stops with the one command that provides it. As root
 * the script runs by itself, so `npm test` on a fresh Debian machine installs
 * and starts what is missing; no test then skips for want of a tool.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';

const SCRIPT = resolve('scripts/test-deps.sh');

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

function hasLibFuzzer(): boolean {
  return (
    spawnSync('sh', ['-c', 'ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a'], { stdio: 'ignore' })
      .status === 0
  );
}

function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host: '127.0.0.1', port, timeout: 1000 });
    const end = (ok: boolean) => {
      s.destroy();
      done(ok);
    };
    s.once('connect', () => end(true));
    s.once('error', () => end(false));
    s.once('timeout', () => end(false));
  });
}

/** What is missing, by name (empty when everything is there). */
export async function missingSystemDeps(): Promise<string[]> {
  const missing: string[] = [];
  for (const [tool, what] of [
    ['gcore', 'gdb'],
    ['softhsm2-util', 'softhsm2'],
    ['clang++', 'clang'],
    ['setpriv', 'util-linux'],
    ['prlimit', 'util-linux'],
  ] as const) {
    if (!onPath(tool)) missing.push(what);
  }
  if (!hasLibFuzzer()) missing.push('libclang-rt-14-dev');
  // The client package on an arm64 Node, under user-mode emulation.
  if (!onPath('qemu-aarch64')) missing.push('qemu-user');
  if (!existsSync('/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1')) missing.push('libc6-arm64-cross');
  if (!existsSync('/usr/aarch64-linux-gnu/lib/libstdc++.so.6')) missing.push('libstdc++6-arm64-cross');
  // The servers, unless a run opts out of them or names another PostgreSQL.
  const env = process.env;
  if (env['KRYPTON_SKIP_PG'] !== '1' && env['KRYPTON_TEST_PG_URL'] === undefined) {
    if (!existsSync('/etc/postgresql') || readdirSync('/etc/postgresql').length === 0) missing.push('postgresql');
    if (!(await listening(5432))) missing.push('PostgreSQL on 127.0.0.1:5432');
  }
  if (env['KRYPTON_SKIP_AMQP'] !== '1' && !(await listening(5672))) missing.push('RabbitMQ on 127.0.0.1:5672');
  return [...new Set(missing)];
}

export default async function setup(): Promise<void> {
  let missing = await missingSystemDeps();
  if (missing.length === 0) return;
  if (process.getuid?.() === 0) {
    console.error(`tests need ${missing.join(', ')}: running ${SCRIPT}`);
    const r = spawnSync('bash', [SCRIPT], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${SCRIPT} failed (exit ${r.status})`);
    missing = await missingSystemDeps();
    if (missing.length === 0) return;
  }
  throw new Error(`the tests need ${missing.join(', ')}; install and start them with: sudo bash ${SCRIPT}`);
}
