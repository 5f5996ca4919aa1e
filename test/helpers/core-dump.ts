/**
 * Core dumps for the memory tests: gcore a live process and search the
 * dump for secrets that must not be there (or, in controls, must be); the
 * rule for suites that need gcore or gdb; and the arena child process
 * (test/fixtures/arena-child.mjs) that the dumps are taken of.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, readSync, rmSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

const MB = 1024 * 1024;

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ADDON = join(ROOT, 'build', 'Release', 'krypton.node');
/** The test build of the addon: the only one that reads the KRYPTON_TEST_* switches. */
export const TEST_ADDON = join(ROOT, 'build', 'Release', 'krypton_test.node');
export const ARENA_CHILD = join(ROOT, 'test', 'fixtures', 'arena-child.mjs');

export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter).concat(['/usr/bin', '/usr/sbin', '/bin', '/sbin'])) {
    if (dir === '') continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * A tool the memory proofs need, or null when it is not installed.
 * KRYPTON_TEST_HIDE_TOOLS (comma-separated names) makes tools look missing,
 * so that the CI rule of {@link describeWithTool} can itself be tested.
 */
export function tool(name: 'gcore' | 'gdb'): string | null {
  const hidden = (process.env.KRYPTON_TEST_HIDE_TOOLS ?? '').split(',').map((s) => s.trim());
  return hidden.includes(name) ? null : which(name);
}

/** The message of a memory suite that cannot run under CI. */
export function toolRequiredMessage(name: string): string {
  return `${name} is required under CI=true: apt-get install gdb`;
}

/**
 * describe() for a suite that needs gcore or gdb, whose body gets the
 * tool's path. Installed: the suite runs. Missing under CI=true: the suite
 * FAILS, because a memory proof that skips makes a green build that proves
 * nothing. Missing elsewhere: the suite is skipped, with the reason in its
 * title.
 */
export function describeWithTool(name: 'gcore' | 'gdb', title: string, body: (path: string) => void): void {
  const path = tool(name);
  if (path !== null) {
    describe(title, () => body(path));
  } else if (process.env.CI === 'true') {
    describe(title, () => {
      it(`needs ${name}`, () => {
        throw new Error(toolRequiredMessage(name));
      });
    });
  } else {
    describe.skip(`${title} (${name} NOT INSTALLED: apt-get install gdb)`, () => body(''));
  }
}

/** Dumps the live process with gcore into dir, hands the core file to `read`, and deletes it. */
function withCoreDump<T>(gcore: string, pid: number, dir: string, read: (file: string) => T): T {
  const prefix = join(dir, `core-${pid}-${Date.now()}`);
  const file = `${prefix}.${pid}`;
  try {
    const r = spawnSync(gcore, ['-o', prefix, String(pid)], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`gcore failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
    if (statSync(file).size < MB) throw new Error('the core file is implausibly small');
    return read(file);
  } finally {
    rmSync(file, { force: true });
  }
}

/** Which of the named needles occur anywhere in a gcore dump of the live process. */
export function gcoreFinds(gcore: string, pid: number, dir: string, needles: Record<string, Buffer>): string[] {
  return withCoreDump(gcore, pid, dir, (file) =>
    Object.keys(needles).filter((name) => fileContains(file, needles[name])),
  );
}

/** Which of many needles (at least 4 bytes each) occur in a gcore dump of the live process, in one pass over it. */
export function gcoreFindsAny(gcore: string, pid: number, dir: string, needles: readonly Buffer[]): number[] {
  return withCoreDump(gcore, pid, dir, (file) => fileContainsAny(file, needles));
}

export function fileContainsAny(file: string, needles: readonly Buffer[]): number[] {
  // A bitmap of the needles' first 3 bytes filters almost every offset with
  // one typed-array read; only a hit looks at the needles behind it.
  const bits = new Uint8Array(1 << 21);
  const byPrefix = new Map<number, number[]>();
  let longest = 0;
  needles.forEach((n, i) => {
    if (n.length < 4) throw new Error('needles must be at least 4 bytes');
    const k = n[0] | (n[1] << 8) | (n[2] << 16);
    bits[k >>> 3] |= 1 << (k & 7);
    byPrefix.set(k, [...(byPrefix.get(k) ?? []), i]);
    longest = Math.max(longest, n.length);
  });
  const found = new Set<number>();
  const chunk = Buffer.allocUnsafe(16 * MB + longest);
  const fd = openSync(file, 'r');
  try {
    let pos = 0;
    let carry = 0;
    for (;;) {
      const n = readSync(fd, chunk, carry, chunk.length - carry, pos);
      if (n === 0) break;
      pos += n;
      const have = carry + n;
      for (let at = 0; at + 3 <= have; at++) {
        const k = chunk[at] | (chunk[at + 1] << 8) | (chunk[at + 2] << 16);
        if ((bits[k >>> 3] & (1 << (k & 7))) === 0) continue;
        for (const i of byPrefix.get(k) ?? []) {
          const needle = needles[i];
          if (at + needle.length <= have && chunk.compare(needle, 0, needle.length, at, at + needle.length) === 0)
            found.add(i);
        }
      }
      carry = Math.min(longest - 1, have);
      chunk.copy(chunk, 0, have - carry, have);
    }
  } finally {
    closeSync(fd);
  }
  return [...found].sort((a, b) => a - b);
}

export function fileContains(file: string, needle: Buffer): boolean {
  const chunk = Buffer.allocUnsafe(16 * MB + needle.length);
  const fd = openSync(file, 'r');
  try {
    let pos = 0;
    let carry = 0; // bytes kept from the previous chunk so a match may straddle chunks
    for (;;) {
      const n = readSync(fd, chunk, carry, chunk.length - carry, pos);
      if (n === 0) return false;
      pos += n;
      const have = carry + n;
      if (chunk.subarray(0, have).indexOf(needle) !== -1) return true;
      carry = Math.min(needle.length - 1, have);
      chunk.copy(chunk, 0, have - carry, have);
    }
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------- arena child

/** Environment of a child: none of the arena switches unless asked for. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.KRYPTON_ALLOW_UNLOCKED_MEMORY;
  delete env.KRYPTON_TEST_DUMPABLE_ARENA;
  delete env.KRYPTON_ARENA_BYTES;
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

/** Modes of test/fixtures/arena-child.mjs (see its header). */
export type ArenaChildMode = 'arena' | 'buffer' | 'bulk' | 'bulk-nowipe';

/**
 * A running test/fixtures/arena-child.mjs: one JSON line per answer on
 * stdout, commands on stdin.
 */
export class ArenaChild {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';
  private lines: string[] = [];
  private waiters: ((line: string) => void)[] = [];

  constructor(
    mode: ArenaChildMode,
    markerFile: string,
    env: NodeJS.ProcessEnv,
    cwd: string,
    prefix: string[] = [],
    addon = ADDON,
  ) {
    // A small heap keeps the dumps small.
    const argv = ['--max-old-space-size=16', '--max-semi-space-size=1', ARENA_CHILD, addon, mode, markerFile];
    const [cmd, ...args] = prefix.length > 0 ? [...prefix, process.execPath, ...argv] : [process.execPath, ...argv];
    this.proc = spawn(cmd, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((res) => this.proc.on('exit', (code, signal) => res({ code, signal })));
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      const w = this.waiters.shift();
      if (w) w(line);
      else this.lines.push(line);
    });
  }

  async next<T>(): Promise<T> {
    const line =
      this.lines.shift() ??
      (await new Promise<string>((res, rej) => {
        this.waiters.push(res);
        void this.exited.then((e) =>
          rej(new Error(`child exited (${e.code ?? e.signal}) before answering: ${this.stderr}`)),
        );
      }));
    return JSON.parse(line) as T;
  }

  send(cmd: string): void {
    this.proc.stdin!.write(`${cmd}\n`);
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
