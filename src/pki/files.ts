/** Writing PKI files: keys private to the owner, written whole or not at all. */
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

/**
 * Writes through a temporary file and a rename, so a crash never leaves a
 * half-written key or a certificate without its key's mode set.
 */
export async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(tmp, data, { mode, flag: 'wx' });
  // The umask may have narrowed or (for an existing path) not applied the mode.
  await chmod(tmp, mode);
  await rename(tmp, path);
}

export const KEY_MODE = 0o600;
export const CERT_MODE = 0o644;
