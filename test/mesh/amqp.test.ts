import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AmqpMesh, ATTEMPTS_HEADER, CONSUMER_HEADER, DEFAULT_AMQP_URL, REASON_HEADER } from '../../src/mesh/amqp.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTenantStore } from './tenant-store.js';
import { Outbox } from '../../src/mesh/outbox.js';
import { encodeSignedEvent, makeEvent, signingInput, type OrbitalEvent } from '../../src/protocol/orbital-events.js';
import { dropConnection } from '../helpers/amqp-drop.js';
import { captureLogger, waitFor } from './helpers.js';
import { freshKey, testKeyring } from './keyring.js';

/**
 * Against the real RabbitMQ of CI. Unreachable broker = failure, unless
 * KRYPTON_SKIP_AMQP=1. Every test uses its own namespace (exchange and
 * queues), deleted afterwards.
 */
const URL = process.env['KRYPTON_TEST_AMQP_URL'] ?? DEFAULT_AMQP_URL;
const RUN = randomBytes(4).toString('hex');

const keys = testKeyring();
afterAll(() => keys.destroy());

const define = (service: string) => makeEvent('Key.Define', 'registry', { tenant: 't1', service, action: 'define' });
const revoke = () => makeEvent('L1.Revoke', 'cmk', { tenant: 't1', reason: 'L1 unlinked' });

