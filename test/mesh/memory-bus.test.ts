import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import type { Mesh } from '../../src/mesh/mesh.js';
import { makeEvent, type OrbitalEvent } from '../../src/protocol/orbital-events.js';
import { captureLogger, waitFor } from './helpers.js';
import { testKeyring } from './keyring.js';
import { stringMatching } from '../helpers/matchers.js';

const define = (service: string) => makeEvent('Key.Define', 'registry', { tenant: 't1', service, action: 'define' });
const revoke = () => makeEvent('L1.Revoke', 'cmk', { tenant: 't1', reason: 'L1 unlinked' });

const keys = testKeyring();
afterAll(() => keys.destroy());

/** The bus with an endpoint per actor: events go out signed by their source and are checked on delivery. */
function openBus(opts: ConstructorParameters<typeof MemoryBus>[0] = {}) {
  const bus = new MemoryBus({ logger: captureLogger().logger, ...opts });
  const registry = keys.on(bus, 'registry');
  const cmk = keys.on(bus, 'cmk');
  const core = keys.on(bus, 'core');
  /** Publishes through the endpoint of the event's source. */
  const publish = (e: OrbitalEvent) => (({ registry, cmk, core }) as Record<string, Mesh>)[e.source].publish(e);
  return { bus, registry, cmk, core, publish };
}

