/**
 * Forged Orbital events (review M2): the broker is shared, so anyone on it
 * can publish any bytes with any `source`. Each attack runs on the
 * in-process bus and on RabbitMQ against a Core serving acme/billing, with
 * the genuine Registry and CMK Server beside it. What the Core must do:
 * dead-letter what was not signed by a trusted actor allowed that type, or
 * is dated too far ahead, change nothing because of it, and keep applying
 * genuine events; a replay of a genuine event changes nothing either.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HpkeRecipient } from '../../src/native/index.js';
import type { EventType, OrbitalEvent } from '../../src/protocol/orbital-events.js';
import {
  activeVersions,
  GATEWAY,
  openOrbitalStage,
  serveAcme,
  signedBy,
  SKIP_AMQP,
  strangerKey,
  TTL_SECONDS,
  unsigned,
  type OrbitalStage,
  type Transport,
} from './orbital-stage.js';
import { newLeaseRequest } from '../../src/protocol/lease.js';

const TRANSPORTS: Transport[] = SKIP_AMQP ? ['memory'] : ['memory', 'amqp'];
const MINUTE = 60_000;

describe.each(TRANSPORTS)('forged Orbital events (%s)', (transport) => {
  let s: OrbitalStage;
  let l1: string;
  beforeEach(async () => {
    s = await openOrbitalStage(transport);
    l1 = await serveAcme(s);
  }, 30_000);
  afterEach(async () => s?.close());

  /**
   * Puts a body on the broker and waits until the Core is done with it:
   * dead-lettered, or handled (which is what a forgery achieves when it is
   * not caught). Returns which.
   */
  async function inject(type: EventType, body: Buffer | string): Promise<'dead-lettered' | 'handled'> {
    const dead = s.deadCount();
    const handled = s.handledCount(type);
    await s.raw(type, body);
    const until = Date.now() + 10_000;
    for (;;) {
      if (s.deadCount() > dead) return 'dead-lettered';
      if (s.handledCount(type) > handled) return 'handled';
      if (Date.now() > until) throw new Error(`the Core neither handled nor dead-lettered the ${type}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  const deadLetterReasons = () =>
    s.lines.filter((l) => l['msg'] === 'orbital: event dead-lettered').map((l) => String(l['reason']));
  const purge = () => s.event('Key.Purge', { tenant: 'acme', service: 'billing' });
  const heartbeat = (source = 'cmk') => s.event('Sovereign.Heartbeat', { cmk: source, at: s.clock.now() }, { source });
  const lease = async () => {
    const r = HpkeRecipient.generate();
    try {
      return await s.core.issueLease(GATEWAY, newLeaseRequest('acme', 'billing', r.publicKey));
    } finally {
      r.destroy();
    }
  };

  it('a forged Key.Purge, unsigned, purges nothing', async () => {
    expect(await inject('Key.Purge', unsigned(purge()))).toBe('dead-lettered');
    expect(await activeVersions(s.core, 'acme', 'billing')).toBe(1);
    await expect(lease()).resolves.toBeDefined();
    expect(deadLetterReasons().at(-1)).toMatch(/not signed/);
  });

  it('a forged Key.Purge signed by a key nobody trusts purges nothing (claiming the Registry, or an unknown actor)', async () => {
    const stranger = strangerKey();
    try {
      expect(await inject('Key.Purge', signedBy(purge(), stranger))).toBe('dead-lettered');
      expect(deadLetterReasons().at(-1)).toMatch(/does not verify under the key of registry/);
      const unknown = s.event('Key.Purge', { tenant: 'acme', service: 'billing' }, { source: 'registry-2' });
      expect(await inject('Key.Purge', signedBy(unknown, stranger))).toBe('dead-lettered');
      expect(deadLetterReasons().at(-1)).toMatch(/claims source registry-2, which this actor does not trust/);
    } finally {
      stranger.destroy();
    }
    expect(await activeVersions(s.core, 'acme', 'billing')).toBe(1);
    await expect(lease()).resolves.toBeDefined();
  });

  it("a forged Key.Purge signed with the CMK Server's real key (the wrong role) purges nothing", async () => {
    const asCmk = s.event('Key.Purge', { tenant: 'acme', service: 'billing' }, { source: 'cmk' });
    expect(await inject('Key.Purge', signedBy(asCmk, s.keys.key('cmk')))).toBe('dead-lettered');
    expect(deadLetterReasons().at(-1)).toMatch(/cmk \(role cmk\) may not send Key.Purge: only the registry may/);
    // Nor can its key pass for the Registry's.
    expect(await inject('Key.Purge', signedBy(purge(), s.keys.key('cmk')))).toBe('dead-lettered');
    expect(await activeVersions(s.core, 'acme', 'billing')).toBe(1);
    // The genuine Registry's purge still works.
    await s.registry.publish(purge());
    await s.handled('Key.Purge', 0);
    expect(await activeVersions(s.core, 'acme', 'billing')).toBe(0);
  });

  it('a forged Sovereign.Heartbeat does not keep the deadman switch quiet', async () => {
    await s.cmk.publish(heartbeat());
    await s.handled('Sovereign.Heartbeat', 0);
    s.clock.advance(TTL_SECONDS * 1000 - MINUTE);
    const stranger = strangerKey();
    try {
      // Unsigned; signed by a stranger as the CMK Server; signed by the Registry's real key (not its role).
      expect(await inject('Sovereign.Heartbeat', unsigned(heartbeat()))).toBe('dead-lettered');
      expect(await inject('Sovereign.Heartbeat', signedBy(heartbeat(), stranger))).toBe('dead-lettered');
      expect(await inject('Sovereign.Heartbeat', signedBy(heartbeat('registry'), s.keys.key('registry')))).toBe(
        'dead-lettered',
      );
    } finally {
      stranger.destroy();
    }
    s.clock.advance(2 * MINUTE);
    expect(s.node.deadman.state()).toMatchObject({ serving: false });
    await expect(lease()).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE' });
    // The genuine CMK Server is heard again.
    await s.cmk.publish(heartbeat());
    await s.handled('Sovereign.Heartbeat', 1);
    expect(s.node.deadman.state().serving).toBe(true);
  });

  it('an event dated in the far future (at = 2^53-1) is dead-lettered, and later genuine events still apply', async () => {
    // Signed with the Registry's real key (a Registry whose clock went wrong, or a replay of one that did).
    const far = s.event(
      'Key.Define',
      { tenant: 'acme', service: 'billing', action: 'delete' },
      { at: Number.MAX_SAFE_INTEGER },
    );
    expect(await inject('Key.Define', signedBy(far, s.keys.key('registry')))).toBe('dead-lettered');
    expect(deadLetterReasons().at(-1)).toMatch(/dated \d+ ms in the future \(at most 300000 ms allowed\)/);
    const scope = () => s.core.ksi.read((tx) => tx.getScope('acme', 'billing'));
    expect(await scope()).toMatchObject({ deleted: false, rotateAfterSeconds: null });
    // Had it applied, the scope's mark would be 2^53-1 and this genuine change would be dropped as stale.
    s.clock.advance(1000);
    const before = s.handledCount('Key.Define');
    await s.registry.publish(
      s.event('Key.Define', { tenant: 'acme', service: 'billing', action: 'define', rotateAfterSeconds: 7200 }),
    );
    await s.handled('Key.Define', before);
    expect(await scope()).toMatchObject({ deleted: false, rotateAfterSeconds: 7200 });
    expect(s.node.status().events).not.toHaveProperty(['Key.Define:stale']);
  });

  it('a replayed genuine event changes nothing: the same body again, or renumbered and redated', async () => {
    // The CMK Server's genuine L1.Revoke, as it went over the wire (the attacker recorded it).
    const revoke = s.event('L1.Revoke', { tenant: 'acme', reason: 'L1 unlinked' });
    const wire = s.keys.auth('cmk').seal(revoke).body;
    expect(await inject('L1.Revoke', wire)).toBe('handled');
    expect((await s.core.tenants.get('acme'))!.state).toBe('REVOKED');
    // Relinked later: serving again.
    s.clock.advance(1000);
    const before = s.handledCount('L1.Reference');
    await s.cmk.publish(s.event('L1.Reference', { tenant: 'acme', action: 'link', kind: 'soft', ref: l1 }));
    await s.handled('L1.Reference', before);
    expect((await s.core.tenants.get('acme'))!.state).toBe('ACTIVE');
    // The same bytes again: the handled id makes it a duplicate.
    expect(await inject('L1.Revoke', wire)).toBe('handled');
    expect(s.node.status().events).toMatchObject({ 'L1.Revoke:duplicate': 1 });
    // A fresh id and a fresh date to get past the handled id and the subject's mark: the signature no longer holds.
    const again = JSON.parse(wire.toString()) as OrbitalEvent & { sig: string };
    again.id = randomUUID();
    again.at = s.clock.now() + 1;
    expect(await inject('L1.Revoke', JSON.stringify(again))).toBe('dead-lettered');
    expect((await s.core.tenants.get('acme'))!.state).toBe('ACTIVE');
    await expect(lease()).resolves.toBeDefined();
  });

  it('a replayed genuine Sovereign.Heartbeat does not keep the deadman switch quiet', async () => {
    const beat = heartbeat();
    const wire = s.keys.auth('cmk').seal(beat).body;
    expect(await inject('Sovereign.Heartbeat', wire)).toBe('handled');
    s.clock.advance(TTL_SECONDS * 1000 - MINUTE);
    // Replayed an hour later, to reset the switch: it is not newer than the last beat heard.
    expect(await inject('Sovereign.Heartbeat', wire)).toBe('handled');
    expect(s.node.status().events).toMatchObject({ 'Sovereign.Heartbeat:stale': 1 });
    s.clock.advance(2 * MINUTE);
    expect(s.node.deadman.state().serving).toBe(false);
    await expect(lease()).rejects.toMatchObject({ code: 'KEY_UNAVAILABLE' });
  });
});
