import { afterAll, describe, expect, it } from 'vitest';
import {
  checkDate,
  checkSender,
  decodeEvent,
  encodeSignedEvent,
  isPriority,
  makeEvent,
  parseSignedEvent,
  signingInput,
  validateEvent,
} from '../../src/protocol/orbital-events.js';
import { testKeyring } from './keyring.js';
import { stringMatching } from '../helpers/matchers.js';

const badRequest = (message: RegExp): unknown =>
  expect.objectContaining({ code: 'BAD_REQUEST', message: stringMatching(message) });
const base = { id: '0123456789abcdef0123456789abcdef', source: 'registry', at: 1_700_000_000_000 };

describe('Orbital events', () => {
  it('builds every event type with a fresh unique id', () => {
    const a = makeEvent('Tenant.Define', 'registry', { tenant: 't1', action: 'onboard' });
    const b = makeEvent('Tenant.Define', 'registry', { tenant: 't1', action: 'onboard' });
    expect(a.id).not.toBe(b.id);
    makeEvent('Key.Define', 'registry', { tenant: 't1', service: 's1', action: 'define', rotateAfterSeconds: 86400 });
    makeEvent('Key.Define', 'registry', { tenant: 't1', service: 's1', action: 'delete', rotateAfterSeconds: null });
    makeEvent('L1.Reference', 'cmk', { tenant: 't1', action: 'link', kind: 'pkcs11', ref: 'pkcs11:token=a;object=b' });
    makeEvent('L1.Reference', 'cmk', { tenant: 't1', action: 'unlink' });
    makeEvent('Sovereign.Heartbeat', 'cmk', { cmk: 'cmk-eu', at: 1 });
    makeEvent('State.Manifest', 'core-eu', {
      core: 'core-eu',
      tenants: ['t1'],
      scopes: [{ tenant: 't1', service: 's1' }],
      at: 2,
    });
    makeEvent('Key.Purge', 'registry', { tenant: 't1', service: 's1' });
    makeEvent('L1.Revoke', 'cmk', { tenant: 't1', reason: 'unlinked' });
  });

  it('returns a copy, never the input object', () => {
    const input = { ...base, type: 'Key.Purge', payload: { tenant: 't', service: 's' } };
    const out = validateEvent(input);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
    expect(out.payload).not.toBe(input.payload);
  });

  it('refuses malformed events with a message naming the field', () => {
    expect(() => validateEvent(null)).toThrow(badRequest(/must be an object/));
    expect(() => validateEvent({ ...base, id: 'x', type: 'Key.Purge', payload: {} })).toThrow(badRequest(/event.id/));
    expect(() => validateEvent({ ...base, type: 'Key.Steal', payload: {} })).toThrow(badRequest(/event.type/));
    expect(() => validateEvent({ ...base, type: 'Key.Purge', payload: { tenant: 'a b', service: 's' } })).toThrow(
      badRequest(/Key.Purge payload.tenant/),
    );
    expect(() => validateEvent({ ...base, type: 'Key.Purge', payload: { tenant: 't', service: 's', x: 1 } })).toThrow(
      badRequest(/unknown field "x"/),
    );
    expect(() => validateEvent({ ...base, type: 'L1.Reference', payload: { tenant: 't', action: 'link' } })).toThrow(
      badRequest(/kind/),
    );
    expect(() =>
      validateEvent({
        ...base,
        type: 'Key.Define',
        payload: { tenant: 't', service: 's', action: 'define', rotateAfterSeconds: -1 },
      }),
    ).toThrow(badRequest(/rotateAfterSeconds/));
    expect(() => validateEvent({ ...base, at: -1, type: 'Key.Purge', payload: { tenant: 't', service: 's' } })).toThrow(
      badRequest(/event.at/),
    );
    expect(() =>
      validateEvent({
        ...base,
        type: 'State.Manifest',
        payload: { core: 'c', tenants: ['ok', ''], scopes: [], at: 1 },
      }),
    ).toThrow(badRequest(/tenants\[1\]/));
    expect(() => decodeEvent('{not json')).toThrow(badRequest(/not valid JSON/));
  });

  it('gives only L1.Revoke priority', () => {
    expect(isPriority('L1.Revoke')).toBe(true);
    expect(isPriority('Key.Define')).toBe(false);
    expect(isPriority('Tenant.Define')).toBe(false);
  });
});

