/** What the Registry and CMK Server tests share: a dev PKI, actor configs, an event collector. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActorConfig } from '../../src/mesh/actor-runtime.js';
import { OrbitalAuth, trustedPeer, type TrustedPeer } from '../../src/mesh/auth.js';
import type { Mesh, MeshHub } from '../../src/mesh/mesh.js';
import { SigningKey } from '../../src/native/signing.js';
import { initDevPki } from '../../src/pki/index.js';
import { DEFAULT_MAX_FUTURE_SKEW_MS, type EventType, type OrbitalEvent } from '../../src/protocol/orbital-events.js';
import { roleOf } from '../mesh/keyring.js';
import { CORE_CONSUMES } from '../../src/core/orbital/node.js';

export interface TempPki {
  dir: string;
  pki: string;
  cleanup(): void;
}

/** A temp folder with the dev PKI in pki/. */
export async function tempPki(prefix: string): Promise<TempPki> {
  const dir = mkdtempSync(join(tmpdir(), `krypton-${prefix}-`));
  const pki = join(dir, 'pki');
  await initDevPki(pki);
  return { dir, pki, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Core ids the test actors trust (by the dev PKI's Core signing key). */
export const CORE_IDS = ['core', 'core-a', 'core-eu1', 'core-eu2', 'core-us1'] as const;

/** Every actor of the dev PKI: the Registry, the CMK Server and the Cores of CORE_IDS, by their `.pub` files. */
export function pkiTrust(t: TempPki): TrustedPeer[] {
  return ['registry', 'cmk', ...CORE_IDS].map((id) =>
    trustedPeer(id, roleOf(id), join(t.pki, `${roleOf(id)}-sign.pub`)),
  );
}

/** Actor `id` with the dev PKI's key of its role, trusting pkiTrust (close its mesh, then destroy()). */
export function pkiAuth(t: TempPki, id: string): { auth: OrbitalAuth; key: SigningKey; destroy(): void } {
  const key = SigningKey.load(join(t.pki, `${roleOf(id)}-sign.key`));
  // A stand-in, not the actor under test: it takes events dated by a test's clock moved hours ahead.
  return {
    auth: new OrbitalAuth({ id, role: roleOf(id), signer: key, peers: pkiTrust(t), maxFutureSkewMs: 86_400_000 }),
    key,
    destroy: () => key.destroy(),
  };
}

const endpoints = new WeakMap<MeshHub, Map<string, Mesh>>();

/** A stand-in actor's endpoint on the bus (one per bus and id), signing with the dev PKI's key of its role. */
export function meshAs(bus: MeshHub, t: TempPki, id: string): Mesh {
  let byId = endpoints.get(bus);
  if (byId === undefined) endpoints.set(bus, (byId = new Map<string, Mesh>()));
  let mesh = byId.get(id);
  if (mesh === undefined) byId.set(id, (mesh = bus.endpoint(pkiAuth(t, id).auth)));
  return mesh;
}

/** Publishes an event as its source would: through that actor's endpoint, signed with its key. */
export function publishAs(bus: MeshHub, t: TempPki, event: OrbitalEvent): Promise<void> {
  return meshAs(bus, t, event.source).publish(event);
}

/** An actor config on the dev PKI: a free port, SQLite in dir, the in-process mesh, trusting every actor of the PKI. */
export function actorConfig(name: 'registry' | 'cmk', t: TempPki, extra: Partial<ActorConfig> = {}): ActorConfig {
  return {
    id: name,
    host: '127.0.0.1',
    port: 0,
    store: `sqlite:${join(t.dir, `${name}-${Math.random().toString(36).slice(2)}.db`)}`,
    mesh: 'memory',
    tls: { cert: join(t.pki, `${name}.pem`), key: join(t.pki, `${name}-key.pem`), ca: join(t.pki, 'ca.pem') },
    admins: ['spiffe://krypton.dev/admin'],
    signingKey: join(t.pki, `${name}-sign.key`),
    trust: pkiTrust(t),
    maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS,
    ...extra,
  };
}

/** Subscribes a consumer (a stand-in Core) and keeps what it receives. */
export async function collect(
  mesh: Mesh,
  consumer = 'core',
  types: readonly EventType[] = CORE_CONSUMES,
): Promise<OrbitalEvent[]> {
  const got: OrbitalEvent[] = [];
  await mesh.subscribe(consumer, types, async (e) => {
    got.push(e);
  });
  return got;
}

/** The events as [type, payload] pairs, for exact comparisons. */
export const summary = (events: readonly OrbitalEvent[]) => events.map((e) => [e.type, e.payload] as const);
