/**
 * DESIGN.md section 2, "The proof is a test": the key arena is locked,
 * excluded from core dumps, wiped on fork and fenced by guard pages, and a
 * key imported into it does not show up in a real core dump of a real
 * process. Every claim is checked through the kernel (/proc/<pid>/smaps),
 * gcore, gdb and child processes, not through the addon's own word.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { deriveK1, deriveL } from '../../bench/lib/xaes-node.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { arenaInfo } from '../../src/native/index.js';

import { gcoreFinds, which } from '../helpers/core-dump.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADDON = join(ROOT, 'build', 'Release', 'krypton.node');
const CHILD = join(ROOT, 'test', 'fixtures', 'arena-child.mjs');
const IS_ROOT = process.getuid?.() === 0;

const GCORE = which('gcore');
const GDB = which('gdb');
const SETPRIV = which('setpriv');
const PRLIMIT = which('prlimit');

// ---------------------------------------------------------------- /proc/*/smaps

interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  fields: Map<string, string>;
  vmFlags: string[];
}

function readSmaps(pid: number | 'self'): Mapping[] {
  const out: Mapping[] = [];
  let cur: Mapping | null = null;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) /.exec(line);
    if (head) {
      cur = { start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perms: head[3]!, fields: new Map(), vmFlags: [] };
      out.push(cur);
      continue;
    }
    if (cur === null) continue;
    const field = /^(\w+):\s+(.*)$/.exec(line);
    if (!field) continue;
    if (field[1] === 'VmFlags') cur.vmFlags = field[2]!.trim().split(/\s+/);
    else cur.fields.set(field[1]!, field[2]!.trim());
  }
  return out;
}

/** "2048 kB" -> bytes */
function kb(v: string | undefined): number {
  const m = /^(\d+) kB$/.exec(v ?? '');
  if (!m) throw new Error(`not a kB field: ${v}`);
  return Number(m[1]) * 1024;
}

// ---------------------------------------------------------------- children


/** Environment of a child: none of the arena switches unless asked for. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.KRYPTON_ALLOW_UNLOCKED_MEMORY;
  delete env.KRYPTON_TEST_DUMPABLE_ARENA;
  delete env.KRYPTON_ARENA_BYTES;
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

interface Ready {
  pid: number;
  opened: number;
  keys: number;
  dontDump: boolean;
  base: string;
  size: number;
  guardBytes: number;
}

class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr = '';
  private lines: string[] = [];
  private waiters: ((line: string) => void)[] = [];

  constructor(mode: 'arena' | 'buffer', markerFile: string, env: NodeJS.ProcessEnv, cwd: string, prefix: string[] = []) {
    // A small heap keeps the dumps small.
    const argv = ['--max-old-space-size=16', '--max-semi-space-size=1', CHILD, ADDON, mode, markerFile];
    const [cmd, ...args] = prefix.length > 0 ? [...prefix, process.execPath, ...argv] : [process.execPath, ...argv];
    this.proc = spawn(cmd!, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
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
        void this.exited.then((e) => rej(new Error(`child exited (${e.code ?? e.signal}) before answering: ${this.stderr}`)));
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

let work: string;
let marker: Buffer;
let markerFile: string;
/** Secrets the addon derives from the marker key (XAES, C2SP): L = AES-256_K(0^128), K1 = L << 1 (^ 0x87). */
let derived: { L: Buffer; K1: Buffer };

const xaesDerived = (key: Buffer): { L: Buffer; K1: Buffer } => ({ L: deriveL(key), K1: deriveK1(key) });
const children: Child[] = [];

function start(mode: 'arena' | 'buffer', env: Record<string, string> = {}, prefix: string[] = []): Child {
  const c = new Child(mode, markerFile, childEnv(env), work, prefix);
  children.push(c);
  return c;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'krypton-memtest-'));
  // A fresh random marker per run; only the children read it (as bytes).
  marker = randomBytes(32);
  markerFile = join(work, 'marker.bin');
  writeFileSync(markerFile, marker, { mode: 0o600 });
  derived = xaesDerived(marker);
});

