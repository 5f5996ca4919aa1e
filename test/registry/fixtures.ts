/** What the Registry and CMK Server tests share: a dev PKI, actor configs, an event collector. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActorConfig } from '../../src/mesh/actor-runtime.js';
import type { EventType, OrbitalEvent } from '../../src/mesh/events.js';
import type { Mesh } from '../../src/mesh/mesh.js';
import { initDevPki } from '../../src/pki/index.js';

export const ALL_TYPES: readonly EventType[] = ['Tenant.Define', 'Key.Define', 'L1.Reference', 'Sovereign.Heartbeat', 'Key.Purge', 'L1.Revoke'];

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

/** An actor config on the dev PKI: a free port, SQLite in dir, the in-process mesh. */
export function actorConfig(name: 'registry' | 'cmk', t: TempPki, extra: Partial<ActorConfig> = {}): ActorConfig {
  return {
    id: name,
    host: '127.0.0.1',
    port: 0,
    store: `sqlite:${join(t.dir, `${name}-${Math.random().toString(36).slice(2)}.db`)}`,
    mesh: 'memory',
    tls: { cert: join(t.pki, `${name}.pem`), key: join(t.pki, `${name}-key.pem`), ca: join(t.pki, 'ca.pem') },
    admins: ['spiffe://krypton.dev/admin'],
    ...extra,
  };
}

/** Subscribes a consumer (a stand-in Core) and keeps what it receives. */
export async function collect(mesh: Mesh, consumer = 'core', types: readonly EventType[] = ALL_TYPES): Promise<OrbitalEvent[]> {
  const got: OrbitalEvent[] = [];
  await mesh.subscribe(consumer, types, async (e) => {
    got.push(e);
  });
  return got;
}

/** The events as [type, payload] pairs, for exact comparisons. */
export const summary = (events: readonly OrbitalEvent[]) => events.map((e) => [e.type, e.payload]);