describe.skipIf(process.env['KRYPTON_SKIP_AMQP'] === '1')('AmqpMesh (RabbitMQ)', () => {
  let admin: amqp.ChannelModel;
  let adminCh: amqp.Channel;
  const meshes: AmqpMesh[] = [];
  const consumers = new Map<AmqpMesh, string[]>();
  let n = 0;

  beforeAll(async () => {
    admin = await amqp.connect(URL, { timeout: 5_000 });
    adminCh = await admin.createChannel();
  });

  afterAll(async () => {
    await admin?.close();
  });

  afterEach(async () => {
    for (const m of meshes.splice(0)) {
      await m.close();
      const t = m.topology;
      for (const c of consumers.get(m) ?? []) await adminCh.deleteQueue(t.queueFor(c));
      await adminCh.deleteQueue(t.deadLetterQueue);
      await adminCh.deleteExchange(t.exchange);
      await adminCh.deleteExchange(t.deadLetterExchange);
    }
  });

  /** A started mesh on a fresh namespace; the consumers named are cleaned up afterwards. */
  async function open(names: string[], extra: { maxAttempts?: number } = {}) {
    const { logger, lines } = captureLogger();
    const mesh = new AmqpMesh({
      // One connection playing the Registry and the CMK Server (each event signed by its source's key) and receiving as
      // a Core.
      auth: keys.anyone('core'),
      url: URL,
      namespace: `krypton.test.${RUN}.${++n}`,
      logger,
      initialDelayMs: 20,
      maxDelayMs: 200,
      confirmTimeoutMs: 5_000,
      ...extra,
    });
    meshes.push(mesh);
    consumers.set(mesh, names);
    await mesh.start(5_000);
    return { mesh, lines };
  }

  async function deadLetters(mesh: AmqpMesh, count: number): Promise<amqp.GetMessage[]> {
    const out: amqp.GetMessage[] = [];
    const deadline = Date.now() + 5_000;
    while (out.length < count && Date.now() < deadline) {
      const msg = await adminCh.get(mesh.topology.deadLetterQueue, { noAck: true });
      if (msg) out.push(msg);
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return out;
  }

  it('round-trips an event with publisher confirms and manual acks', async () => {
    const { mesh } = await open(['core']);
    const got: OrbitalEvent[] = [];
    await mesh.subscribe('core', ['Key.Define', 'Tenant.Define'], async (e) => void got.push(e));
    const e = define('s1');
    await mesh.publish(e);
    await mesh.publish(makeEvent('Key.Purge', 'registry', { tenant: 't1', service: 's1' }));
    await waitFor(() => got.length === 1);
    expect(got).toEqual([e]);
    expect(mesh.status()).toMatchObject({ connected: true, transport: 'amqp', delivered: 1 });
    // Acked: nothing is left in the queue.
    await waitFor(() => mesh.status().delivered === 1);
    const q = await adminCh.checkQueue(mesh.topology.queueFor('core'));
    expect(q.messageCount).toBe(0);
  });

  it('redelivers when a handler throws, and dead-letters after maxAttempts', async () => {
    const { mesh, lines } = await open(['core'], { maxAttempts: 3 });
    const calls = new Map<string, number>();
    await mesh.subscribe('core', ['Key.Define'], async (e) => {
      if (e.type !== 'Key.Define') return;
      calls.set(e.payload.service, (calls.get(e.payload.service) ?? 0) + 1);
      if (e.payload.service === 'flaky' && calls.get('flaky') === 1) throw new Error('transient');
      if (e.payload.service === 'poison') throw new Error('always');
    });
    await mesh.publish(define('flaky'));
    await mesh.publish(define('poison'));
    await waitFor(() => (calls.get('poison') ?? 0) === 3 && mesh.status().deadLettered === 1, 5_000, 'retries');
    expect(calls.get('flaky')).toBe(2);
    const [dead] = await deadLetters(mesh, 1);
    expect((JSON.parse(dead.content.toString()) as { payload: { service: string } }).payload.service).toBe('poison');
    expect(dead.properties.headers?.[REASON_HEADER]).toMatch(/3 times: always/);
    expect(dead.properties.headers?.[ATTEMPTS_HEADER]).toBe(2);
    expect(lines.some((l) => l['msg'] === 'orbital: event dead-lettered')).toBe(true);
  });

  it('dead-letters a malformed message published raw and keeps consuming', async () => {
    const { mesh, lines } = await open(['core']);
    const got: string[] = [];
    await mesh.subscribe('core', ['Key.Define'], async (e) => void got.push(e.id));
    const ch = await admin.createConfirmChannel();
    try {
      ch.publish(mesh.topology.exchange, 'Key.Define', Buffer.from('{"id":"x","type":"Key.Define"}'), {
        persistent: true,
      });
      ch.publish(mesh.topology.exchange, 'Key.Define', Buffer.from('not json at all'), { persistent: true });
      // An unknown type has no binding: the alternate exchange dead-letters it.
      ch.publish(
        mesh.topology.exchange,
        'Key.Steal',
        Buffer.from(JSON.stringify({ ...define('s0'), type: 'Key.Steal' })),
      );
      await ch.waitForConfirms();
    } finally {
      await ch.close();
    }
    const good = define('s1');
    await mesh.publish(good);
    await waitFor(() => got.length === 1);
    expect(got).toEqual([good.id]);
    const dead = await deadLetters(mesh, 3);
    expect(dead).toHaveLength(3);
    const reasons = dead.map((d): unknown => d.properties.headers?.[REASON_HEADER] ?? 'unroutable');
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/not signed/),
        expect.stringMatching(/not valid JSON/),
        'unroutable',
      ]),
    );
    expect(dead.filter((d) => d.properties.headers?.[CONSUMER_HEADER] === 'core')).toHaveLength(2);
    expect(lines.filter((l) => l['msg'] === 'orbital: event dead-lettered')).toHaveLength(2);
  });

  it('dead-letters what fails authentication (unsigned, a stranger, the wrong role, dated far ahead) with the reason, before the handler runs', async () => {
    const { mesh, lines } = await open(['core']);
    const got: string[] = [];
    await mesh.subscribe('core', ['Key.Purge'], async (e) => void got.push(e.id));
    const purge = (source = 'registry', at = Date.now()) =>
      makeEvent('Key.Purge', source, { tenant: 't1', service: 's1' }, { at });
    const signed = (e: OrbitalEvent, id: string) => encodeSignedEvent(e, keys.key(id).sign(signingInput(e)));
    const stranger = freshKey();
    const ch = await admin.createConfirmChannel();
    try {
      for (const body of [
        Buffer.from(JSON.stringify(purge())),
        encodeSignedEvent(purge(), stranger.sign(signingInput(purge()))),
        signed(purge('cmk'), 'cmk'),
        signed(purge('registry', Number.MAX_SAFE_INTEGER), 'registry'),
      ]) {
        ch.publish(mesh.topology.exchange, 'Key.Purge', body, { persistent: true });
      }
      await ch.waitForConfirms();
    } finally {
      await ch.close();
      stranger.destroy();
    }
    const good = purge();
    await mesh.publish(good);
    await waitFor(() => got.length === 1);
    expect(got).toEqual([good.id]);
    const reasons = (await deadLetters(mesh, 4)).map((d) => String(d.properties.headers?.[REASON_HEADER]));
    expect(reasons).toEqual([
      expect.stringMatching(/not signed/),
      expect.stringMatching(/does not verify under the key of registry/),
      expect.stringMatching(/cmk \(role cmk\) may not send Key.Purge/),
      expect.stringMatching(/in the future/),
    ]);
    expect(lines.filter((l) => l['msg'] === 'orbital: event dead-lettered')).toHaveLength(4);
  });

  it('delivers an L1.Revoke ahead of 50 queued routine events', async () => {
    const { mesh } = await open(['core']);
    await mesh.declare('core', ['Key.Define', 'L1.Revoke']);
    for (let i = 0; i < 50; i++) await mesh.publish(define(`s${i}`));
    await mesh.publish(revoke());
    const got: string[] = [];
    await mesh.subscribe('core', ['Key.Define', 'L1.Revoke'], async (e) => void got.push(e.type));
    await waitFor(() => got.length === 51, 10_000, 'all 51 events');
    expect(got[0]).toBe('L1.Revoke');
  });

  it('reconnects after the connection drops: subscriptions resume and new events arrive', async () => {
    const { mesh } = await open(['core']);
    const got: string[] = [];
    await mesh.subscribe('core', ['Key.Define'], async (e) => {
      if (e.type === 'Key.Define') got.push(e.payload.service);
    });
    await mesh.publish(define('before'));
    await waitFor(() => got.length === 1);

    dropConnection(mesh);
    await waitFor(() => !mesh.status().connected, 5_000, 'the drop to be seen');
    await expect(mesh.publish(define('while-down'))).rejects.toMatchObject({ code: 'INTERNAL' });

    await mesh.waitConnected(10_000);
    expect(mesh.status().reconnects).toBe(1);
    await mesh.publish(define('after'));
    await waitFor(() => got.includes('after'), 5_000, 'the event after reconnecting');
    // At-least-once: if the drop beat the ack of 'before', the broker redelivers it (handlers are
    // idempotent: handleOnce). Nothing is lost, the event published while down is refused, not queued.
    expect([...new Set(got)]).toEqual(['before', 'after']);
    expect(got.filter((s) => s === 'after')).toHaveLength(1);
  });

  it('keeps events published while the consumer process is away (durable queue)', async () => {
    const { mesh } = await open(['core']);
    const first = await mesh.subscribe('core', ['Key.Define'], async () => {});
    await first.cancel();
    await mesh.publish(define('queued'));
    const got: string[] = [];
    await mesh.subscribe('core', ['Key.Define'], async (e) => {
      if (e.type === 'Key.Define') got.push(e.payload.service);
    });
    await waitFor(() => got.length === 1);
    expect(got).toEqual(['queued']);
  });

  it('an outbox event written while the publisher has no broker is sent once it connects', async () => {
    const { mesh: consumerSide } = await open(['cmk']);
    const got: string[] = [];
    await consumerSide.subscribe('cmk', ['Tenant.Define'], async (e) => {
      if (e.type === 'Tenant.Define') got.push(e.payload.tenant);
    });
    // The Registry's own mesh, not connected yet: every publish rejects.
    const registry = new AmqpMesh({
      auth: keys.auth('registry'),
      url: URL,
      namespace: consumerSide.topology.exchange,
      logger: captureLogger().logger,
      initialDelayMs: 20,
      maxDelayMs: 200,
    });
    const dir = mkdtempSync(join(tmpdir(), 'krypton-outbox-amqp-'));
    const db = await openTenantStore(join(dir, 'registry.db'));
    const outbox = new Outbox(db, {
      mesh: registry,
      logger: captureLogger().logger,
      initialDelayMs: 20,
      maxDelayMs: 200,
    });
    try {
      outbox.start();
      await outbox.transact(async (tx) => {
        await tx.insertTenant('t1');
        return {
          result: undefined,
          events: [makeEvent('Tenant.Define', 'registry', { tenant: 't1', action: 'onboard' })],
        };
      });
      const down = await outbox.flush();
      expect(down).toMatchObject({ sent: 0, pending: 1 });
      expect(down.error).toMatchObject({ code: 'INTERNAL' });

      await registry.start(5_000);
      await waitFor(async () => got.length === 1 && (await outbox.pending()) === 0, 10_000, 'the relayed event');
      expect(got).toEqual(['t1']);
    } finally {
      await outbox.stop();
      await registry.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects publish before it has connected', async () => {
    const mesh = new AmqpMesh({
      auth: keys.auth('registry'),
      url: URL,
      namespace: `krypton.test.${RUN}.unused`,
      logger: captureLogger().logger,
    });
    await expect(mesh.publish(define('s1'))).rejects.toMatchObject({ code: 'INTERNAL' });
    await mesh.close();
  });
});
