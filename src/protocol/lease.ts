/**
 * The lease contract between the Core and its Gateways (docs/design.md sections 2
 * and 5, review M1 and L7), in one place for both ends: the request, the
 * reply, the exact bytes the Core signs, and the one validator of a reply.
 *
 * `POST /v1/leases` {tenant, service, recipientKey, nonce, versions?}
 *   -> {nonce, issuedAt, ttlSeconds, epoch, oldestIncluded, versions: [{version, state, enc, sealed}], signature}
 *
 * The Core signs the whole reply with its Ed25519 key (`core-sign.key`), over
 * the request it answers: the scope, the Gateway's recipient key, the
 * Gateway's fresh nonce and the versions it named. A Gateway builds the
 * signed bytes from its OWN request and the reply, so a reply sealed by
 * anyone else, a reply to another request (an older one replayed, another
 * nonce, another Gateway's recipient key) or a reply altered anywhere does
 * not verify, and nothing of it is opened or bound.
 *
 * A full lease (no `versions` in the request) carries the ACTIVE version and
 * the newest DECRYPT_ONLY ones the Core keeps hot (its `maxHotVersions`);
 * every non-revoked version from `oldestIncluded` up is in it, and an older
 * one may exist: the Gateway leases it on demand, naming it in `versions`.
 * A lease for named versions carries exactly those (oldestIncluded 0); the
 * Core refuses it (KEY_REVOKED) when one of them is revoked.
 */
import { randomBytes } from 'node:crypto';
import { errors, KryptonError } from '../errors.js';
import { HPKE_ENC_BYTES, leaseSealedSize, X25519_BYTES } from '../native/hpke.js';
import { isValidId } from '../native/ids.js';
import { isVersionState, KeyState, type VersionState } from '../native/keystore.js';
import { ED25519_SIGNATURE_BYTES, verifySignature } from '../native/signing.js';

export const LEASE_NONCE_BYTES = 16;
/** Longest lease TTL a Core may grant and a Gateway accepts. */
export const MAX_LEASE_TTL_SECONDS = 3600;
/**
 * DECRYPT_ONLY versions a Core keeps hot and leases per scope, by default and at most (Core config `maxHotVersions`).
 */
export const DEFAULT_MAX_HOT_VERSIONS = 32;
export const MAX_HOT_VERSIONS_LIMIT = 1024;
/** Versions one request may name (the Gateway names one: the version a blob names). */
export const MAX_NAMED_VERSIONS = 32;
/** Versions one lease may carry: the ACTIVE one and the hot DECRYPT_ONLY ones. */
export const MAX_LEASE_VERSIONS = MAX_HOT_VERSIONS_LIMIT + 1;
/** Domain separation: these bytes start every signed lease reply. */
export const LEASE_SIGNATURE_CONTEXT = Buffer.from('krypton lease reply v1\0', 'latin1');

const MAX_VERSION = 0xffffffff;
// A version's state: its name on the wire, its KeyState number (native/status.h) in the signed bytes.

export interface LeaseRequest {
  tenant: string;
  service: string;
  /** The Gateway's X25519 public key (32 bytes): the leases are sealed to it. */
  recipientKey: Uint8Array;
  /** 16 random bytes, fresh per request: the reply must echo it and is signed over it. */
  nonce: Uint8Array;
  /** Only these versions (ascending, distinct; on demand for a blob); absent: a full lease. */
  versions?: number[];
}

export interface LeaseVersion {
  version: number;
  state: VersionState;
  /** HPKE encapsulated key (32 bytes). */
  enc: Buffer;
  /** The sealed lease message (native/lease_message.h) and its tag. */
  sealed: Buffer;
}

export interface UnsignedLeaseReply {
  /** The request's nonce. */
  nonce: Buffer;
  /** When the Core issued it, Unix ms (the Gateway checks it against its clock). */
  issuedAt: number;
  ttlSeconds: number;
  /** The Core's event epoch when it issued the lease. */
  epoch: number;
  /**
   * Full lease: every non-revoked version from this one up is included (1: nothing was left out). Named versions: 0.
   */
  oldestIncluded: number;
  /** Ascending by version. */
  versions: LeaseVersion[];
}

export interface LeaseReply extends UnsignedLeaseReply {
  /** Ed25519 by the Core over leaseSignedBytes(request, reply). */
  signature: Buffer;
}

/** What a Gateway pins to accept a lease. */
export interface LeaseTrust {
  /** The Core's raw 32-byte Ed25519 public key (`core-sign.pub`). */
  corePublicKey: Uint8Array;
  /** How far the lease's issue time may be from the Gateway's clock. */
  maxSkewMs: number;
}

