import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCmkConfig } from '../../src/cmk/service.js';
import { initDevPki } from '../../src/pki/index.js';
import { signingPublicKeyPath } from '../../src/pki/dev.js';
import { publicKeyFromPem } from '../../src/native/signing.js';
import { loadRegistryConfig } from '../../src/registry/service.js';
import { readFileSync } from 'node:fs';

const dir = mkdtempSync(join(tmpdir(), 'krypton-actor-config-'));
beforeAll(async () => {
  await initDevPki(join(dir, 'pki'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Whose events the actors accept: a Core and the Registry, by the PKI's signing keys. */
const TRUST = {
  'core-a': { role: 'core', publicKey: 'pki/core-sign.pub' },
  registry: { role: 'registry', publicKey: 'pki/registry-sign.pub' },
};
let n = 0;
const file = (o: Record<string, unknown>, trust: unknown = TRUST) => {
  const f = join(dir, `c${++n}.json`);
  writeFileSync(f, JSON.stringify(trust === undefined ? o : { trust, ...o }));
  return f;
};
const pub = (name: string) => publicKeyFromPem(readFileSync(signingPublicKeyPath(join(dir, 'pki'), name)));

describe('actor configs', () => {
  it('fills the defaults, resolving relative paths against the config folder', () => {
    expect(loadRegistryConfig(file({}), {})).toEqual({
      id: 'registry',
      host: '127.0.0.1',
      port: 7444,
      store: `sqlite:${join(dir, 'registry.db')}`,
      mesh: 'amqp://guest:guest@127.0.0.1:5672',
      tls: { cert: join(dir, 'pki/registry.pem'), key: join(dir, 'pki/registry-key.pem'), ca: join(dir, 'pki/ca.pem') },
      admins: ['spiffe://krypton.dev/admin'],
      signingKey: join(dir, 'pki/registry-sign.key'),
      trust: [
        { id: 'core-a', role: 'core', publicKey: pub('core') },
        { id: 'registry', role: 'registry', publicKey: pub('registry') },
      ],
      maxFutureSkewMs: 300_000,
    });
    expect(loadCmkConfig(file({ store: 'state/cmk.db' }), {})).toMatchObject({
      id: 'cmk',
      port: 7445,
      store: `sqlite:${join(dir, 'state/cmk.db')}`,
      heartbeatSeconds: 30,
    });
  });

  it('lets the environment override the file, per actor prefix', () => {
    const f = file({ port: 1, mesh: 'memory' });
    const env = {
      KRYPTON_REGISTRY_PORT: '0',
      KRYPTON_REGISTRY_STORE: 'postgres://h/db?schema=reg',
      KRYPTON_REGISTRY_HOST: '0.0.0.0',
      KRYPTON_CMK_PORT: '9',
    };
    expect(loadRegistryConfig(f, env)).toMatchObject({
      port: 0,
      store: 'postgres://h/db?schema=reg',
      host: '0.0.0.0',
      mesh: 'memory',
    });
    expect(
      loadCmkConfig(f, { KRYPTON_CMK_MESH: 'amqp://x?namespace=n', KRYPTON_CMK_HEARTBEAT_SECONDS: '5' }),
    ).toMatchObject({ port: 1, mesh: 'amqp://x?namespace=n', heartbeatSeconds: 5 });
  });

  it('refuses bad values with a message naming the field', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ port: 70000 }, /registry config: port/],
      [{ id: 'a b' }, /registry config: id/],
      [{ mesh: 'kafka://x' }, /registry config: mesh/],
      [{ store: 'mysql://x' }, /registry config: store/],
      [{ admins: ['admin'] }, /registry config: admins/],
      [{ prot: 1 }, /registry config: unknown field "prot"/],
      [{ heartbeatSeconds: 5 }, /unknown field "heartbeatSeconds"/],
    ];
    for (const [o, message] of bad)
      expect(() => loadRegistryConfig(file(o as Record<string, unknown>), {})).toThrow(message);
    expect(() => loadCmkConfig(file({ heartbeatSeconds: 0 }), {})).toThrow(/cmk config: heartbeatSeconds/);
    expect(() => loadRegistryConfig(join(dir, 'missing.json'), {})).toThrow(/cannot read/);
  });

  it('requires a trust naming a sender of every type the actor consumes, and reads its keys at start', () => {
    const bad: Array<[unknown, RegExp]> = [
      [undefined, /registry config: trust is required/],
      [[], /registry config: trust must be an object/],
      [{ 'core a': { role: 'core', publicKey: 'pki/core-sign.pub' } }, /trust: actor id "core a"/],
      [{ c: { role: 'admin', publicKey: 'pki/core-sign.pub' } }, /trust.c.role must be one of registry, cmk, core/],
      [
        { c: { role: 'core', publicKey: 'pki/missing.pub' } },
        /trust.c.publicKey: cannot read an Ed25519 public key from .*missing.pub/,
      ],
      [{ c: { role: 'core', publicKey: 'pki/core-sign.key' } }, /trust.c.publicKey: cannot read/],
      [{ c: { role: 'core', publicKey: 'pki/core-sign.pub', extra: 1 } }, /trust.c: unknown field "extra"/],
      [
        { r: { role: 'registry', publicKey: 'pki/registry-sign.pub' } },
        /trust has no actor with role core: every State.Manifest would be refused/,
      ],
    ];
    for (const [trust, message] of bad)
      expect(() => loadRegistryConfig(file({}, trust === undefined ? null : trust), {}), String(message)).toThrow(
        message,
      );
    expect(() => loadCmkConfig(file({}, { 'core-a': TRUST['core-a'] }), {})).toThrow(
      /cmk config: trust has no actor with role registry: every Tenant.Define would be refused/,
    );
    expect(loadRegistryConfig(file({ maxFutureSkewSeconds: 60, signingKey: 'keys/r.key' }), {})).toMatchObject({
      maxFutureSkewMs: 60_000,
      signingKey: join(dir, 'keys/r.key'),
    });
    expect(() => loadRegistryConfig(file({ maxFutureSkewSeconds: 0 }), {})).toThrow(
      /maxFutureSkewSeconds must be an integer from 1 to 86400/,
    );
  });
});
