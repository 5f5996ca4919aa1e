import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPkcs11L1Key } from '../../../src/core/l1/index.js';
import { CoreOrbital } from '../../../src/core/orbital/node.js';
import { MemoryBus } from '../../../src/mesh/memory-bus.js';
import { makeEvent } from '../../../src/protocol/orbital-events.js';
import { testKeyring } from '../../mesh/keyring.js';
import { HpkeRecipient } from '../../../src/native/index.js';
import { captureLogger } from '../../mesh/helpers.js';
import { GATEWAY, openTestCore } from '../core-fixture.js';
import { missing, PIN, skip, SoftHsm } from '../l1/softhsm.js';
import { newLeaseRequest } from '../../../src/protocol/lease.js';

describe.skipIf(skip)(`an HSM L1 linked over Orbital${missing ? ` (${missing})` : ''}`, () => {
  let hsm: SoftHsm;
  let ref: string;
  beforeAll(async () => {
    hsm = new SoftHsm();
    hsm.initToken('orbital-l1');
    ref = await createPkcs11L1Key(hsm.uri('orbital-l1', 'l1-key'), 'l1-key');
  });
  afterAll(() => hsm?.remove());

  it('binds a new L2 at creation; an L2 that predates the link is served, not dead-lettered', async () => {
    const t = await openTestCore({ l1Pin: PIN });
    const { logger, lines } = captureLogger();
    const bus = new MemoryBus({ logger });
    const keys = testKeyring(['core', 'registry', 'cmk']);
    const registry = keys.on(bus, 'registry');
    const cmk = keys.on(bus, 'cmk');
    const node = await CoreOrbital.attach(t.core, {
      id: 'core',
      mesh: keys.on(bus, 'core'),
      logger,
      manifestSeconds: 3600,
    });
    try {
      await t.core.init();
      // A tenant created before any L1 (the Core's admin API): its L2 has no sovereign binding.
      await t.core.onboardTenant('legacy');
      for (const [tenant, source] of [
        ['fresh', 'registry'],
        ['legacy', 'registry'],
      ] as const) {
        await registry.publish(makeEvent('Tenant.Define', source, { tenant, action: 'onboard' }));
        await registry.publish(makeEvent('Key.Define', source, { tenant, service: 'app', action: 'define' }));
        await cmk.publish(makeEvent('L1.Reference', 'cmk', { tenant, action: 'link', kind: 'pkcs11', ref }));
      }
      await bus.idle();
      // Only the Core's own manifest (nobody consumes it here) may be a dead letter.
      expect(bus.deadLetters().filter((d) => !d.body.includes('"State.Manifest"'))).toEqual([]);
      const [fresh] = await t.core.ksi.read((tx) => tx.listL2('fresh'));
      expect(fresh.wrappedSovereign).not.toBeNull();
      const [legacy] = await t.core.ksi.read((tx) => tx.listL2('legacy'));
      expect(legacy.wrappedSovereign).toBeNull();
      expect(lines.some((l) => String(l.msg).includes('cannot bind the existing L2'))).toBe(true);
      for (const tenant of ['fresh', 'legacy']) {
        const r = HpkeRecipient.generate();
        await expect(t.core.issueLease(GATEWAY, newLeaseRequest(tenant, 'app', r.publicKey))).resolves.toBeDefined();
        r.destroy();
      }
    } finally {
      await node.stop();
      await bus.close();
      keys.destroy();
      await t.cleanup();
    }
  });
});
