import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hardenProcess, processHardening } from '../../src/native/index.js';

// Hardening changes the whole process, so it runs in child processes. A
// plain node child cannot import the TypeScript sources, so the child
// loads the addon directly and drives its raw exports, in the order
// hardenProcess uses them.
const ADDON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'krypton.node');

const PRELUDE = `
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const addon = createRequire(import.meta.url)(${JSON.stringify(ADDON)});
const status = (field) => readFileSync('/proc/self/status', 'utf8').match(new RegExp('^' + field + ':\\\\s*(.*)$', 'm'))[1].trim();
const coreLine = () => readFileSync('/proc/self/limits', 'utf8').split('\\n').find((l) => l.startsWith('Max core file size'));
const out = {};
`;

/**
 * Runs body in a fresh node and returns the JSON it prints. With
 * unlimitedCores the shell first raises the soft core limit, so that
 * lowering it is observable; the child runs in the temp directory so a
 * crash can never leave a core file in the checkout.
 */
function child(body: string, { unlimitedCores = false } = {}): Record<string, unknown> {
  const script = `${PRELUDE}\n${body}\nconsole.log(JSON.stringify(out));`;
  const raise = unlimitedCores ? 'ulimit -S -c unlimited 2>/dev/null; ' : '';
  const r = spawnSync(
    '/bin/sh',
    ['-c', `${raise}exec "$0" "$@"`, process.execPath, '--input-type=module', '-e', script],
    { encoding: 'utf8', timeout: 30_000, cwd: tmpdir() },
  );
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('process hardening', () => {
  it('the addon binary exists for the child processes', () => {
    expect(existsSync(ADDON)).toBe(true);
  });

  it('setDumpable(false) makes PR_GET_DUMPABLE report not dumpable, and setDumpable(true) restores it', () => {
    const out = child(`
      out.before = addon.getDumpable();
      addon.setDumpable(false);
      out.after = addon.getDumpable();
      addon.setDumpable(true);
      out.restored = addon.getDumpable();
    `);
    expect(out.before).toBe(true);
    expect(out.after).toBe(false);
    expect(out.restored).toBe(true);
  });

  it('disableCoreDumps sets RLIMIT_CORE soft and hard to 0, as /proc/self/limits confirms', () => {
    const out = child(
      `
      out.beforeLimit = addon.coreDumpLimit() === Infinity ? 'Infinity' : addon.coreDumpLimit();
      out.beforeLine = coreLine();
      addon.disableCoreDumps();
      out.afterLimit = addon.coreDumpLimit();
      out.afterLine = coreLine();
    `,
      { unlimitedCores: true },
    );
    expect(out.beforeLimit).toBe('Infinity');
    expect(out.beforeLine).toMatch(/^Max core file size\s+unlimited\s+unlimited\s+bytes/);
    expect(out.afterLimit).toBe(0);
    expect(out.afterLine).toMatch(/^Max core file size\s+0\s+0\s+bytes/);
  });

  it('the full hardening sequence (not dumpable, no cores) holds together in one process', () => {
    const out = child(`
      addon.setDumpable(false);
      addon.disableCoreDumps();
      out.dumpable = addon.getDumpable();
      out.limit = addon.coreDumpLimit();
      out.line = coreLine();
      out.locked = addon.memoryLocked();
    `);
    expect(out).toMatchObject({ dumpable: false, limit: 0, locked: false });
    expect(out.line).toMatch(/^Max core file size\s+0\s+0\s+bytes/);
  });

  it('lockAllMemory (mlockall) succeeds as root and VmLck grows beyond the key arena', () => {
    const out = child(`
      out.before = parseInt(status('VmLck'), 10);
      out.lockedBefore = addon.memoryLocked();
      out.result = addon.lockAllMemory();
      out.after = parseInt(status('VmLck'), 10);
      out.lockedAfter = addon.memoryLocked();
      // V8 aborts at teardown if memory is still locked (see hardening.h).
      process.once('exit', () => addon.unlockAllMemory());
    `);
    expect(out.result).toEqual({ ok: true });
    expect(out.lockedBefore).toBe(false);
    expect(out.lockedAfter).toBe(true);
    expect(out.after as number).toBeGreaterThan(out.before as number);
  });

  it('unlockAllMemory undoes mlockall but keeps the key arena locked, and the process then exits cleanly', () => {
    const out = child(`
      const arenaKiB = addon.arenaInfo().size / 1024;
      out.arenaLocked = addon.arenaInfo().locked;
      out.lock = addon.lockAllMemory();
      out.during = parseInt(status('VmLck'), 10);
      out.unlock = addon.unlockAllMemory();
      out.after = parseInt(status('VmLck'), 10);
      out.arenaKiB = arenaKiB;
      out.locked = addon.memoryLocked();
    `);
    expect(out.arenaLocked).toBe(true);
    expect(out.lock).toEqual({ ok: true });
    expect(out.unlock).toEqual({ ok: true });
    expect(out.locked).toBe(false);
    expect(out.after as number).toBeLessThan(out.during as number);
    expect(out.after as number).toBeGreaterThanOrEqual(out.arenaKiB as number);
  });

  it('processHardening reports the current state, and hardenProcess with nothing to tighten changes nothing', () => {
    const before = processHardening();
    expect(typeof before.dumpable).toBe('boolean');
    expect(before.coreLimit === Infinity || Number.isInteger(before.coreLimit)).toBe(true);
    expect(before.memoryLocked).toBe(false);
    const after = hardenProcess({ dumpable: true, coreDumps: true, lockAll: false });
    expect(after).toEqual(before);
  });
});
