/**
 * docs/design.md section 2, "The proof is a test": the key arena is locked,
 * excluded from core dumps, wiped on fork and fenced by guard pages, and a
 * key imported into it does not show up in a real core dump of a real
 * process. Every claim is checked through the kernel (/proc/<pid>/smaps),
 * gcore, gdb and child processes, not through the addon's own word.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { deriveK1, deriveL, xaesSubkey } from '../../bench/lib/xaes-node.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { arenaInfo } from '../../src/native/index.js';

import {
  ADDON,
  TEST_ADDON,
  ARENA_CHILD as CHILD,
  ArenaChild as Child,
  childEnv,
  describeWithTool,
  gcoreFinds,
  which,
} from '../helpers/core-dump.js';

const IS_ROOT = process.getuid?.() === 0;

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
      cur = {
        start: BigInt(`0x${head[1]}`),
        end: BigInt(`0x${head[2]}`),
        perms: head[3],
        fields: new Map(),
        vmFlags: [],
      };
      out.push(cur);
      continue;
    }
    if (cur === null) continue;
    const field = /^(\w+):\s+(.*)$/.exec(line);
    if (!field) continue;
    if (field[1] === 'VmFlags') cur.vmFlags = field[2].trim().split(/\s+/);
    else cur.fields.set(field[1], field[2].trim());
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

interface Ready {
  pid: number;
  opened: number;
  /** Hex nonce prefix of the blobs the child made (public). */
  prefix: string;
  keys: number;
  dontDump: boolean;
  base: string;
  size: number;
  guardBytes: number;
}

let work: string;
let marker: Buffer;
let markerFile: string;
/** Secrets the addon derives from the marker key (XAES, C2SP): L = AES-256_K(0^128), K1 = L << 1 (^ 0x87). */
let derived: { L: Buffer; K1: Buffer };

const xaesDerived = (key: Buffer): { L: Buffer; K1: Buffer } => ({ L: deriveL(key), K1: deriveK1(key) });
const children: Child[] = [];

function start(
  mode: 'arena' | 'buffer',
  env: Record<string, string> = {},
  prefix: string[] = [],
  addon = ADDON,
): Child {
  const c = new Child(mode, markerFile, childEnv(env), work, prefix, addon);
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

describeWithTool('gcore', 'core dumps of a process holding a marker key', (gcore) => {
  /** Dumps the live child with gcore; which needles occur in the dump. */
  const dumpFinds = (pid: number, needles: Record<string, Buffer>): string[] => gcoreFinds(gcore, pid, work, needles);

  it("a key imported into the arena and used for blobs does not appear in a gcore dump of the process, nor do its XAES L and K1; its per-epoch subkey goes once the thread's GCM contexts are wiped", async () => {
    const c = start('arena');
    const r = await c.next<Ready>();
    expect(r.opened).toBe(8);
    expect(r.keys).toBe(1);
    expect(r.dontDump).toBe(true);
    // The XAES subkey of the blobs' epoch, derived independently (C2SP).
    const subkey = xaesSubkey(marker, Buffer.from(r.prefix, 'hex'));
    // Neither the key nor the XAES secrets derived from it (L, K1). The
    // subkey does sit in OpenSSL's heap while the main thread's contexts
    // are keyed: the control that proves the subkey search works.
    expect(dumpFinds(r.pid, { marker, L: derived.L, K1: derived.K1, subkey })).toEqual(['subkey']);
    c.send('wipe');
    expect(await c.next<{ wiped: number }>()).toEqual({ wiped: 2 }); // the sealing epoch and the opening context
    expect(dumpFinds(r.pid, { marker, L: derived.L, K1: derived.K1, subkey })).toEqual([]);
  });

  it('control: the same marker kept in a JS Buffer IS found in the dump (the scan works)', async () => {
    const c = start('buffer');
    const r = await c.next<Ready>();
    expect(r.opened).toBe(8);
    expect(dumpFinds(r.pid, { marker })).toEqual(['marker']);
  });

  it('zeroizeAll wipes the key: with a dumpable arena the marker and K1 are in a first dump and gone from a second dump after zeroizeAll()', async () => {
    // the test build: the only one that reads the switch
    const c = start('arena', { KRYPTON_TEST_DUMPABLE_ARENA: '1' }, [], TEST_ADDON);
    const r = await c.next<Ready>();
    expect(r.dontDump).toBe(false);
    expect(c.stderr).toContain('KRYPTON_TEST_DUMPABLE_ARENA');
    // The arena holds the key and K1 (L is only a transient, wiped on the stack).
    expect(dumpFinds(r.pid, { marker, K1: derived.K1 })).toEqual(['marker', 'K1']);
    c.send('zeroize');
    const z = await c.next<{ zeroized: boolean; keys: number }>();
    expect(z).toEqual({ zeroized: true, keys: 0 });
    // Destroying a key also wipes the thread's GCM contexts (the next use
    // sees the store's generation move), but only on that next use: the
    // subkey is not among these needles.
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

describe.skipIf(NO_MLOCK === null)(
  `locking refusal${NO_MLOCK === null ? ' (needs prlimit and, as root, setpriv from util-linux)' : ''}`,
  () => {
    function loadInfo(env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
      const [cmd, ...args] = [...NO_MLOCK!, process.execPath, CHILD, ADDON, 'info'];
      const r = spawnSync(cmd, args, { env: childEnv(env), cwd: work, encoding: 'utf8', timeout: 30_000 });
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
  },
);

// gdb makes the child itself call memcmp() on an address: the load is the
// child's own, under the child's page protections (gdb's own memory reads
// would bypass them, so they prove nothing).
describeWithTool('gdb', 'guard pages fault on access', (gdb) => {
  function callMemcmp(pid: number, a: bigint, b: bigint, thenContinue: boolean): string {
    const args = ['-p', String(pid), '-batch', '-nx', '-ex', 'set unwindonsignal off', '-ex', 'set confirm off'];
    args.push('-ex', `print (int)memcmp((const void *)0x${a.toString(16)}, (const void *)0x${b.toString(16)}, 1)`);
    if (thenContinue) {
      args.push('-ex', 'print $_siginfo._sifields._sigfault.si_addr', '-ex', 'continue');
    }
    const r = spawnSync(gdb, args, { encoding: 'utf8', timeout: 60_000 });
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
    // gdb 13 on a CPU with AMX state cannot write the extended registers back
    // after an inferior call ("Couldn't write extended state status"): the
    // call ran, and the child's clean exit below is what shows it did not fault.
    if (!out.includes("Couldn't write extended state status")) expect(out).toMatch(/\$1 = -?\d+/);
    expect(out).not.toContain('SIGSEGV');
    c.send('exit');
    expect(await c.exited).toEqual({ code: 0, signal: null });
  });
});
