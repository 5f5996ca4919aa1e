import { describe, expect, it } from 'vitest';
import { decodeEvent, isPriority, makeEvent, validateEvent } from '../../src/mesh/events.js';

const badRequest = (message: RegExp) => expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringMatching(message) });
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
    makeEvent('State.Manifest', 'core-eu', { core: 'core-eu', tenants: ['t1'], scopes: [{ tenant: 't1', service: 's1' }], at: 2 });
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
      validateEvent({ ...base, type: 'Key.Define', payload: { tenant: 't', service: 's', action: 'define', rotateAfterSeconds: -1 } }),
    ).toThrow(badRequest(/rotateAfterSeconds/));
    expect(() => validateEvent({ ...base, at: -1, type: 'Key.Purge', payload: { tenant: 't', service: 's' } })).toThrow(
      badRequest(/event.at/),
    );
    expect(() =>
      validateEvent({ ...base, type: 'State.Manifest', payload: { core: 'c', tenants: ['ok', ''], scopes: [], at: 1 } }),
    ).toThrow(badRequest(/tenants\[1\]/));
    expect(() => decodeEvent('{not json')).toThrow(badRequest(/not valid JSON/));
  });

  it('gives only L1.Revoke priority', () => {
    expect(isPriority('L1.Revoke')).toBe(true);
    expect(isPriority('Key.Define')).toBe(false);
    expect(isPriority('Tenant.Define')).toBe(false);
  });
});
