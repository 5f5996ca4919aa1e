/**
 * `soft` L1: a 32-byte key file, for development. The key is read once into
 * a Buffer, copied into the native store and the Buffer wiped, so after open
 * only a handle is left in JS. Wrapping is the store's XAES-256-GCM.
 *
 * Removing or replacing the file is how a developer "unlinks" the L1: every
 * operation first checks the file is still the one that was opened, so the
 * binding fails closed (KEY_UNAVAILABLE) instead of serving from memory.
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, statSync, writeSync, constants as fsc } from 'node:fs';
import type { Stats } from 'node:fs';
import { errors, KryptonError } from '../../errors.js';
import { destroyKey, generateKey, hmacSha256, importKey, unwrapKey, wrapKey } from '../../native/index.js';
import type { KeyHandle } from '../../native/index.js';
import type { L1Provider, WrappedL2 } from './provider.js';

export const SOFT_L1_KEY_BYTES = 32;

/** Fixed input of the key check value that tells whether the file still holds the opened key. */
const KCV_LABEL = Buffer.from('krypton/l1/soft/kcv/v1');

function unavailable(message: string, cause?: unknown): KryptonError {
  return new KryptonError('KEY_UNAVAILABLE', message, cause === undefined ? undefined : { cause });
}

/**
 * Creates a new key file of 32 random bytes, mode 0600. Refuses to
 * overwrite an existing file: that would orphan every L2 bound to it.
 */
export function createSoftL1Key(path: string): void {
  const key = Buffer.alloc(SOFT_L1_KEY_BYTES); // alloc, never the shared pool
  let fd: number | undefined;
  try {
    try {
      fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw errors.badRequest('L1 key file already exists');
      throw unavailable('cannot create the L1 key file', err);
    }
    randomFillSync(key);
    writeSync(fd, key);
    fsyncSync(fd);
  } finally {
    key.fill(0);
    if (fd !== undefined) closeSync(fd);
  }
}

/** Identity of the file as seen by stat: a change means the file must be re-verified. */
function fileSignature(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** Reads the key file straight into the store; the read Buffer is wiped on every path. */
function importKeyFile(path: string): { handle: KeyHandle; signature: string } {
  const key = Buffer.alloc(SOFT_L1_KEY_BYTES);
  let fd: number | undefined;
  try {
    try {
      fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      throw unavailable('the L1 key file is missing or unreadable', err);
    }
    const st = fstatSync(fd);
    if (!st.isFile() || st.size !== SOFT_L1_KEY_BYTES) throw unavailable('the L1 key file is not a 32-byte key file');
    // Like ssh with private keys: a key readable by others is not a root of trust.
    if ((st.mode & 0o077) !== 0) throw unavailable('the L1 key file is accessible by group or others (chmod 600)');
    let read = 0;
    while (read < SOFT_L1_KEY_BYTES) {
      const n = readSync(fd, key, read, SOFT_L1_KEY_BYTES - read, read);
      if (n === 0) throw unavailable('the L1 key file is truncated');
      read += n;
    }
    return { handle: importKey(key), signature: fileSignature(st) };
  } finally {
    key.fill(0);
    if (fd !== undefined) closeSync(fd);
  }
}

export class SoftL1Provider implements L1Provider {
  readonly kind = 'soft' as const;
  readonly ref: string;
  #handle: KeyHandle | undefined;
  #signature: string;
  readonly #kcv: Buffer;

  private constructor(path: string, handle: KeyHandle, signature: string) {
    this.ref = path;
    this.#handle = handle;
    this.#signature = signature;
    this.#kcv = hmacSha256(handle, KCV_LABEL);
  }

  /** Opens the key file at `path`; missing or malformed: KEY_UNAVAILABLE. */
  static open(path: string): SoftL1Provider {
    const { handle, signature } = importKeyFile(path);
    try {
      return new SoftL1Provider(path, handle, signature);
    } catch (err) {
      destroyKey(handle);
      throw err;
    }
  }

  async wrap(l2: KeyHandle, aad: Uint8Array): Promise<Buffer> {
    return wrapKey(this.#verified(), l2, aad);
  }

  async generateWrapped(aad: Uint8Array): Promise<WrappedL2> {
    const l1 = this.#verified();
    const handle = generateKey(32);
    try {
      return { handle, wrapped: wrapKey(l1, handle, aad) };
    } catch (err) {
      destroyKey(handle);
      throw err;
    }
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<KeyHandle> {
    return unwrapKey(this.#verified(), wrapped, aad);
  }

  async check(): Promise<void> {
    this.#verified();
  }

  async close(): Promise<void> {
    const h = this.#handle;
    this.#handle = undefined;
    if (h !== undefined) destroyKey(h);
  }

  /** The handle, after making sure the file on disk is still the key that was opened. */
  #verified(): KeyHandle {
    const h = this.#handle;
    if (h === undefined) throw unavailable('the L1 provider is closed');
    let st: Stats;
    try {
      st = statSync(this.ref);
    } catch (err) {
      throw unavailable('the L1 key file is missing', err);
    }
    const signature = fileSignature(st);
    if (signature === this.#signature) return h;
    // The file was touched: compare key check values rather than trusting metadata.
    const fresh = importKeyFile(this.ref);
    try {
      if (!hmacSha256(fresh.handle, KCV_LABEL).equals(this.#kcv)) {
        throw unavailable('the L1 key file has changed');
      }
      this.#signature = fresh.signature;
      return h;
    } finally {
      destroyKey(fresh.handle);
    }
  }
}
