/**
 * One loaded PKCS#11 module per library path, shared and reference-counted.
 * A Cryptoki library is process-wide state: a second C_Initialize fails and
 * a C_Finalize ends every session of every user, so providers must share
 * one initialisation and only the last one out may finalize. Login state is
 * per (application, token) too, which is why logins are tracked per slot.
 */
import { isAbsolute } from 'node:path';
import pkcs11js from 'pkcs11js';
import { KryptonError } from '../../errors.js';

export type Pkcs11 = InstanceType<typeof pkcs11js.PKCS11>;
export type Pkcs11Handle = Buffer;
export { pkcs11js };

export interface SharedModule {
  readonly path: string;
  readonly lib: Pkcs11;
  refs: number;
  /** Logged-in tokens by slot (hex of the slot handle). */
  readonly slots: Map<string, SlotLogin>;
}

/**
 * Login is per (application, token): once one session is logged in, C_Login
 * on another answers CKR_USER_ALREADY_LOGGED_IN whatever the PIN. So the
 * PIN that logged in is remembered as a keyed digest, and a later session
 * must present the same PIN; the last session out logs out.
 */
export interface SlotLogin {
  sessions: number;
  pinTag: Buffer;
}

const modules = new Map<string, SharedModule>();

/** The CKR_* name of a Cryptoki error, or undefined for anything else. */
export function ckrName(err: unknown): string | undefined {
  const m = /(CKR_[A-Z0-9_]+)/.exec(String((err as Error | null)?.message ?? ''));
  return m?.[1];
}

/**
 * A PKCS#11 failure as KEY_UNAVAILABLE. The message says what failed; the
 * library's own text (CKR code, method) rides only in `cause`, which goes to
 * the server log and never into a reply. Nothing here ever holds key bytes.
 */
export function unavailable(what: string, cause?: unknown): KryptonError {
  return new KryptonError('KEY_UNAVAILABLE', `pkcs11 L1: ${what}`, cause === undefined ? undefined : { cause });
}

export function acquireModule(path: string): SharedModule {
  // An absolute path only: a bare name would be resolved through the loader's search path.
  if (!isAbsolute(path)) throw new KryptonError('BAD_REQUEST', 'pkcs11 URI: module-path must be an absolute path');
  let m = modules.get(path);
  if (m === undefined) {
    const lib = new pkcs11js.PKCS11();
    try {
      lib.load(path);
    } catch (err) {
      throw unavailable('cannot load the PKCS#11 module', err);
    }
    try {
      lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (err) {
      // Someone else in the process initialised it: usable, but then not ours to finalize.
      if (ckrName(err) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
        safely(() => lib.close());
        throw unavailable('cannot initialise the PKCS#11 module', err);
      }
    }
    m = { path, lib, refs: 0, slots: new Map() };
    modules.set(path, m);
  }
  m.refs++;
  return m;
}

export function releaseModule(m: SharedModule): void {
  m.refs--;
  if (m.refs > 0) return;
  modules.delete(m.path);
  safely(() => m.lib.C_Finalize());
  safely(() => m.lib.close());
}

/** Best-effort cleanup call: its failure must not hide the error being reported. */
export function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // nothing to do: the resource is gone either way
  }
}
