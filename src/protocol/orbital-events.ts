/**
 * The event contract of Orbital (docs/design.md section 6), one home for every
 * actor: the event types and their payloads, the envelope every event
 * travels in, the one validator both ends use, and the signature rules:
 * what is signed, how a signed event looks on the wire, which role may send
 * which type, and how far in the future an event may be dated.
 *
 * The broker is shared infrastructure, not a trust boundary: a body is
 * untrusted input until it parses here, its signature verifies under the
 * key its `source` is pinned to, that source's role may send its type, and
 * its date is not too far ahead (src/mesh/auth.ts applies these rules with
 * the actor's keys; both transports call it).
 */
import { randomUUID } from 'node:crypto';
import { errors, KryptonError } from '../errors.js';
import { ID_PATTERN as ID } from '../native/ids.js';
import { canonicalJson } from './canonical-json.js';

export const EVENT_TYPES = [
  'Tenant.Define',
  'Key.Define',
  'L1.Reference',
  'Sovereign.Heartbeat',
  'State.Manifest',
  'Key.Purge',
  'L1.Revoke',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export interface Scope {
  tenant: string;
  service: string;
}

/**
 * The head of a Core's audit chain when it sent a manifest: the last row's
 * seq and its link (the keyed MAC, see src/storage/ksi/audit-hash.ts). Receivers
 * keep the last one per Core; `krypton core audit --head` checks the chain
 * against it (a truncated or rewritten tail no longer reaches it).
 */
export interface AuditHead {
  seq: number;
  hash: string;
}

export interface Payloads {
  'Tenant.Define': { tenant: string; action: 'onboard' | 'offboard' };
  'Key.Define': { tenant: string; service: string; action: 'define' | 'delete'; rotateAfterSeconds?: number | null };
  'L1.Reference': { tenant: string; action: 'link' | 'unlink'; kind?: 'soft' | 'pkcs11'; ref?: string };
  'Sovereign.Heartbeat': { cmk: string; at: number };
  'State.Manifest': { core: string; tenants: string[]; scopes: Scope[]; at: number; audit?: AuditHead };
  'Key.Purge': { tenant: string; service: string };
  'L1.Revoke': { tenant: string; reason: string };
}

export interface Envelope<T extends EventType = EventType> {
  /** Unique per event: the key of idempotent handling and of the outbox. */
  id: string;
  type: T;
  /** The actor that emitted it (an id, e.g. "registry" or "core-eu1"). */
  source: string;
  /** When it was emitted (ms since the epoch). */
  at: number;
  payload: Payloads[T];
}

/** A discriminated union: narrowing on `type` types the payload. */
export type OrbitalEvent = { [T in EventType]: Envelope<T> }[EventType];

/** Revocations kill a tenant: they must not wait behind routine traffic. */
export function isPriority(type: EventType): boolean {
  return type === 'L1.Revoke';
}

export function isEventType(type: unknown): type is EventType {
  return typeof type === 'string' && (EVENT_TYPES as readonly string[]).includes(type);
}

/** Builds a validated event with a fresh id (a random UUID) and the current time. */
export function makeEvent<T extends EventType>(
  type: T,
  source: string,
  payload: Payloads[T],
  options: { id?: string; at?: number } = {},
): Envelope<T> {
  return validateEvent({
    id: options.id ?? randomUUID(),
    type,
    source,
    at: options.at ?? Date.now(),
    payload,
  }) as Envelope<T>;
}

const AUDIT_LINK = /^[A-Za-z0-9:+/=]{1,200}$/;
const EVENT_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/i;
const MAX_REASON = 512;
const MAX_REF = 2048;
const MAX_LIST = 100_000;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Unknown fields are refused rather than dropped: a field this version does
 * not know may carry meaning (a newer producer), and applying the event
 * without it could do the wrong thing. The dead-letter queue keeps it.
 */
function onlyKeys(o: Obj, where: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw errors.badRequest(`${where}: unknown field "${k}"`);
}

function id(o: Obj, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== 'string' || !ID.test(v)) throw errors.badRequest(`${where}.${key} must match [A-Za-z0-9._~-]{1,64}`);
  return v;
}

