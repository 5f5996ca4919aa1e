/**
 * L3 leases sealed with HPKE (RFC 9180 base mode, DHKEM(X25519,
 * HKDF-SHA256), HKDF-SHA256, AES-256-GCM, info "krypton lease v1").
 *
 * The Gateway holds an {@link HpkeRecipient}: an X25519 key pair generated
 * inside the addon (private key in OpenSSL's secure heap, never exported).
 * The Core seals a stored L3 key to its public key with {@link sealLease};
 * the Gateway opens it with {@link openLease} straight into the key store,
 * bound to (tenant, service, version). Lease expiry crosses as a JS number
 * of Unix milliseconds (an integer up to Number.MAX_SAFE_INTEGER).
 */
import { errors, fromNative, KryptonError } from '../errors.js';
import { view } from './addon.js';
import { idBytes } from './ids.js';
import { isVersionState, KeyState, keyStateName, type KeyHandle, type VersionState } from './keystore.js';
import { statusError } from './status.js';

interface HpkeNative {
  hpkeRecipientGenerate(): number;
  hpkeRecipientImport(sk: Uint8Array): number;
  hpkeRecipientPublicKey(id: number, out: Uint8Array): void;
  hpkeRecipientDestroy(id: number): boolean;
  hpkeSecureHeapUsed(): number;
  leaseSeal(
    recipientPublicKey: Uint8Array,
    key: number,
    tenant: Buffer,
    service: Buffer,
    version: number,
    state: number,
    expiresAtMs: number,
    outEnc: Uint8Array,
    outSealed: Uint8Array,
  ): void;
  leaseOpen(
    recipient: number,
    tenant: Buffer,
    service: Buffer,
    enc: Uint8Array,
    sealed: Uint8Array,
  ): { scopeId: number; version: number; state: number; expiresAtMs: number };
  katX25519(sk: Uint8Array, pk: Uint8Array, out: Uint8Array): void;
  katHkdfSha256(salt: Uint8Array | null, ikm: Uint8Array | null, info: Uint8Array | null, out: Uint8Array): void;
  katHpkeSeal(
    aead: number,
    skE: Uint8Array,
    pkR: Uint8Array,
    info: Uint8Array | null,
    aad: Uint8Array | null,
    seq: number,
    pt: Uint8Array,
    outEnc: Uint8Array,
    outCt: Uint8Array,
  ): void;
  katHpkeOpen(
    aead: number,
    skR: Uint8Array,
    enc: Uint8Array,
    info: Uint8Array | null,
    aad: Uint8Array | null,
    seq: number,
    ct: Uint8Array,
    outPt: Uint8Array,
  ): number;
  LEASE_FIXED_BYTES: number;
  LEASE_KEY_BYTES: number;
  HPKE_ENC_BYTES: number;
  HPKE_TAG_BYTES: number;
  X25519_BYTES: number;
  HKDF_SHA256_MAX_BYTES: number;
  LEASE_MAX_EXPIRY_MS: number;
  LEASE_INFO: string;
}

const native = view<HpkeNative>();

/** Bytes of a lease message besides the tenant and service ids (lease_message.h). */
export const LEASE_FIXED_BYTES = native.LEASE_FIXED_BYTES;
export const HPKE_ENC_BYTES = native.HPKE_ENC_BYTES;
export const X25519_BYTES = native.X25519_BYTES;
/** The HPKE info string of every lease. */
export const LEASE_INFO = native.LEASE_INFO;
/** AEAD ids of RFC 9180: the product uses AES-256-GCM; AES-128-GCM is for the RFC's A.1 vector. */
export const HpkeAead = { AES_128_GCM: 1, AES_256_GCM: 2 } as const;
export type HpkeAeadId = (typeof HpkeAead)[keyof typeof HpkeAead];