describe('the signature rules of Orbital events', () => {
  const keys = testKeyring();
  afterAll(() => keys.destroy());
  const purge = makeEvent('Key.Purge', 'registry', { tenant: 't', service: 's' }, { at: 1_000 });

  it('signs the whole envelope, source included, in canonical form', () => {
    const reordered = {
      payload: { service: 's', tenant: 't' },
      at: 1_000,
      source: 'registry',
      type: 'Key.Purge',
      id: purge.id,
    };
    expect(signingInput(validateEvent(reordered))).toEqual(signingInput(purge));
    expect(signingInput({ ...purge, source: 'cmk' })).not.toEqual(signingInput(purge));
    expect(signingInput(purge).toString()).toMatch(/^krypton\/orbital-event\/v1\n\{"at":1000,"id":/);
  });

  it('the wire form is the envelope plus sig; unsigned or badly signed bodies do not parse', () => {
    const body = keys.auth('registry').seal(purge).body;
    const { event, signature } = parseSignedEvent(body);
    expect(event).toEqual(purge);
    expect(signature).toHaveLength(64);
    const sealed = JSON.parse(body.toString()) as object;
    expect(Object.keys(sealed)).toEqual(['id', 'type', 'source', 'at', 'payload', 'sig']);
    expect(() => parseSignedEvent(JSON.stringify(purge))).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN', message: stringMatching(/not signed/) }),
    );
    expect(() => parseSignedEvent(JSON.stringify({ ...purge, sig: 'short' }))).toThrow(badRequest(/event.sig/));
    expect(() => encodeSignedEvent(purge, Buffer.alloc(10))).toThrow();
  });

  it('opens only what a trusted actor of the right role signed, dated no further ahead than allowed', () => {
    const core = keys.auth('core', { now: () => 1_000 });
    expect(core.open(keys.auth('registry').seal(purge).body)).toEqual(purge);
    // Another key than the one `registry` is pinned to:
    const forged = encodeSignedEvent(purge, keys.key('cmk').sign(signingInput(purge)));
    expect(() => core.open(forged)).toThrow(/does not verify under the key of registry/);
    // An actor the Core does not know:
    const stranger = testKeyring(['registry-x']);
    const x = makeEvent('Key.Purge', 'registry-x', { tenant: 't', service: 's' });
    expect(() => core.open(stranger.auth('registry-x').seal(x).body)).toThrow(
      /claims source registry-x, which this actor does not trust/,
    );
    stranger.destroy();
    // The CMK Server's real key, the wrong role:
    const byCmk = makeEvent('Key.Purge', 'cmk', { tenant: 't', service: 's' });
    expect(() => core.open(encodeSignedEvent(byCmk, keys.key('cmk').sign(signingInput(byCmk))))).toThrow(
      /cmk \(role cmk\) may not send Key.Purge: only the registry may/,
    );
    // Dated too far ahead:
    const late = makeEvent('Key.Purge', 'registry', { tenant: 't', service: 's' }, { at: 1_000 + 5 * 60_000 + 1 });
    expect(() => core.open(keys.auth('registry').seal(late).body)).toThrow(/dated 300001 ms in the future/);
  });

  it('an actor speaks only for itself; payload times are held to the same bound', () => {
    const hb = makeEvent('Sovereign.Heartbeat', 'cmk', { cmk: 'cmk-other', at: 1 });
    expect(() => checkSender(hb, 'cmk')).toThrow(/speaks for cmk-other/);
    const m = makeEvent('State.Manifest', 'core-a', { core: 'core-b', tenants: [], scopes: [], at: 1 });
    expect(() => checkSender(m, 'core')).toThrow(/speaks for core-b/);
    const ahead = makeEvent('Sovereign.Heartbeat', 'cmk', { cmk: 'cmk', at: Number.MAX_SAFE_INTEGER }, { at: 1 });
    expect(() => checkDate(ahead, 1, 60_000)).toThrow(/in the future/);
  });
});
