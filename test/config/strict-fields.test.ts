/**
 * Every component's config is strict: a misspelt field is refused, naming
 * it, instead of silently falling back to a default (the review's
 * `leaseTTLSeconds` was accepted and ignored). The Core, the Gateway, the
 * Registry and the CMK Server each load through their real loader.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../src/cli/gateway.js';
import { loadCmkConfig } from '../../src/cmk/service.js';
import { loadCoreConfig } from '../../src/core/config.js';
import { loadRegistryConfig } from '../../src/registry/service.js';
import { cli } from '../core/process-fixture.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'krypton-strict-'));
  const made = cli(['pki', 'init', '--dir', join(dir, 'pki')]);
  if (made.status !== 0) throw new Error(made.stderr);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, o: unknown) => {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(o));
  return file;
};

const core = {
  ksi: 'sqlite:state/ksi.db',
  stateDir: 'state',
  tls: { cert: 'pki/core.pem', key: 'pki/core-key.pem', ca: 'pki/ca.pem' },
};
const gateway = {
  coreSpiffeId: 'spiffe://krypton.dev/core',
  coreSigningKey: 'pki/core-sign.pub',
  tls: { cert: 'pki/gateway.pem', key: 'pki/gateway-key.pem', ca: 'pki/ca.pem' },
};

describe('config files refuse fields no loader reads', () => {
  it('the Core: top level, tls, ivk and orbital', () => {
    expect(loadCoreConfig(write('core.json', core)).leaseTtlSeconds).toBe(300);
    expect(() => loadCoreConfig(write('c1.json', { ...core, leaseTTLSeconds: 99_999 }))).toThrow(
      'core config: unknown field "leaseTTLSeconds"',
    );
    expect(() => loadCoreConfig(write('c2.json', { ...core, tls: { ...core.tls, crt: 'x' } }))).toThrow(
      'unknown field "tls.crt"',
    );
    expect(() => loadCoreConfig(write('c3.json', { ...core, ivk: { graceHour: 1 } }))).toThrow(
      'unknown field "ivk.graceHour"',
    );
    expect(() => loadCoreConfig(write('c4.json', { ...core, orbital: { mesh: 'memory', manifestSecond: 5 } }))).toThrow(
      'unknown field "orbital.manifestSecond"',
    );
    expect(() => loadCoreConfig(write('c5.json', [core]))).toThrow('must hold a JSON object');
  });

  it('the Gateway: top level and tls', () => {
    expect(loadGatewayConfig(write('gateway.json', gateway)).port).toBe(7070);
    expect(() => loadGatewayConfig(write('g1.json', { ...gateway, maxLeaseTTLSeconds: 10 }))).toThrow(
      'gateway config: unknown field "maxLeaseTTLSeconds"',
    );
    expect(() =>
      loadGatewayConfig(write('g2.json', { ...gateway, tls: { ...gateway.tls, certificate: 'x' } })),
    ).toThrow('unknown field "tls.certificate"');
  });

  it('the Registry and the CMK Server', () => {
    expect(() => loadRegistryConfig(write('r1.json', { prot: 1 }))).toThrow('registry config: unknown field "prot"');
    expect(() => loadCmkConfig(write('k1.json', { helth: { port: 1 } }))).toThrow('cmk config: unknown field "helth"');
  });

  it('the health port is a field of the Core, the Registry and the CMK Server, with an env override each', () => {
    expect(loadCoreConfig(write('h1.json', { ...core, health: { host: '0.0.0.0', port: 8081 } })).health).toEqual({
      host: '0.0.0.0',
      port: 8081,
    });
    expect(loadCoreConfig(write('h2.json', core), { KRYPTON_CORE_HEALTH_PORT: '9091' }).health).toEqual({
      host: '127.0.0.1',
      port: 9091,
    });
    expect(loadCoreConfig(write('h3.json', core), {}).health).toBeUndefined();
    expect(() => loadCoreConfig(write('h4.json', { ...core, health: { port: 8081, routes: ['/metrics'] } }))).toThrow(
      'unknown field "health.routes"',
    );
    expect(() => loadGatewayConfig(write('h5.json', { ...gateway, health: { port: 1 } }))).toThrow(
      'unknown field "health"',
    );
    const trust = { core: { role: 'core', publicKey: 'pki/core-sign.pub' } };
    expect(loadRegistryConfig(write('h6.json', { trust, health: { host: '0.0.0.0', port: 8082 } })).health).toEqual({
      host: '0.0.0.0',
      port: 8082,
    });
    expect(loadRegistryConfig(write('h7.json', { trust }), { KRYPTON_REGISTRY_HEALTH_PORT: '9092' }).health).toEqual({
      host: '127.0.0.1',
      port: 9092,
    });
    const cmkTrust = { ...trust, registry: { role: 'registry', publicKey: 'pki/registry-sign.pub' } };
    expect(loadCmkConfig(write('h8.json', { trust: cmkTrust }), { KRYPTON_CMK_HEALTH_PORT: '9093' }).health).toEqual({
      host: '127.0.0.1',
      port: 9093,
    });
  });
});

describe('listen addresses have one rule (src/config/fields.ts hostField)', () => {
  it('every loader refuses a host that is not a non-empty string, rather than listening on "[object Object]"', () => {
    for (const host of [{ ip: '0.0.0.0' }, 7, '', ['127.0.0.1']]) {
      expect(() => loadCoreConfig(write('hc.json', { ...core, host }))).toThrow(
        'core config: host must be a host name or address',
      );
      expect(() => loadGatewayConfig(write('hg.json', { ...gateway, host }))).toThrow(
        'gateway config: host must be a host name or address',
      );
      expect(() => loadRegistryConfig(write('hr.json', { host }))).toThrow(
        'registry config: host must be a host name or address',
      );
      expect(() => loadCoreConfig(write('hh.json', { ...core, health: { host, port: 1 } }))).toThrow(
        'health.host must be a host name or address',
      );
    }
    expect(loadCoreConfig(write('hc.json', core)).host).toBe('127.0.0.1');
    expect(loadCoreConfig(write('hc.json', core), { KRYPTON_CORE_HOST: '::1' }).host).toBe('::1');
    expect(loadGatewayConfig(write('hg.json', { ...gateway, host: '0.0.0.0' })).host).toBe('0.0.0.0');
  });

  it('the Gateway refuses a coreUrl that is not an https:// string', () => {
    for (const coreUrl of [{ href: 'https://core' }, 'http://core:7443', 443]) {
      expect(() => loadGatewayConfig(write('gu.json', { ...gateway, coreUrl }))).toThrow(
        'gateway config: coreUrl must be an https:// URL',
      );
    }
  });
});