function oneOf<V extends string>(o: Obj, key: string, where: string, values: readonly V[]): V {
  const v = o[key];
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw errors.badRequest(`${where}.${key} must be one of ${values.join(', ')}`);
  }
  return v as V;
}

function time(o: Obj, key: string, where: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw errors.badRequest(`${where}.${key} must be a non-negative integer (ms since the epoch)`);
  }
  return v;
}

function text(o: Obj, key: string, where: string, max: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw errors.badRequest(`${where}.${key} must be a non-empty string of at most ${max} characters`);
  }
  return v;
}

function payloadOf(type: EventType, p: Obj): Payloads[EventType] {
  const w = `${type} payload`;
  switch (type) {
    case 'Tenant.Define':
      onlyKeys(p, w, ['tenant', 'action']);
      return { tenant: id(p, 'tenant', w), action: oneOf(p, 'action', w, ['onboard', 'offboard'] as const) };
    case 'Key.Define': {
      onlyKeys(p, w, ['tenant', 'service', 'action', 'rotateAfterSeconds']);
      const out: Payloads['Key.Define'] = {
        tenant: id(p, 'tenant', w),
        service: id(p, 'service', w),
        action: oneOf(p, 'action', w, ['define', 'delete'] as const),
      };
      const r = p['rotateAfterSeconds'];
      if (r !== undefined) {
        if (r !== null && (typeof r !== 'number' || !Number.isSafeInteger(r) || r <= 0)) {
          throw errors.badRequest(`${w}.rotateAfterSeconds must be a positive integer or null`);
        }
        out.rotateAfterSeconds = r;
      }
      return out;
    }
    case 'L1.Reference': {
      onlyKeys(p, w, ['tenant', 'action', 'kind', 'ref']);
      const out: Payloads['L1.Reference'] = {
        tenant: id(p, 'tenant', w),
        action: oneOf(p, 'action', w, ['link', 'unlink'] as const),
      };
      // A link without a pointer would leave the Core with nothing to wrap under.
      if (out.action === 'link' || p['kind'] !== undefined) out.kind = oneOf(p, 'kind', w, ['soft', 'pkcs11'] as const);
      if (out.action === 'link' || p['ref'] !== undefined) out.ref = text(p, 'ref', w, MAX_REF);
      return out;
    }
    case 'Sovereign.Heartbeat':
      onlyKeys(p, w, ['cmk', 'at']);
      return { cmk: id(p, 'cmk', w), at: time(p, 'at', w) };
    case 'State.Manifest': {
      onlyKeys(p, w, ['core', 'tenants', 'scopes', 'at', 'audit']);
      const tenants = p['tenants'];
      const scopes = p['scopes'];
      if (!Array.isArray(tenants) || tenants.length > MAX_LIST)
        throw errors.badRequest(`${w}.tenants must be an array of ids`);
      if (!Array.isArray(scopes) || scopes.length > MAX_LIST)
        throw errors.badRequest(`${w}.scopes must be an array of scopes`);
      const out: Payloads['State.Manifest'] = {
        core: id(p, 'core', w),
        tenants: tenants.map((t, i) => id({ t }, 't', `${w}.tenants[${i}]`)),
        scopes: scopes.map((s: unknown, i) => {
          const sw = `${w}.scopes[${i}]`;
          if (!isObj(s)) throw errors.badRequest(`${sw} must be an object`);
          onlyKeys(s, sw, ['tenant', 'service']);
          return { tenant: id(s, 'tenant', sw), service: id(s, 'service', sw) };
        }),
        at: time(p, 'at', w),
      };
      const audit = p['audit'];
      if (audit !== undefined) {
        const aw = `${w}.audit`;
        if (!isObj(audit)) throw errors.badRequest(`${aw} must be an object {seq, hash}`);
        onlyKeys(audit, aw, ['seq', 'hash']);
        const seq = audit['seq'];
        const hash = audit['hash'];
        if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1)
          throw errors.badRequest(`${aw}.seq must be a positive integer`);
        if (typeof hash !== 'string' || !AUDIT_LINK.test(hash))
          throw errors.badRequest(`${aw}.hash must be an audit link`);
        out.audit = { seq, hash };
      }
      return out;
    }
    case 'Key.Purge':
      onlyKeys(p, w, ['tenant', 'service']);
      return { tenant: id(p, 'tenant', w), service: id(p, 'service', w) };
    case 'L1.Revoke':
      onlyKeys(p, w, ['tenant', 'reason']);
      return { tenant: id(p, 'tenant', w), reason: text(p, 'reason', w, MAX_REASON) };
  }
}