/** A request for a full lease, or for the named versions, with a fresh nonce. */
export function newLeaseRequest(
  tenant: string,
  service: string,
  recipientKey: Uint8Array,
  versions?: number[],
): LeaseRequest {
  return {
    tenant,
    service,
    recipientKey,
    nonce: randomBytes(LEASE_NONCE_BYTES),
    ...(versions !== undefined ? { versions } : {}),
  };
}

const isBytes = (v: unknown, length: number): v is Uint8Array => v instanceof Uint8Array && v.length === length;
const isInt = (v: unknown, min: number, max: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const asBuffer = (v: Uint8Array): Buffer =>
  Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);

function namedVersions(v: unknown, bad: (what: string) => never): number[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length < 1 || v.length > MAX_NAMED_VERSIONS)
    bad(`versions must be a list of 1 to ${MAX_NAMED_VERSIONS} versions`);
  let last = 0;
  for (const x of v) {
    if (!isInt(x, 1, MAX_VERSION) || x <= last)
      bad('versions must be ascending, distinct integers from 1 to 4294967295');
    last = x;
  }
  return v as number[];
}

/** The Core's check of a request body (BAD_REQUEST, naming the field). */
export function checkLeaseRequest(body: unknown): LeaseRequest {
  const bad = (what: string): never => {
    throw errors.badRequest(what);
  };
  if (body === null || typeof body !== 'object') bad('the lease request must be an object');
  const b = body as Record<string, unknown>;
  if (!isValidId(b.tenant) || !isValidId(b.service)) bad('tenant and service must be valid ids');
  if (!isBytes(b.recipientKey, X25519_BYTES)) bad(`recipientKey must be ${X25519_BYTES} bytes`);
  if (!isBytes(b.nonce, LEASE_NONCE_BYTES)) bad(`nonce must be ${LEASE_NONCE_BYTES} bytes`);
  const versions = namedVersions(b.versions, bad);
  return {
    tenant: b.tenant as string,
    service: b.service as string,
    recipientKey: b.recipientKey as Uint8Array,
    nonce: b.nonce as Uint8Array,
    ...(versions !== undefined ? { versions } : {}),
  };
}

/**
 * The one validator of a lease reply, for the request it answers: shape,
 * ranges and exact lengths (INVALID_LEASE, naming what is wrong). It does
 * not check the nonce, the time or the signature: verifyLeaseReply does.
 */
export function checkLeaseReply(body: unknown, req: LeaseRequest): LeaseReply {
  const bad = (what: string): never => {
    throw new KryptonError('INVALID_LEASE', `lease reply: ${what}`);
  };
  if (body === null || typeof body !== 'object' || Array.isArray(body)) bad('not an object');
  const b = body as Record<string, unknown>;
  if (!isBytes(b.nonce, LEASE_NONCE_BYTES)) bad(`nonce must be ${LEASE_NONCE_BYTES} bytes`);
  if (!isInt(b.issuedAt, 0, Number.MAX_SAFE_INTEGER)) bad('issuedAt');
  if (!isInt(b.ttlSeconds, 1, MAX_LEASE_TTL_SECONDS)) bad('ttlSeconds');
  if (!isInt(b.epoch, 0, Number.MAX_SAFE_INTEGER)) bad('epoch');
  const named = req.versions;
  if (named === undefined ? !isInt(b.oldestIncluded, 1, MAX_VERSION) : b.oldestIncluded !== 0) bad('oldestIncluded');
  if (!isBytes(b.signature, ED25519_SIGNATURE_BYTES)) bad(`signature must be ${ED25519_SIGNATURE_BYTES} bytes`);
  const list = b.versions;
  if (!Array.isArray(list) || list.length > MAX_LEASE_VERSIONS) bad('versions');
  const entries = list as unknown[];
  if (named === undefined ? entries.length === 0 : entries.length !== named.length)
    bad('versions: not the versions asked for');
  const oldest = b.oldestIncluded as number;
  const sealedBytes = leaseSealedSize(req.tenant, req.service);
  let last = 0;
  const versions = entries.map((x, i): LeaseVersion => {
    const v = x as Record<string, unknown> | null;
    if (v === null || typeof v !== 'object') bad('version entry');
    if (!isInt(v!.version, 1, MAX_VERSION) || v!.version <= last) bad('versions must be ascending and distinct');
    const version = v!.version as number;
    last = version;
    if (named === undefined ? version < oldest : version !== named[i]) bad('versions: not the versions asked for');
    if (!isVersionState(v!.state)) bad('state');
    // The ACTIVE version is the scope's newest: one at most, last; a full lease always has it.
    const newest = i === entries.length - 1;
    if (v!.state === 'ACTIVE' ? !newest : named === undefined && newest)
      bad('a full lease ends with its one ACTIVE version, the newest');
    if (!isBytes(v!.enc, HPKE_ENC_BYTES)) bad(`enc must be ${HPKE_ENC_BYTES} bytes`);
    if (!isBytes(v!.sealed, sealedBytes)) bad(`sealed must be ${sealedBytes} bytes`);
    const state = v!.state as VersionState;
    return { version, state, enc: asBuffer(v!.enc as Uint8Array), sealed: asBuffer(v!.sealed as Uint8Array) };
  });
  return {
    nonce: asBuffer(b.nonce as Uint8Array),
    issuedAt: b.issuedAt as number,
    ttlSeconds: b.ttlSeconds as number,
    epoch: b.epoch as number,
    oldestIncluded: oldest,
    versions,
    signature: asBuffer(b.signature as Uint8Array),
  };
}

