/**
 * The stage of the Orbital attack tests (review M2): a Core on Orbital with
 * the genuine Registry and CMK Server (each its own endpoint and key), on
 * either transport, and an attacker who can put any bytes on the broker
 * (the broker is shared infrastructure, not a trust boundary). The Core
 * runs on a manual clock (the deadman switch); genuine events are dated by
 * it too.
 *
 * The attacker's bodies are built here from the wire format alone: an
 * unsigned envelope, or the envelope plus a signature by some key.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { ManualClock } from '../../src/core/clock.js';
import { Core } from '../../src/core/core.js';
import { createSoftL1Key } from '../../src/core/l1/index.js';
import { CoreOrbital } from '../../src/core/orbital/node.js';
import { AmqpMesh, amqpTopology, DEFAULT_AMQP_URL, deleteAmqpNamespace } from '../../src/mesh/amqp.js';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import type { Mesh } from '../../src/mesh/mesh.js';
import type { SigningKey } from '../../src/native/signing.js';
import {
  encodeSignedEvent,
  isPriority,
  makeEvent,
  signingInput,
  type EventType,
  type OrbitalEvent,
  type Payloads,
} from '../../src/protocol/orbital-events.js';
import { captureLogger, waitFor } from '../mesh/helpers.js';
import { freshKey, testKeyring, type Keyring } from '../mesh/keyring.js';

export type Transport = 'memory' | 'amqp';
export const AMQP_URL = process.env['KRYPTON_TEST_AMQP_URL'] ?? DEFAULT_AMQP_URL;
export const SKIP_AMQP = process.env['KRYPTON_SKIP_AMQP'] === '1';

export const GATEWAY = 'spiffe://krypton.dev/gateway/default';
export const TTL_SECONDS = 3600;

export interface OrbitalStage {
  transport: Transport;
  dir: string;
  core: Core;
  node: CoreOrbital;
  clock: ManualClock;
  keys: Keyring;
  /** The genuine actors, publishing through their own endpoints. */
  registry: Mesh;
  cmk: Mesh;
  /** The Core's own mesh (its counts: delivered, deadLettered). */
  coreMesh: Mesh;
  lines: Array<Record<string, unknown>>;
  /** A genuine event of the Registry or the CMK Server, dated by the Core's clock. */
  event<T extends EventType>(type: T, payload: Payloads[T], opts?: { at?: number; source?: string }): OrbitalEvent;
  /** The attacker: puts these bytes on the broker, routed as `type`. */
  raw(type: EventType, body: Buffer | string): Promise<void>;
  /** Resolves once the Core dead-lettered `n` more bodies than `before`. */
  deadLettered(before: number, n?: number): Promise<void>;
  /** The Core's dead-letter count so far. */
  deadCount(): number;
  /** Resolves once the Core has handled (applied, duplicate or stale) `n` more events of `type`. */
  handled(type: EventType, before: number, n?: number): Promise<void>;
  handledCount(type: EventType): number;
  close(): Promise<void>;
}

/** The envelope as JSON, with no signature: what anyone can write. */
export function unsigned(e: OrbitalEvent): string {
  return JSON.stringify(e);
}

/** The envelope signed by `key`, whoever it belongs to. */
export function signedBy(e: OrbitalEvent, key: SigningKey): Buffer {
  return encodeSignedEvent(e, key.sign(signingInput(e)));
}

/** A fresh key no actor trusts. */
export const strangerKey = freshKey;

