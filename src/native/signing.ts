/**
 * Ed25519 signing keys (RFC 8032) for the actors' identities: Orbital events
 * and leases are signed with them. The private key (its 32-byte seed) lives
 * in the addon's arena as a stored key; JS holds a handle. A key file is
 * read as bytes and decoded without ever becoming a string (a string cannot
 * be wiped), and every buffer that held it is wiped before load() returns.
 * Verification needs only the public key, so it uses node:crypto.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors, fromNative } from '../errors.js';
import { view } from './addon.js';
import { destroyKey, importKey, type KeyHandle } from './keystore.js';

interface SigningNative {
  ed25519Sign(handle: number, message: Uint8Array, out: Buffer): void;
  ed25519PublicKey(handle: number, out: Buffer): void;
  ED25519_SIGNATURE_BYTES: number;
  ED25519_PUBLIC_BYTES: number;
}

const native = view<SigningNative>();

export const ED25519_SIGNATURE_BYTES = native.ED25519_SIGNATURE_BYTES;
export const ED25519_PUBLIC_BYTES = native.ED25519_PUBLIC_BYTES;

/** PKCS#8 of an Ed25519 private key: this prefix, then the 32-byte seed (RFC 8410). */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
/** SubjectPublicKeyInfo of an Ed25519 public key: this prefix, then the 32-byte key. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const B64 = new Int16Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  .split('')
  .forEach((c, i) => (B64[c.charCodeAt(0)] = i));

/** The DER between a PEM file's BEGIN and END lines, decoded byte by byte (no string is made of it). */
function pemBody(pem: Uint8Array, label: string): Buffer {
  const begin = Buffer.from(`-----BEGIN ${label}-----`);
  const end = Buffer.from(`-----END ${label}-----`);
  const file = Buffer.from(pem.buffer, pem.byteOffset, pem.byteLength);
  const from = file.indexOf(begin);
  const to = file.indexOf(end);
  if (from < 0 || to < from) throw errors.badRequest(`not a PEM ${label}`);
  const out = Buffer.alloc(Math.ceil(((to - from) * 3) / 4));
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (let i = from + begin.length; i < to; i++) {
    const c = file[i]!;
    if (c === 0x3d) break; // '=': padding, the end of the data
    const v = B64[c]!;
    if (v < 0) {
      if (c === 0x0a || c === 0x0d || c === 0x20 || c === 0x09) continue;
      out.fill(0);
      throw errors.badRequest(`not a PEM ${label}`);
    }
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, n);
}

export class SigningKey {
  private constructor(
    private handle: KeyHandle | null,
    /** The raw 32-byte public key. */
    readonly publicKey: Buffer,
  ) {}

  /** A signing key from its 32-byte seed (copied into the arena; the caller wipes its copy). */
  static fromSeed(seed: Uint8Array): SigningKey {
    if (seed.length !== 32) throw errors.badRequest('an Ed25519 seed is 32 bytes');
    const handle = importKey(seed);
    try {
      const pub = Buffer.alloc(ED25519_PUBLIC_BYTES);
      native.ed25519PublicKey(handle, pub);
      return new SigningKey(handle, pub);
    } catch (err) {
      destroyKey(handle);
      throw fromNative(err);
    }
  }

  /** A signing key from a PKCS#8 PEM private key file's bytes (Ed25519); wipes what it decoded. */
  static fromPem(pem: Uint8Array): SigningKey {
    const der = pemBody(pem, 'PRIVATE KEY');
    try {
      if (der.length !== PKCS8_PREFIX.length + 32 || !der.subarray(0, PKCS8_PREFIX.length).equals(PKCS8_PREFIX)) {
        throw errors.badRequest('not an Ed25519 PKCS#8 private key');
      }
      return SigningKey.fromSeed(der.subarray(PKCS8_PREFIX.length));
    } finally {
      der.fill(0);
    }
  }

  /** Loads a key file (PKCS#8 PEM, Ed25519); the file's bytes are wiped once the key is in the arena. */
  static load(path: string): SigningKey {
    const pem = readFileSync(path);
    try {
      return SigningKey.fromPem(pem);
    } finally {
      pem.fill(0);
    }
  }

  /** The 64-byte Ed25519 signature of `message`. */
  sign(message: Uint8Array): Buffer {
    if (this.handle === null) throw errors.keyUnavailable('the signing key was destroyed');
    const sig = Buffer.alloc(ED25519_SIGNATURE_BYTES);
    try {
      native.ed25519Sign(this.handle, message, sig);
    } catch (err) {
      throw fromNative(err);
    }
    return sig;
  }

  /** Zeroizes the private key. */
  destroy(): void {
    if (this.handle === null) return;
    const h = this.handle;
    this.handle = null;
    destroyKey(h);
  }
}

/** The raw 32-byte Ed25519 public key in a SubjectPublicKeyInfo PEM (a `.pub` file of `krypton pki init`). */
export function publicKeyFromPem(pem: string | Uint8Array): Buffer {
  const der = pemBody(typeof pem === 'string' ? Buffer.from(pem) : pem, 'PUBLIC KEY');
  if (der.length !== SPKI_PREFIX.length + 32 || !der.subarray(0, SPKI_PREFIX.length).equals(SPKI_PREFIX)) {
    throw errors.badRequest('not an Ed25519 public key');
  }
  return Buffer.from(der.subarray(SPKI_PREFIX.length));
}

export function loadPublicKey(path: string): Buffer {
  return publicKeyFromPem(readFileSync(path));
}

/** Public keys seen, parsed once (an actor verifies a handful of pinned keys over and over). */
const parsed = new Map<string, KeyObject>();

/** Whether `signature` is a valid Ed25519 signature of `message` under the raw 32-byte `publicKey`. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== ED25519_PUBLIC_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  try {
    const id = Buffer.from(publicKey).toString('base64');
    let key = parsed.get(id);
    if (key === undefined) {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
      if (parsed.size >= 256) parsed.clear();
      parsed.set(id, key);
    }
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}