/**
 * Checks an untrusted value and returns a fresh, typed copy of it (never the
 * input object, so a caller holding the input cannot change the event later).
 * Throws BAD_REQUEST naming the first field at fault.
 */
export function validateEvent(raw: unknown): OrbitalEvent {
  if (!isObj(raw)) throw errors.badRequest('event must be an object');
  onlyKeys(raw, 'event', ['id', 'type', 'source', 'at', 'payload']);
  const eid = raw['id'];
  if (typeof eid !== 'string' || !EVENT_ID.test(eid))
    throw errors.badRequest('event.id must be a UUID or 32 hex digits');
  const type = raw['type'];
  if (!isEventType(type)) throw errors.badRequest(`event.type must be one of ${EVENT_TYPES.join(', ')}`);
  const source = id(raw, 'source', 'event');
  const at = time(raw, 'at', 'event');
  const payload = raw['payload'];
  if (!isObj(payload)) throw errors.badRequest('event.payload must be an object');
  return { id: eid, type, source, at, payload: payloadOf(type, payload) } as OrbitalEvent;
}

/** An unsigned event as JSON: how an actor keeps it in its outbox until it is signed and sent. */
export function encodeEvent(event: OrbitalEvent): Buffer {
  return Buffer.from(JSON.stringify(event), 'utf8');
}

function parseJson(body: Buffer | string): unknown {
  try {
    return JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    throw errors.badRequest('event is not valid JSON');
  }
}

/** Parses and validates an unsigned event (an outbox row); throws BAD_REQUEST for anything malformed. */
export function decodeEvent(body: Buffer | string): OrbitalEvent {
  return validateEvent(parseJson(body));
}

// ---------------------------------------------------------------------------
// Signature rules

/** The actors that sign events. */
export const ACTOR_ROLES = ['registry', 'cmk', 'core'] as const;
export type ActorRole = (typeof ACTOR_ROLES)[number];

export function isActorRole(v: unknown): v is ActorRole {
  return typeof v === 'string' && (ACTOR_ROLES as readonly string[]).includes(v);
}

/**
 * Who may send what: definitions and purges are the Registry's, L1 links,
 * revocations and heartbeats the CMK Server's, manifests a Core's. An event
 * signed by anyone else is refused, however valid its signature.
 */
export const SENDER_ROLE: Readonly<Record<EventType, ActorRole>> = {
  'Tenant.Define': 'registry',
  'Key.Define': 'registry',
  'Key.Purge': 'registry',
  'L1.Reference': 'cmk',
  'L1.Revoke': 'cmk',
  'Sovereign.Heartbeat': 'cmk',
  'State.Manifest': 'core',
};

/** Events dated further ahead than this (by the receiver's clock) are refused by default. */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60_000;

/** Ed25519 signature bytes. */
export const EVENT_SIGNATURE_BYTES = 64;

