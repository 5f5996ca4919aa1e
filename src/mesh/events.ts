/**
 * The events of Orbital (DESIGN.md section 6): their types, their payloads,
 * the envelope every event travels in, and the one validator both ends use.
 * A consumer validates every body it receives, whatever the transport: the
 * broker is shared, so a body is untrusted input until it passes here.
 */
import { randomUUID } from 'node:crypto';
import { errors } from '../errors.js';
import { ID_PATTERN as ID } from '../native/ids.js';

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

export interface Payloads {
  'Tenant.Define': { tenant: string; action: 'onboard' | 'offboard' };
  'Key.Define': { tenant: string; service: string; action: 'define' | 'delete'; rotateAfterSeconds?: number | null };
  'L1.Reference': { tenant: string; action: 'link' | 'unlink'; kind?: 'soft' | 'pkcs11'; ref?: string };
  'Sovereign.Heartbeat': { cmk: string; at: number };
  'State.Manifest': { core: string; tenants: string[]; scopes: Scope[]; at: number };
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
  return validateEvent({ id: options.id ?? randomUUID(), type, source, at: options.at ?? Date.now(), payload }) as Envelope<T>;
}

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
      onlyKeys(p, w, ['core', 'tenants', 'scopes', 'at']);
      const tenants = p['tenants'];
      const scopes = p['scopes'];
      if (!Array.isArray(tenants) || tenants.length > MAX_LIST) throw errors.badRequest(`${w}.tenants must be an array of ids`);
      if (!Array.isArray(scopes) || scopes.length > MAX_LIST) throw errors.badRequest(`${w}.scopes must be an array of scopes`);
      return {
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
  if (typeof eid !== 'string' || !EVENT_ID.test(eid)) throw errors.badRequest('event.id must be a UUID or 32 hex digits');
  const type = raw['type'];
  if (!isEventType(type)) throw errors.badRequest(`event.type must be one of ${EVENT_TYPES.join(', ')}`);
  const source = id(raw, 'source', 'event');
  const at = time(raw, 'at', 'event');
  const payload = raw['payload'];
  if (!isObj(payload)) throw errors.badRequest('event.payload must be an object');
  return { id: eid, type, source, at, payload: payloadOf(type, payload) } as OrbitalEvent;
}

/** The wire form: JSON (readable in the broker's UI and the dead-letter queue). */
export function encodeEvent(event: OrbitalEvent): Buffer {
  return Buffer.from(JSON.stringify(event), 'utf8');
}

/** Parses and validates a wire body; throws BAD_REQUEST for anything malformed. */
export function decodeEvent(body: Buffer | string): OrbitalEvent {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch {
    throw errors.badRequest('event is not valid JSON');
  }
  return validateEvent(raw);
}
