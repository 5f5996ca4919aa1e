import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCmkConfig } from '../../src/cmk/service.js';
import { loadRegistryConfig } from '../../src/registry/service.js';

const dir = mkdtempSync(join(tmpdir(), 'krypton-actor-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (o: unknown) => {
  const f = join(dir, `c${++n}.json`);
  writeFileSync(f, JSON.stringify(o));
  return f;
};

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
    });
    expect(loadCmkConfig(file({ store: 'state/cmk.db' }), {})).toMatchObject({ id: 'cmk', port: 7445, store: `sqlite:${join(dir, 'state/cmk.db')}`, heartbeatSeconds: 30 });
  });

  it('lets the environment override the file, per actor prefix', () => {
    const f = file({ port: 1, mesh: 'memory' });
    const env = { KRYPTON_REGISTRY_PORT: '0', KRYPTON_REGISTRY_STORE: 'postgres://h/db?schema=reg', KRYPTON_REGISTRY_HOST: '0.0.0.0', KRYPTON_CMK_PORT: '9' };
    expect(loadRegistryConfig(f, env)).toMatchObject({ port: 0, store: 'postgres://h/db?schema=reg', host: '0.0.0.0', mesh: 'memory' });
    expect(loadCmkConfig(f, { KRYPTON_CMK_MESH: 'amqp://x?namespace=n', KRYPTON_CMK_HEARTBEAT_SECONDS: '5' })).toMatchObject({ port: 1, mesh: 'amqp://x?namespace=n', heartbeatSeconds: 5 });
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
    for (const [o, message] of bad) expect(() => loadRegistryConfig(file(o), {})).toThrow(message);
    expect(() => loadCmkConfig(file({ heartbeatSeconds: 0 }), {})).toThrow(/cmk config: heartbeatSeconds/);
    expect(() => loadRegistryConfig(join(dir, 'missing.json'), {})).toThrow(/cannot read/);
  });
});