/** Domain separation: these bytes can never be read as a lease or another signed object. */
const SIGNING_CONTEXT = Buffer.from('krypton/orbital-event/v1\n', 'utf8');

/**
 * What an actor signs: the context line, then the canonical JSON of the
 * whole envelope (id, type, source, at, payload; keys sorted). Everything
 * a receiver acts on is covered, `source` included, so a signature names
 * its signer and cannot be moved to another event.
 */
export function signingInput(event: OrbitalEvent): Buffer {
  return Buffer.concat([SIGNING_CONTEXT, Buffer.from(canonicalJson(event), 'utf8')]);
}

/** A refusal of a received event: the body goes to the dead letters with this message. */
export function refused(message: string): KryptonError {
  return new KryptonError('FORBIDDEN', `orbital: ${message}`);
}

/**
 * The rules that do not need a key: the source's role may send this type,
 * and an actor speaks only for itself (a heartbeat's `cmk` and a manifest's
 * `core` are its source).
 */
export function checkSender(event: OrbitalEvent, role: ActorRole): void {
  const allowed = SENDER_ROLE[event.type];
  if (role !== allowed)
    throw refused(`${event.source} (role ${role}) may not send ${event.type}: only the ${allowed} may`);
  if (event.type === 'Sovereign.Heartbeat' && event.payload.cmk !== event.source) {
    throw refused(`Sovereign.Heartbeat from ${event.source} speaks for ${event.payload.cmk}`);
  }
  if (event.type === 'State.Manifest' && event.payload.core !== event.source) {
    throw refused(`State.Manifest from ${event.source} speaks for ${event.payload.core}`);
  }
}

/**
 * An event dated more than maxFutureSkewMs after `now` is refused: one such
 * event would set a subject's newest-applied mark so far ahead that every
 * later genuine event about it would be dropped as stale. The payload's own
 * time (heartbeats, manifests) is held to the same bound.
 */
export function checkDate(event: OrbitalEvent, now: number, maxFutureSkewMs: number): void {
  const payloadAt = event.type === 'Sovereign.Heartbeat' || event.type === 'State.Manifest' ? event.payload.at : 0;
  const at = Math.max(event.at, payloadAt);
  if (at > now + maxFutureSkewMs) {
    throw refused(
      `${event.type} ${event.id} from ${event.source} is dated ${at - now} ms in the future (at most ${maxFutureSkewMs} ms allowed)`,
    );
  }
}

/**
 * The wire form of a signed event: the envelope's JSON with one more field,
 * `sig`, the base64 Ed25519 signature of signingInput(envelope) by the key
 * the source is pinned to. JSON keeps bodies readable in the broker's UI and
 * the dead-letter queue.
 */
export type SignedEvent = OrbitalEvent & { sig: string };

export function encodeSignedEvent(event: OrbitalEvent, signature: Uint8Array): Buffer {
  if (signature.length !== EVENT_SIGNATURE_BYTES) throw errors.internal('an event signature is 64 bytes');
  return Buffer.from(JSON.stringify({ ...event, sig: Buffer.from(signature).toString('base64') }), 'utf8');
}

const SIG_B64 = /^[A-Za-z0-9+/]{86}==$/;

/**
 * Parses a wire body into a validated event and its signature, without
 * checking the signature (that needs the receiver's trust). Throws
 * BAD_REQUEST for anything malformed, FORBIDDEN for an unsigned event.
 */
export function parseSignedEvent(body: Buffer | string): { event: OrbitalEvent; signature: Buffer } {
  const raw = parseJson(body);
  if (!isObj(raw)) throw errors.badRequest('event must be an object');
  const { sig, ...rest } = raw;
  if (sig === undefined) throw refused('the event is not signed');
  if (typeof sig !== 'string' || !SIG_B64.test(sig))
    throw errors.badRequest('event.sig must be a base64 Ed25519 signature (64 bytes)');
  return { event: validateEvent(rest), signature: Buffer.from(sig, 'base64') };
}
