/**
 * Core dumps for the memory tests: gcore a live process and search the
 * dump for secrets that must not be there (or, in controls, must be).
 */
import { accessSync, closeSync, constants, openSync, readSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';

const MB = 1024 * 1024;

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
 * Dumps the live process with gcore into dir and reports which of the
 * needles occur anywhere in the core file, which is deleted before returning.
 */
export function gcoreFinds(gcore: string, pid: number, dir: string, needles: Record<string, Buffer>): string[] {
  const prefix = join(dir, `core-${pid}-${Date.now()}`);
  const file = `${prefix}.${pid}`;
  try {
    const r = spawnSync(gcore, ['-o', prefix, String(pid)], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`gcore failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
    if (statSync(file).size < MB) throw new Error('the core file is implausibly small');
    return Object.keys(needles).filter((name) => fileContains(file, needles[name]!));
  } finally {
    rmSync(file, { force: true });
  }
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