describe('MemoryBus', () => {
  it('delivers a published event to each subscribed consumer, as a copy', async () => {
    const { bus, core, cmk, publish } = openBus();
    const a: OrbitalEvent[] = [];
    const b: OrbitalEvent[] = [];
    await core.subscribe('core', ['Key.Define'], async (e) => void a.push(e));
    await cmk.subscribe('cmk', ['Key.Define'], async (e) => void b.push(e));
    const e = define('s1');
    await publish(e);
    await bus.idle();
    expect(a).toEqual([e]);
    expect(b).toEqual([e]);
    expect(a[0]).not.toBe(e);
    expect(bus.status()).toMatchObject({ connected: true, transport: 'memory', published: 1, delivered: 2 });
  });

  it('delivers only the types a consumer subscribed to', async () => {
    const { bus, core, cmk, publish } = openBus();
    const got: string[] = [];
    await cmk.subscribe('cmk', ['Tenant.Define'], async (e) => void got.push(e.type));
    await core.subscribe('core', ['Key.Define', 'Key.Purge'], async () => {});
    await publish(define('s1'));
    await publish(makeEvent('Tenant.Define', 'registry', { tenant: 't1', action: 'onboard' }));
    await publish(makeEvent('Key.Purge', 'registry', { tenant: 't1', service: 's1' }));
    await bus.idle();
    expect(got).toEqual(['Tenant.Define']);
  });

  it('keeps events for a declared consumer until it subscribes, in order', async () => {
    const { bus, core, publish } = openBus();
    await core.declare('core', ['Key.Define']);
    for (const s of ['s1', 's2', 's3']) await publish(define(s));
    expect(bus.depth('core')).toBe(3);
    const got: string[] = [];
    await core.subscribe(
      'core',
      ['Key.Define'],
      async (e) => void got.push(e.type === 'Key.Define' ? e.payload.service : ''),
    );
    await bus.idle();
    expect(got).toEqual(['s1', 's2', 's3']);
  });

  it('delivers an L1.Revoke ahead of queued routine events', async () => {
    const { bus, core, publish } = openBus();
    await core.declare('core', ['Key.Define', 'L1.Revoke']);
    for (let i = 0; i < 20; i++) await publish(define(`s${i}`));
    await publish(revoke());
    const got: string[] = [];
    await core.subscribe('core', ['Key.Define', 'L1.Revoke'], async (e) => void got.push(e.type));
    await bus.idle();
    expect(got).toHaveLength(21);
    expect(got[0]).toBe('L1.Revoke');
  });

  it('overtakes routine events still queued behind a busy handler', async () => {
    const { bus, core, publish } = openBus();
    const got: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await core.subscribe('core', ['Key.Define', 'L1.Revoke'], async (e) => {
      got.push(e.type);
      if (got.length === 1) await gate; // the first routine event is in flight
    });
    for (let i = 0; i < 10; i++) await publish(define(`s${i}`));
    await waitFor(() => got.length === 1);
    await publish(revoke());
    release();
    await bus.idle();
    expect(got).toHaveLength(11);
    expect(got.indexOf('L1.Revoke')).toBe(1);
  });

  it('awaits handlers one at a time per consumer', async () => {
    const { bus, core, publish } = openBus();
    let inFlight = 0;
    let most = 0;
    await core.subscribe('core', ['Key.Define'], async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
    });
    for (let i = 0; i < 5; i++) await publish(define(`s${i}`));
    await bus.idle();
    expect(most).toBe(1);
  });

  it('retries a throwing handler, then dead-letters the event with a log line', async () => {
    const { logger, lines } = captureLogger();
    const { bus, core, publish } = openBus({ logger, maxAttempts: 3 });
    let calls = 0;
    const after: string[] = [];
    await core.subscribe('core', ['Key.Define'], async (e) => {
      if (e.type === 'Key.Define' && e.payload.service === 'poison') {
        calls++;
        throw new Error('boom');
      }
      after.push(e.type);
    });
    await publish(define('poison'));
    await publish(define('fine'));
    await bus.idle();
    expect(calls).toBe(3);
    expect(after).toEqual(['Key.Define']);
    expect(bus.deadLetters()).toEqual([
      expect.objectContaining({ consumer: 'core', reason: stringMatching(/3 times: boom/) }),
    ]);
    expect(bus.status()).toMatchObject({ retried: 2, deadLettered: 1, delivered: 1 });
    expect(lines.some((l) => l['msg'] === 'orbital: event dead-lettered')).toBe(true);
  });

  it('recovers when a handler fails once: the retry succeeds', async () => {
    const { bus, core, publish } = openBus();
    let calls = 0;
    await core.subscribe('core', ['Key.Define'], async () => {
      if (++calls === 1) throw new Error('transient');
    });
    await publish(define('s1'));
    await bus.idle();
    expect(calls).toBe(2);
    expect(bus.deadLetters()).toHaveLength(0);
  });

  it('dead-letters a malformed or unknown event and keeps consuming', async () => {
    const { logger, lines } = captureLogger();
    const { bus, core, publish } = openBus({ logger });
    const got: string[] = [];
    await core.subscribe('core', ['Key.Define'], async (e) => void got.push(e.id));
    bus.publishRaw(
      JSON.stringify({ id: 'nope', type: 'Key.Define', source: 'x', at: 1, payload: {}, sig: 'A'.repeat(86) + '==' }),
    );
    bus.publishRaw('{not json');
    bus.publishRaw(JSON.stringify({ ...define('s1'), type: 'Key.Steal' }));
    const good = define('s2');
    await publish(good);
    await bus.idle();
    expect(got).toEqual([good.id]);
    // Unroutable bodies are dead-lettered at once; the malformed one on delivery.
    expect(bus.deadLetters().map((d) => d.consumer)).toEqual([null, null, 'core']);
    expect(bus.deadLetters()[2]?.reason).toMatch(/event.id/);
    expect(lines.filter((l) => l['msg'] === 'orbital: event dead-lettered')).toHaveLength(3);
  });

  it('refuses to publish a malformed event at its source', async () => {
    const { registry } = openBus();
    const bad = { ...define('s1'), payload: { tenant: 'a b' } } as unknown as OrbitalEvent;
    await expect(registry.publish(bad)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('refuses to sign an event as another actor, or one its role may not send', async () => {
    const { registry, cmk } = openBus();
    await expect(cmk.publish(define('s1'))).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: stringMatching(/cannot sign an event whose source is registry/),
    });
    const purgeByCmk = makeEvent('Key.Purge', 'cmk', { tenant: 't1', service: 's1' });
    await expect(cmk.publish(purgeByCmk)).rejects.toMatchObject({
      code: 'FORBIDDEN',
      message: stringMatching(/only the registry may/),
    });
    await expect(registry.publish(revoke())).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('an idempotent handler changes nothing when the same event id arrives twice', async () => {
    const { bus, core, publish } = openBus();
    // The pattern every Orbital handler follows: remember processed ids and
    // apply each event once (in an actor, the set is a table written in the
    // same transaction as the effect).
    const processed = new Set<string>();
    const services = new Map<string, number>();
    await core.subscribe('core', ['Key.Define'], async (e) => {
      if (processed.has(e.id) || e.type !== 'Key.Define') return;
      services.set(e.payload.service, (services.get(e.payload.service) ?? 0) + 1);
      processed.add(e.id);
    });
    const e = define('s1');
    await publish(e);
    await publish(e);
    await bus.idle();
    expect(bus.status().delivered).toBe(2);
    expect(services).toEqual(new Map([['s1', 1]]));
  });

  it('rejects publish after close', async () => {
    const { bus, registry } = openBus();
    await bus.close();
    expect(bus.status().connected).toBe(false);
    expect(registry.status().connected).toBe(false);
    await expect(registry.publish(define('s1'))).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