afterEach(() => {
  for (const c of children.splice(0)) c.kill();
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------- dumps

/** Dumps the live child with gcore; which needles occur in the dump. */
function dumpFinds(pid: number, needles: Record<string, Buffer>): string[] {
  return gcoreFinds(GCORE!, pid, work, needles);
}

function dumpContainsMarker(pid: number): boolean {
  return dumpFinds(pid, { marker }).length > 0;
}

// ---------------------------------------------------------------- tests

describe('secure arena mapping (/proc/self/smaps of this process)', () => {
  it('the arena is one mapping of arenaInfo().size that is mlocked (lo, Locked = size), excluded from dumps (dd) and wiped on fork (wf)', () => {
    const a = arenaInfo();
    expect(a.locked).toBe(true);
    const maps = readSmaps('self');
    const arena = maps.find((m) => m.start === a.base);
    expect(arena, `no mapping starts at the arena base 0x${a.base.toString(16)}`).toBeDefined();
    expect(arena!.end - arena!.start).toBe(BigInt(a.size));
    expect(arena!.perms).toBe('rw-p');
    expect(arena!.vmFlags).toEqual(expect.arrayContaining(['lo', 'dd', 'wf']));
    expect(kb(arena!.fields.get('Locked'))).toBe(a.size);
    expect(kb(arena!.fields.get('Rss'))).toBe(a.size);
  });

  it('PROT_NONE guard mappings (---p) of at least arenaInfo().guardBytes sit directly before and after the arena', () => {
    const a = arenaInfo();
    expect(a.guardBytes).toBeGreaterThanOrEqual(4096);
    const maps = readSmaps('self');
    const end = a.base + BigInt(a.size);
    const guard = BigInt(a.guardBytes);
    // Adjacent PROT_NONE reservations of others may merge with a guard, so
    // the guard mapping must cover the guard range, not equal it.
    const before = maps.find((m) => m.end === a.base);
    const after = maps.find((m) => m.start === end);
    expect(before, 'no mapping ends at the arena base').toBeDefined();
    expect(after, 'no mapping starts at the arena end').toBeDefined();
    expect(before!.perms).toBe('---p');
    expect(after!.perms).toBe('---p');
    expect(before!.start <= a.base - guard).toBe(true);
    expect(after!.end >= end + guard).toBe(true);
  });
});

describe.skipIf(GCORE === null)(`core dumps of a process holding a marker key (gcore${GCORE === null ? ' NOT INSTALLED: apt-get install gdb' : ''})`, () => {
  it('a key imported into the arena and used for blobs does not appear in a gcore dump of the process, nor do its XAES L and K1', async () => {
    const c = start('arena');
    const r = await c.next<Ready>();
    expect(r.opened).toBe(8);
    expect(r.keys).toBe(1);
    expect(r.dontDump).toBe(true);
    // Neither the key nor the XAES secrets derived from it (L, K1).
    expect(dumpFinds(r.pid, { marker, L: derived.L, K1: derived.K1 })).toEqual([]);
  });

  it('control: the same marker kept in a JS Buffer IS found in the dump (the scan works)', async () => {
    const c = start('buffer');
    const r = await c.next<Ready>();
    expect(r.opened).toBe(8);
    expect(dumpContainsMarker(r.pid)).toBe(true);
  });

  it('zeroizeAll wipes the key: with a dumpable arena the marker and K1 are in a first dump and gone from a second dump after zeroizeAll()', async () => {
    const c = start('arena', { KRYPTON_TEST_DUMPABLE_ARENA: '1' });
    const r = await c.next<Ready>();
    expect(r.dontDump).toBe(false);
    expect(c.stderr).toContain('KRYPTON_TEST_DUMPABLE_ARENA');
    // The arena holds the key and K1 (L is only a transient, wiped on the stack).
    expect(dumpFinds(r.pid, { marker, K1: derived.K1 })).toEqual(['marker', 'K1']);
    c.send('zeroize');
    const z = await c.next<{ zeroized: boolean; keys: number }>();
    expect(z).toEqual({ zeroized: true, keys: 0 });
    expect(dumpFinds(r.pid, { marker, L: derived.L, K1: derived.K1 })).toEqual([]);
  });
});

// A child that cannot mlock: as root, drop CAP_IPC_LOCK (which bypasses
// RLIMIT_MEMLOCK) from every capability set, then set RLIMIT_MEMLOCK to 0.
const NO_MLOCK: string[] | null =
  PRLIMIT === null
    ? null
    : IS_ROOT
      ? SETPRIV === null
        ? null
        : [SETPRIV, '--inh-caps=-ipc_lock', '--bounding-set=-ipc_lock', PRLIMIT, '--memlock=0:0']
      : [PRLIMIT, '--memlock=0:0'];

describe.skipIf(NO_MLOCK === null)(`locking refusal${NO_MLOCK === null ? ' (needs prlimit and, as root, setpriv from util-linux)' : ''}`, () => {
  function loadInfo(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
    const [cmd, ...args] = [...NO_MLOCK!, process.execPath, CHILD, ADDON, 'info'];
    const r = spawnSync(cmd!, args, { env: childEnv(env), cwd: work, encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('a process that cannot mlock the arena fails to load the addon with "REFUSING TO START"', () => {
    const r = loadInfo({});
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('krypton: REFUSING TO START: cannot mlock');
    expect(r.stdout).toBe('');
  });

  it('with KRYPTON_ALLOW_UNLOCKED_MEMORY=1 it loads, warns loudly on stderr, and arenaInfo().locked is false', () => {
    const r = loadInfo({ KRYPTON_ALLOW_UNLOCKED_MEMORY: '1' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('krypton: WARNING: key arena is NOT locked in memory');
    const info = JSON.parse(r.stdout) as { locked: boolean; dontDump: boolean; wipeOnFork: boolean };
    expect(info.locked).toBe(false);
    expect(info.dontDump).toBe(true);
    expect(info.wipeOnFork).toBe(true);
  });
});

// gdb makes the child itself call memcmp() on an address: the load is the
// child's own, under the child's page protections (gdb's own memory reads
// would bypass them, so they prove nothing).
describe.skipIf(GDB === null)(`guard pages fault on access (gdb${GDB === null ? ' NOT INSTALLED: apt-get install gdb' : ''})`, () => {
  function callMemcmp(pid: number, a: bigint, b: bigint, thenContinue: boolean): string {
    const args = ['-p', String(pid), '-batch', '-nx', '-ex', 'set unwindonsignal off', '-ex', 'set confirm off'];
    args.push('-ex', `print (int)memcmp((const void *)0x${a.toString(16)}, (const void *)0x${b.toString(16)}, 1)`);
    if (thenContinue) {
      args.push('-ex', 'print $_siginfo._sifields._sigfault.si_addr', '-ex', 'continue');
    }
    const r = spawnSync(GDB!, args, { encoding: 'utf8', timeout: 60_000 });
    return `${r.stdout}\n${r.stderr}`;
  }

  async function faultsAt(which: 'before' | 'after'): Promise<void> {
    // Keep a crashed child from writing a core file.
    const c = start('arena', {}, PRLIMIT === null ? [] : [PRLIMIT, '--core=0:0']);
    const r = await c.next<Ready>();
    const base = BigInt(r.base);
    const addr = which === 'before' ? base - 1n : base + BigInt(r.size);
    const out = callMemcmp(r.pid, addr, base, true);
    expect(out).toContain('SIGSEGV');
    expect(out).toContain(`0x${addr.toString(16)}`);
    const e = await c.exited;
    expect(e.signal).toBe('SIGSEGV');
  }

  it('reading the byte just before the arena (leading guard page) kills the process with SIGSEGV at that address', async () => {
    await faultsAt('before');
  });

  it('reading the byte just past the arena (trailing guard page) kills the process with SIGSEGV at that address', async () => {
    await faultsAt('after');
  });

  it('control: reading the first and last usable bytes of the arena the same way does not fault', async () => {
    const c = start('arena');
    const r = await c.next<Ready>();
    const base = BigInt(r.base);
    const out = callMemcmp(r.pid, base, base + BigInt(r.size) - 1n, false);
    expect(out).toMatch(/\$1 = -?\d+/);
    expect(out).not.toContain('SIGSEGV');
    c.send('exit');
    expect(await c.exited).toEqual({ code: 0, signal: null });
  });
});