export async function openOrbitalStage(transport: Transport): Promise<OrbitalStage> {
  const dir = mkdtempSync(join(tmpdir(), `krypton-forged-${transport}-`));
  const { logger, lines } = captureLogger();
  const clock = new ManualClock(Date.now());
  const core = await Core.open({
    ksiUrl: `sqlite:${join(dir, 'ksi.db')}`,
    tier2Dir: join(dir, 'tier2'),
    gateways: { [GATEWAY]: ['*'] },
    clock,
  });
  await core.init();
  const keys = testKeyring(['registry', 'cmk', 'core-a']);
  const coreAuth = keys.auth('core-a', { now: () => clock.now() });
  const closers: Array<() => Promise<void>> = [];
  let registry: Mesh;
  let cmk: Mesh;
  let coreMesh: Mesh;
  let raw: OrbitalStage['raw'];
  if (transport === 'memory') {
    const bus = new MemoryBus({ logger });
    registry = keys.on(bus, 'registry');
    cmk = keys.on(bus, 'cmk');
    coreMesh = bus.endpoint(coreAuth);
    raw = async (_type, body) => bus.publishRaw(typeof body === 'string' ? body : body.toString('utf8'));
    closers.push(() => bus.close());
  } else {
    const namespace = `krypton.test.forged.${randomBytes(4).toString('hex')}`;
    const open = async (auth: ReturnType<Keyring['auth']>) => {
      const m = new AmqpMesh({
        auth,
        url: AMQP_URL,
        namespace,
        logger,
        initialDelayMs: 20,
        maxDelayMs: 200,
        confirmTimeoutMs: 5_000,
      });
      await m.start(5_000);
      closers.push(() => m.close());
      return m;
    };
    registry = await open(keys.auth('registry'));
    cmk = await open(keys.auth('cmk'));
    coreMesh = await open(coreAuth);
    const conn = await amqp.connect(AMQP_URL, { timeout: 5_000 });
    const ch = await conn.createConfirmChannel();
    const exchange = amqpTopology(namespace).exchange;
    raw = async (type, body) => {
      ch.publish(exchange, type, Buffer.isBuffer(body) ? body : Buffer.from(body), {
        persistent: true,
        priority: isPriority(type) ? 9 : 0,
      });
      await ch.waitForConfirms();
    };
    // After the meshes (closers run in reverse): the namespace goes last.
    closers.unshift(async () => {
      await conn.close().catch(() => undefined);
      await deleteAmqpNamespace(AMQP_URL, namespace, ['core-a']).catch(() => undefined);
    });
  }
  const node = await CoreOrbital.attach(core, {
    id: 'core-a',
    mesh: coreMesh,
    logger,
    manifestSeconds: 3600,
    sovereignTtlSeconds: TTL_SECONDS,
  });
  closers.push(() => node.stop());

  const count = (type: EventType) =>
    Object.entries(node.status().events as Record<string, number>)
      .filter(([k]) => k.startsWith(`${type}:`))
      .reduce((n, [, v]) => n + v, 0);
  const deadCount = () => coreMesh.status().deadLettered;
  const stage: OrbitalStage = {
    transport,
    dir,
    core,
    node,
    clock,
    keys,
    registry,
    cmk,
    coreMesh,
    lines,
    event: (type, payload, opts = {}) =>
      makeEvent(
        type,
        opts.source ?? (type.startsWith('L1') || type === 'Sovereign.Heartbeat' ? 'cmk' : 'registry'),
        payload,
        { at: opts.at ?? clock.now() },
      ) as OrbitalEvent,
    raw: (type, body) => raw(type, body),
    deadCount,
    deadLettered: (before, n = 1) => waitFor(() => deadCount() >= before + n, 10_000, `${n} dead letter(s)`),
    handledCount: count,
    handled: (type, before, n = 1) => waitFor(() => count(type) >= before + n, 10_000, `${n} ${type} handled`),
    close: async () => {
      for (const c of closers.reverse()) await c().catch(() => undefined);
      await core.close();
      keys.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return stage;
}

/**
 * Tenant acme with service billing, defined by the Registry and linked by the CMK Server, served by the Core; returns
 * acme's L1 (a soft key file).
 */
export async function serveAcme(s: OrbitalStage): Promise<string> {
  const l1 = join(s.dir, `acme-${randomUUID()}.l1`);
  createSoftL1Key(l1);
  await s.registry.publish(s.event('Tenant.Define', { tenant: 'acme', action: 'onboard' }));
  await s.registry.publish(s.event('Key.Define', { tenant: 'acme', service: 'billing', action: 'define' }));
  await s.cmk.publish(s.event('L1.Reference', { tenant: 'acme', action: 'link', kind: 'soft', ref: l1 }));
  await waitFor(async () => (await activeVersions(s.core, 'acme', 'billing')) === 1, 10_000, 'acme/billing served');
  return l1;
}

export async function activeVersions(core: Core, tenant: string, service: string): Promise<number> {
  return (await core.ksi.read((tx) => tx.listL3(tenant, service))).filter((v) => v.state === 'ACTIVE').length;
}
