/**
 * Process hardening for processes that hold keys (docs/design.md section 2):
 * not dumpable (no non-root ptrace, no core), RLIMIT_CORE = 0, and
 * optionally every page locked in RAM.
 */
import { isMainThread } from 'node:worker_threads';
import { fromNative } from '../errors.js';
import { view } from './addon.js';

interface HardeningNative {
  setDumpable(on: boolean): void;
  getDumpable(): boolean;
  disableCoreDumps(): void;
  coreDumpLimit(): number;
  lockAllMemory(): { ok: boolean; error?: string };
  unlockAllMemory(): { ok: boolean; error?: string };
  memoryLocked(): boolean;
}

const native = view<HardeningNative>();

export interface HardeningOptions {
  /** Leave the process dumpable (debugging). Default false: PR_SET_DUMPABLE = 0. */
  dumpable?: boolean;
  /** Leave core dumps allowed. Default false: RLIMIT_CORE soft and hard = 0. */
  coreDumps?: boolean;
  /** mlockall(MCL_CURRENT | MCL_FUTURE). Default false: the key arena is locked anyway. */
  lockAll?: boolean;
}

export interface HardeningState {
  dumpable: boolean;
  /** Soft RLIMIT_CORE in bytes; Infinity when unlimited. */
  coreLimit: number;
  /** mlockall succeeded in this process. */
  memoryLocked: boolean;
  /** Why mlockall failed, when it was asked for and failed. */
  lockError?: string;
}

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

let unlockOnExit = false;

/**
 * mlockall, from the main thread only (it is process-wide, and the exit
 * hook below must belong to the thread whose exit ends the process).
 * Linux refuses MADV_DONTNEED on locked pages and V8 aborts when that
 * happens while it frees code pages at teardown, so memory is unlocked
 * again on 'exit' (the key arena stays locked).
 */
function lockAllMemory(): string | undefined {
  if (!isMainThread) return 'lockAll is only allowed on the main thread';
  const r = native.lockAllMemory();
  if (!r.ok) return r.error ?? 'mlockall failed';
  if (!unlockOnExit) {
    unlockOnExit = true;
    process.once('exit', () => {
      unlockOnExit = false;
      native.unlockAllMemory();
    });
  }
  return undefined;
}

/** The current hardening state of the process. */
export function processHardening(): HardeningState {
  return call(() => ({
    dumpable: native.getDumpable(),
    coreLimit: native.coreDumpLimit(),
    memoryLocked: native.memoryLocked(),
  }));
}

/**
 * Applies the hardening asked for and returns the resulting state. It only
 * ever tightens: `dumpable: true` or `coreDumps: true` leave the current
 * setting as it is rather than loosening it. A failed mlockall is reported
 * in `lockError`, not thrown, so the caller decides whether it is fatal.
 */
export function hardenProcess({
  dumpable = false,
  coreDumps = false,
  lockAll = false,
}: HardeningOptions = {}): HardeningState {
  if (!dumpable) call(() => native.setDumpable(false));
  if (!coreDumps) call(() => native.disableCoreDumps());
  const lockError = lockAll ? lockAllMemory() : undefined;
  const state = processHardening();
  return lockError === undefined ? state : { ...state, lockError };
}
