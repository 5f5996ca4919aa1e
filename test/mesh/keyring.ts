/**
 * Signing identities for tests of Orbital: a throw-away Ed25519 key per
 * actor id (the role read from the id: registry*, cmk*, else a Core), every
 * actor trusting every other, so a test can publish as any actor through
 * that actor's own endpoint, exactly as production signs and checks.
 */
import { randomBytes } from 'node:crypto';
import { OrbitalAuth, type TrustedPeer } from '../../src/mesh/auth.js';
import type { EventAuth, Mesh, MeshHub } from '../../src/mesh/mesh.js';
import { SigningKey } from '../../src/native/signing.js';
import type { ActorRole } from '../../src/protocol/orbital-events.js';

export const DEFAULT_IDS = ['registry', 'cmk', 'core', 'core-a', 'core-b', 'core-eu1', 'core-eu2'] as const;

export const roleOf = (id: string): ActorRole =>
  id.startsWith('registry') ? 'registry' : id.startsWith('cmk') ? 'cmk' : 'core';

export function freshKey(): SigningKey {
  const seed = randomBytes(32);
  try {
    return SigningKey.fromSeed(seed);
  } finally {
    seed.fill(0);
  }
}

export interface AuthOptions {
  now?: () => number;
  maxFutureSkewMs?: number;
}

export interface Keyring {
  readonly peers: TrustedPeer[];
  key(id: string): SigningKey;
  /** The actor `id`: signs with its key, trusts every actor of the ring. */
  auth(id: string, opts?: AuthOptions): OrbitalAuth;
  /** `id`'s endpoint on a shared bus. */
  on(bus: MeshHub, id: string, opts?: AuthOptions): Mesh;
  /**
   * Tests only: one connection that plays several actors. It signs each
   * event with the key of its source and checks what it receives as
   * `receiver`. No actor does this: each has its own key and connection.
   */
  anyone(receiver?: string, opts?: AuthOptions): EventAuth;
  destroy(): void;
}

export function testKeyring(ids: readonly string[] = DEFAULT_IDS): Keyring {
  const keys = new Map(ids.map((id) => [id, freshKey()]));
  const peers = ids.map((id) => ({ id, role: roleOf(id), publicKey: keys.get(id)!.publicKey }));
  const key = (id: string) => {
    const k = keys.get(id);
    if (k === undefined) throw new Error(`no key for ${id} in the test keyring`);
    return k;
  };
  const auth = (id: string, opts: AuthOptions = {}) =>
    new OrbitalAuth({ id, role: roleOf(id), signer: key(id), peers, ...opts });
  return {
    peers,
    key,
    auth,
    on: (bus, id, opts) => bus.endpoint(auth(id, opts)),
    anyone: (receiver = 'core', opts = {}) => {
      const as = new Map<string, OrbitalAuth>();
      const signer = (id: string) => as.get(id) ?? as.set(id, auth(id)).get(id)!;
      const checker = auth(receiver, opts);
      return { id: receiver, seal: (e) => signer(e.source).seal(e), open: (body) => checker.open(body) };
    },
    destroy: () => {
      for (const k of keys.values()) k.destroy();
    },
  };
}