/** Size of a sealed lease (ciphertext and tag) for these ids. */
export function leaseSealedSize(tenant: string, service: string): number {
  return native.LEASE_FIXED_BYTES + tenant.length + service.length + native.HPKE_TAG_BYTES;
}

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    // The secure-heap refusal is an operator-facing Error without a code:
    // keep its message (it says how to start node), it holds no secret.
    if (err instanceof Error && !(err instanceof TypeError) && (err as { code?: unknown }).code === undefined) {
      throw new KryptonError('INTERNAL', err.message, { cause: err });
    }
    throw fromNative(err);
  }
}

function checkBytes(value: unknown, what: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array) || (length !== undefined && value.length !== length)) {
    throw errors.badRequest(length === undefined ? `${what} must be bytes` : `${what} must be ${length} bytes`);
  }
  return value;
}

function checkInteger(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw errors.badRequest(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** Bytes in use in OpenSSL's secure heap (0 without --secure-heap); a diagnostic. */
export function secureHeapUsed(): number {
  return native.hpkeSecureHeapUsed();
}

/**
 * An X25519 recipient key pair held by the addon. Refuses to exist unless
 * node runs with --secure-heap (or KRYPTON_ALLOW_NO_SECURE_HEAP=1, development only).
 */
export class HpkeRecipient {
  readonly publicKey: Buffer;
  #id: number;

  private constructor(id: number) {
    this.#id = id;
    this.publicKey = Buffer.alloc(native.X25519_BYTES);
    call(() => native.hpkeRecipientPublicKey(id, this.publicKey));
  }

  static generate(): HpkeRecipient {
    return new HpkeRecipient(call(() => native.hpkeRecipientGenerate()));
  }

  /**
   * Imports a raw private key: vectors and tests only. The key came from the
   * JS heap, and OpenSSL 3.0 keeps imported raw keys in its ordinary heap
   * (clear-freed on destroy); only generate() uses the secure heap.
   */
  static import(privateKey: Uint8Array): HpkeRecipient {
    checkBytes(privateKey, 'privateKey', native.X25519_BYTES);
    return new HpkeRecipient(call(() => native.hpkeRecipientImport(privateKey)));
  }

  get destroyed(): boolean {
    return this.#id === 0;
  }

  /** The native id; throws KEY_UNAVAILABLE once destroyed. */
  get id(): number {
    if (this.#id === 0) throw errors.keyUnavailable('HPKE recipient key destroyed');
    return this.#id;
  }

  /** Frees the private key (OpenSSL clear-frees it). Idempotent. */
  destroy(): void {
    if (this.#id === 0) return;
    native.hpkeRecipientDestroy(this.#id);
    this.#id = 0;
  }
}

export interface SealLeaseParams {
  recipientPublicKey: Uint8Array;
  /** A stored 32-byte key (the L3 version). */
  key: KeyHandle;
  tenant: string;
  service: string;
  version: number;
  state: VersionState;
  /** Lease expiry, Unix milliseconds. */
  expiresAt: number;
}

export interface SealedLease {
  /** The HPKE encapsulated key (32 bytes). */
  enc: Buffer;
  /** The sealed lease message (ciphertext || tag). */
  sealed: Buffer;
}

/** Core side: seals a stored key as a lease to a Gateway's recipient public key. */
export function sealLease(p: SealLeaseParams): SealedLease {
  checkBytes(p.recipientPublicKey, 'recipientPublicKey', native.X25519_BYTES);
  checkInteger(p.key, 'key', 1, Number.MAX_SAFE_INTEGER);
  checkInteger(p.version, 'version', 1, 0xffffffff);
  checkInteger(p.expiresAt, 'expiresAt', 0, native.LEASE_MAX_EXPIRY_MS);
  if (!isVersionState(p.state)) throw errors.badRequest('state must be ACTIVE or DECRYPT_ONLY');
  const tenant = idBytes(p.tenant, 'tenant');
  const service = idBytes(p.service, 'service');
  const enc = Buffer.alloc(native.HPKE_ENC_BYTES);
  const sealed = Buffer.alloc(leaseSealedSize(p.tenant, p.service));
  call(() =>
    native.leaseSeal(
      p.recipientPublicKey,
      p.key,
      tenant,
      service,
      p.version,
      KeyState[p.state],
      p.expiresAt,
      enc,
      sealed,
    ),
  );
  return { enc, sealed };
}

export interface OpenLeaseParams {
  /** The scope the Gateway asked the Core for; the lease must name exactly this. */
  tenant: string;
  service: string;
  enc: Uint8Array;
  sealed: Uint8Array;
}

export interface OpenedLease {
  scopeId: number;
  version: number;
  state: VersionState;
  /** Lease expiry, Unix milliseconds, as authenticated by the Core. */
  expiresAt: number;
}

/**
 * Gateway side: opens a lease into the key store and binds it. Anything
 * that does not open, parse or name the scope asked for is INVALID_LEASE;
 * a version already revoked here is KEY_REVOKED.
 */
export function openLease(recipient: HpkeRecipient, p: OpenLeaseParams): OpenedLease {
  const tenant = idBytes(p.tenant, 'tenant');
  const service = idBytes(p.service, 'service');
  checkBytes(p.enc, 'enc');
  checkBytes(p.sealed, 'sealed');
  const r = call(() => native.leaseOpen(recipient.id, tenant, service, p.enc, p.sealed));
  return {
    scopeId: r.scopeId,
    version: r.version,
    state: keyStateName(r.state) as VersionState,
    expiresAt: r.expiresAtMs,
  };
}

export interface HpkeKatSeal {
  aead: HpkeAeadId;
  /** Ephemeral private key (the vector's skEm). */
  skE: Uint8Array;
  pkR: Uint8Array;
  info?: Uint8Array;
  aad?: Uint8Array;
  /** Sequence number: nonce = base_nonce XOR I2OSP(seq, 12). */
  seq?: number;
  plaintext: Uint8Array;
}

export interface HpkeKatOpen {
  aead: HpkeAeadId;
  skR: Uint8Array;
  enc: Uint8Array;
  info?: Uint8Array;
  aad?: Uint8Array;
  seq?: number;
  /** ciphertext || tag */
  ciphertext: Uint8Array;
}

/**
 * Known-answer entry points with raw test inputs (RFC 9180 A.1, Wycheproof
 * X25519 and HKDF-SHA256). The product never calls these.
 */
export const hpkeKat = {
  /** X25519(sk, pk); BAD_REQUEST for an all-zero shared secret. */
  x25519(sk: Uint8Array, pk: Uint8Array): Buffer {
    const out = Buffer.alloc(native.X25519_BYTES);
    call(() => native.katX25519(sk, pk, out));
    return out;
  },
  /** HKDF-SHA256 (RFC 5869); length 1..8160, else BAD_REQUEST. */
  hkdfSha256(salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, length: number): Buffer {
    checkInteger(length, 'length', 1, native.HKDF_SHA256_MAX_BYTES);
    const out = Buffer.alloc(length);
    call(() => native.katHkdfSha256(salt, ikm, info, out));
    return out;
  },
  seal(p: HpkeKatSeal): { enc: Buffer; ciphertext: Buffer } {
    const enc = Buffer.alloc(native.HPKE_ENC_BYTES);
    const ciphertext = Buffer.alloc(p.plaintext.length + native.HPKE_TAG_BYTES);
    call(() =>
      native.katHpkeSeal(p.aead, p.skE, p.pkR, p.info ?? null, p.aad ?? null, p.seq ?? 0, p.plaintext, enc, ciphertext),
    );
    return { enc, ciphertext };
  },
  /** The plaintext; INVALID_LEASE when it does not open. */
  open(p: HpkeKatOpen): Buffer {
    const out = Buffer.alloc(Math.max(0, p.ciphertext.length - native.HPKE_TAG_BYTES));
    const s = call(() =>
      native.katHpkeOpen(p.aead, p.skR, p.enc, p.info ?? null, p.aad ?? null, p.seq ?? 0, p.ciphertext, out),
    );
    if (s !== 0) throw statusError(s);
    return out;
  },
};
