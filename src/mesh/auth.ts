/**
 * Authenticated Orbital events (docs/design.md section 6): the one place where an
 * actor signs what it publishes and checks what it receives. Both transports
 * (the in-process bus and RabbitMQ) call seal() on every publish, so the
 * outbox relay and the direct heartbeats are covered alike, and open() on
 * every delivery before the handler runs; a body open() refuses goes to the
 * dead letters with its reason, and the consumer carries on.
 *
 * An actor's trust is part of its config: which actor ids exist, the role
 * each plays and the public key each is pinned to (a `.pub` file of `krypton
 * pki init`). open() refuses an unsigned event, a source it does not know, a
 * signature that does not verify under the source's key, a source whose role
 * may not send the type, and an event dated too far in the future. Replays
 * of genuine events are the handlers' business (handled ids, per-subject
 * marks): a valid signature says who sent an event, not that it is new.
 */
import { isAbsolute, join } from 'node:path';
import { errors } from '../errors.js';
import { isValidId } from '../native/ids.js';
import { loadPublicKey, verifySignature, type SigningKey } from '../native/signing.js';
import {
  checkDate,
  checkSender,
  DEFAULT_MAX_FUTURE_SKEW_MS,
  encodeSignedEvent,
  isActorRole,
  parseSignedEvent,
  refused,
  SENDER_ROLE,
  signingInput,
  validateEvent,
  ACTOR_ROLES,
  type ActorRole,
  type EventType,
  type OrbitalEvent,
} from '../protocol/orbital-events.js';
import type { EventAuth, SealedEvent } from './mesh.js';

/** An actor this one accepts events from. */
export interface TrustedPeer {
  id: string;
  role: ActorRole;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Buffer;
}

export interface OrbitalAuthOptions {
  /** This actor's id: the `source` of everything it sends. */
  id: string;
  role: ActorRole;
  /** This actor's private key (in the addon's arena); not destroyed here. */
  signer: SigningKey;
  peers: readonly TrustedPeer[];
  /** Refuse events dated further ahead than this (default 5 minutes). */
  maxFutureSkewMs?: number;
  /** The receiver's clock for the date check (default Date.now). */
  now?: () => number;
}

export class OrbitalAuth implements EventAuth {
  readonly id: string;
  readonly role: ActorRole;
  readonly maxFutureSkewMs: number;
  private readonly signer: SigningKey;
  private readonly peers: ReadonlyMap<string, TrustedPeer>;
  private readonly now: () => number;

  constructor(opts: OrbitalAuthOptions) {
    if (!isValidId(opts.id)) throw errors.badRequest('orbital: an actor id must match [A-Za-z0-9._~-]{1,64}');
    this.id = opts.id;
    this.role = opts.role;
    this.signer = opts.signer;
    this.maxFutureSkewMs = opts.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS;
    this.now = opts.now ?? Date.now;
    const peers = new Map<string, TrustedPeer>();
    for (const p of opts.peers) {
      if (peers.has(p.id)) throw errors.badRequest(`orbital: actor ${p.id} is trusted twice`);
      peers.set(p.id, p);
    }
    this.peers = peers;
  }

  /** Validates, checks that this actor may send it as itself, signs. */
  seal(event: OrbitalEvent): SealedEvent {
    const checked = validateEvent(event);
    if (checked.source !== this.id)
      throw errors.badRequest(`orbital: ${this.id} cannot sign an event whose source is ${checked.source}`);
    checkSender(checked, this.role);
    return { event: checked, body: encodeSignedEvent(checked, this.signer.sign(signingInput(checked))) };
  }

  /** The event a body carries, once every rule holds; throws (BAD_REQUEST or FORBIDDEN, with the reason) otherwise. */
  open(body: Buffer | string): OrbitalEvent {
    const { event, signature } = parseSignedEvent(body);
    const peer = this.peers.get(event.source);
    if (peer === undefined)
      throw refused(`${event.type} ${event.id} claims source ${event.source}, which this actor does not trust`);
    if (!verifySignature(peer.publicKey, signingInput(event), signature)) {
      throw refused(`${event.type} ${event.id}: the signature does not verify under the key of ${event.source}`);
    }
    checkSender(event, peer.role);
    checkDate(event, this.now(), this.maxFutureSkewMs);
    return event;
  }
}

// ---------------------------------------------------------------------------
// Trust in an actor's config

/**
 * The `trust` section of an actor's config, as written:
 *
 *   { "<actor id>": { "role": "registry" | "cmk" | "core", "publicKey": "<path to a .pub>" }, ... }
 *
 * Paths are relative to the config file's folder. The keys are read here,
 * so a missing or wrong file stops the actor at start with the field named.
 */
export function parseTrust(
  raw: unknown,
  field: string,
  resolvePath: (p: string) => string,
  fail: (message: string) => never,
): TrustedPeer[] {
  if (raw === undefined || raw === null) {
    fail(
      `${field} is required: {"<actor id>": {"role": "registry"|"cmk"|"core", "publicKey": "<file.pub>"}, ...} names every actor whose events this one accepts`,
    );
  }
  if (typeof raw !== 'object' || Array.isArray(raw))
    fail(`${field} must be an object {"<actor id>": {role, publicKey}}`);
  const out: TrustedPeer[] = [];
  for (const [id, entry] of Object.entries(raw as Record<string, unknown>)) {
    const where = `${field}.${id}`;
    if (!isValidId(id)) fail(`${field}: actor id ${JSON.stringify(id)} must match [A-Za-z0-9._~-]{1,64}`);
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      fail(`${where} must be an object {role, publicKey}`);
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) if (k !== 'role' && k !== 'publicKey') fail(`${where}: unknown field "${k}"`);
    if (!isActorRole(e.role)) fail(`${where}.role must be one of ${ACTOR_ROLES.join(', ')}`);
    if (typeof e.publicKey !== 'string' || e.publicKey === '')
      fail(`${where}.publicKey must be the path of an Ed25519 public key (.pub)`);
    const file = resolvePath(e.publicKey);
    let publicKey: Buffer;
    try {
      publicKey = loadPublicKey(file);
    } catch (err) {
      fail(`${where}.publicKey: cannot read an Ed25519 public key from ${file}: ${(err as Error).message}`);
    }
    out.push({ id, role: e.role, publicKey });
  }
  return out;
}

/** Refuses a trust that would make every event of a consumed type fail (no actor may send it). */
export function requireSenders(
  peers: readonly TrustedPeer[],
  consumes: readonly EventType[],
  field: string,
  fail: (message: string) => never,
): void {
  for (const type of consumes) {
    const role = SENDER_ROLE[type];
    if (!peers.some((p) => p.role === role))
      fail(`${field} has no actor with role ${role}: every ${type} would be refused`);
  }
}

/** A path relative to a config file's folder. */
export function pathFrom(base: string): (p: string) => string {
  return (p) => (isAbsolute(p) ? p : join(base, p));
}

/** The maxFutureSkewSeconds field of a config, in ms (default 5 minutes). */
export function futureSkewMs(raw: unknown, field: string, fail: (message: string) => never): number {
  if (raw === undefined || raw === null) return DEFAULT_MAX_FUTURE_SKEW_MS;
  const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 86_400)
    fail(`${field} must be an integer from 1 to 86400`);
  return n * 1000;
}

/** A trusted peer from its `.pub` file (as the trust section of a config names it). */
export function trustedPeer(id: string, role: ActorRole, publicKeyFile: string): TrustedPeer {
  return { id, role, publicKey: loadPublicKey(publicKeyFile) };
}
