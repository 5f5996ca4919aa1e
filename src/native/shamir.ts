/**
 * Shamir secret sharing of stored keys over GF(2^8) (docs/design.md section 2:
 * the MasterKey is split into operator shares, 3 of 5 by default).
 *
 * A share is x (1 byte, 1..N) || y (key length bytes). Shares go to
 * operators, so they are returned to JS by design; the combined key is
 * rebuilt inside the addon's arena and only its handle comes back.
 * Shamir cannot detect a wrong share: a bad share silently yields a
 * different key, which the Core catches with its key check value.
 */
import { errors, fromNative } from '../errors.js';
import { view } from './addon.js';
import { keyLength, type KeyHandle } from './keystore.js';

interface ShamirNative {
  shamirSplit(handle: number, threshold: number, shares: number, out: Buffer): void;
  shamirCombine(shares: Uint8Array[]): number;
}

const native = view<ShamirNative>();

export const MIN_SHARES = 2;
export const MAX_SHARES = 255;
const MIN_KEY_BYTES = 16;
const MAX_KEY_BYTES = 64;

export interface SplitOptions {
  /** Shares needed to rebuild the key (2..shares); default 3. */
  threshold?: number;
  /** Shares to make (2..255); default 5. */
  shares?: number;
}

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}

function checkSplit(threshold: number, shares: number): void {
  if (!Number.isInteger(shares) || shares < MIN_SHARES || shares > MAX_SHARES) {
    throw errors.badRequest(`shares must be an integer from ${MIN_SHARES} to ${MAX_SHARES}`);
  }
  if (!Number.isInteger(threshold) || threshold < MIN_SHARES || threshold > shares) {
    throw errors.badRequest(`threshold must be an integer from ${MIN_SHARES} to shares (${shares})`);
  }
}

/**
 * Splits the key of `handle` into `shares` shares, any `threshold` of which
 * rebuild it. Each share is its own Buffer (not a view of a shared one), so
 * handing one to an operator hands over nothing else.
 */
export function splitKey(handle: KeyHandle, { threshold = 3, shares = 5 }: SplitOptions = {}): Buffer[] {
  checkSplit(threshold, shares);
  const stride = 1 + keyLength(handle);
  const all = Buffer.alloc(shares * stride);
  try {
    call(() => native.shamirSplit(handle, threshold, shares, all));
    const out: Buffer[] = [];
    for (let i = 0; i < shares; i++) {
      const share = Buffer.alloc(stride); // alloc, not from(): never the shared pool
      all.copy(share, 0, i * stride, (i + 1) * stride);
      out.push(share);
    }
    return out;
  } finally {
    all.fill(0);
  }
}

function checkShares(shares: readonly Uint8Array[]): void {
  if (!Array.isArray(shares)) throw errors.badRequest('shares must be an array of Uint8Array');
  if (shares.length < MIN_SHARES) throw errors.badRequest(`at least ${MIN_SHARES} shares are needed`);
  if (shares.length > MAX_SHARES) throw errors.badRequest(`at most ${MAX_SHARES} shares can be combined`);
  const seen = new Set<number>();
  const length = (shares[0] as Uint8Array | undefined)?.length;
  for (const [i, share] of shares.entries()) {
    if (!(share instanceof Uint8Array)) throw errors.badRequest(`share ${i} must be a Uint8Array`);
    if (share.length !== length) throw errors.badRequest('all shares must have the same length');
    const x = share[0]!;
    if (x === 0) throw errors.badRequest(`share ${i} has x = 0, which is not a valid share`);
    if (seen.has(x)) throw errors.badRequest(`share ${i} repeats x = ${x}`);
    seen.add(x);
  }
  const keyBytes = (length ?? 0) - 1;
  if (keyBytes < MIN_KEY_BYTES || keyBytes > MAX_KEY_BYTES) {
    throw errors.badRequest(`a share must be 1 + ${MIN_KEY_BYTES}..${MAX_KEY_BYTES} bytes long`);
  }
}

/**
 * Rebuilds a key from `threshold` or more shares straight into the store.
 * Fewer shares, or a wrong one, give a different key without any error.
 */
export function combineShares(shares: Uint8Array[]): KeyHandle {
  checkShares(shares);
  return call(() => native.shamirCombine(shares));
}