/**
 * The bytes the Core signs, all integers big-endian:
 *
 *   context "krypton lease reply v1\0" (23)
 *   T (1), tenant; S (1), service
 *   recipientKey (32), nonce (16)
 *   N (1), N named versions (4 each); N = 0 for a full lease
 *   issuedAt (8), epoch (8), ttlSeconds (4), oldestIncluded (4)
 *   V (2), then per version: version (4), state (1: ACTIVE, 2: DECRYPT_ONLY),
 *     enc (32), sealed length (2), sealed
 *
 * The request's fields come from the request (a Gateway's own), the rest
 * from the reply; callers have validated both (exact lengths).
 */
export function leaseSignedBytes(req: LeaseRequest, reply: UnsignedLeaseReply): Buffer {
  const named = req.versions ?? [];
  let size =
    LEASE_SIGNATURE_CONTEXT.length + 2 + req.tenant.length + req.service.length + X25519_BYTES + LEASE_NONCE_BYTES;
  size += 1 + 4 * named.length + 8 + 8 + 4 + 4 + 2;
  for (const v of reply.versions) size += 4 + 1 + HPKE_ENC_BYTES + 2 + v.sealed.length;
  const out = Buffer.allocUnsafe(size);
  let at = LEASE_SIGNATURE_CONTEXT.copy(out, 0);
  at = out.writeUInt8(req.tenant.length, at);
  at += out.write(req.tenant, at, 'latin1');
  at = out.writeUInt8(req.service.length, at);
  at += out.write(req.service, at, 'latin1');
  at += asBuffer(req.recipientKey).copy(out, at);
  at += asBuffer(req.nonce).copy(out, at);
  at = out.writeUInt8(named.length, at);
  for (const v of named) at = out.writeUInt32BE(v, at);
  at = out.writeBigUInt64BE(BigInt(reply.issuedAt), at);
  at = out.writeBigUInt64BE(BigInt(reply.epoch), at);
  at = out.writeUInt32BE(reply.ttlSeconds, at);
  at = out.writeUInt32BE(reply.oldestIncluded, at);
  at = out.writeUInt16BE(reply.versions.length, at);
  for (const v of reply.versions) {
    at = out.writeUInt32BE(v.version, at);
    at = out.writeUInt8(KeyState[v.state], at);
    at += v.enc.copy(out, at);
    at = out.writeUInt16BE(v.sealed.length, at);
    at += v.sealed.copy(out, at);
  }
  if (at !== size) throw errors.internal('lease signed bytes: length mismatch');
  return out;
}

/** The Core's side: the reply, checked by the one validator, then signed. */
export function signLeaseReply(
  signer: { sign(message: Uint8Array): Buffer },
  req: LeaseRequest,
  unsigned: UnsignedLeaseReply,
): LeaseReply {
  const signature = signer.sign(leaseSignedBytes(req, unsigned));
  // The Core never sends what a Gateway would refuse.
  return checkLeaseReply({ ...unsigned, signature }, req);
}

/**
 * The Gateway's side, before anything of the reply is opened or bound:
 * the shape (checkLeaseReply), the nonce it sent for this request, the
 * issue time within `maxSkewMs` of `now`, and the Core's signature over its
 * own request and the reply. Anything else is INVALID_LEASE.
 */
export function verifyLeaseReply(body: unknown, req: LeaseRequest, trust: LeaseTrust, now: number): LeaseReply {
  const reply = checkLeaseReply(body, req);
  const refuse = (why: string): never => {
    throw new KryptonError('INVALID_LEASE', `lease reply: ${why}`);
  };
  // Nonces are not secret: a plain compare.
  if (!reply.nonce.equals(asBuffer(req.nonce))) refuse('it answers another request (nonce)');
  if (Math.abs(reply.issuedAt - now) > trust.maxSkewMs)
    refuse(`issued at ${reply.issuedAt}, more than ${trust.maxSkewMs} ms from this clock (${now})`);
  if (!verifySignature(trust.corePublicKey, leaseSignedBytes(req, reply), reply.signature))
    refuse('the signature does not verify under the pinned Core key');
  return reply;
}
