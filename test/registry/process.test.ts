import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, spawnService, type Service } from '../../src/dev/spawn.js';
import { AmqpMesh, DEFAULT_AMQP_URL } from '../../src/mesh/amqp.js';
import type { OrbitalEvent } from '../../src/protocol/orbital-events.js';
import { captureLogger, waitFor } from '../mesh/helpers.js';
import { pkiAuth, tempPki, type TempPki } from './fixtures.js';
import { CORE_CONSUMES } from '../../src/core/orbital/node.js';
import { stringContaining } from '../helpers/matchers.js';

/**
 * `krypton registry run` and `krypton cmk run` as real processes on the
 * real RabbitMQ (a namespace of their own, deleted afterwards), driven by
 * the CLI's client subcommands; a stand-in Core in the test receives what
 * they emit. Needs `npm run build` (the compiled CLI).
 */
const AMQP = process.env['KRYPTON_TEST_AMQP_URL'] ?? DEFAULT_AMQP_URL;
const NS = `krypton.test.${randomBytes(5).toString('hex')}`;
const run = promisify(execFile);
/** What the test reads of `krypton cmk list`. */
interface CmkList {
  links: { registry?: string }[];
}

describe.skipIf(process.env['KRYPTON_SKIP_AMQP'] === '1')('registry and cmk processes on RabbitMQ', () => {
  let t: TempPki;
  let core: AmqpMesh;
  let coreKey: { destroy(): void } | undefined;
  const got: OrbitalEvent[] = [];
  const services: Service[] = [];
  let registryUrl: string;
  let cmkUrl: string;

  const cli = async (...args: string[]) =>
    (await run(process.execPath, [CLI, ...args, '--pki', t.pki], { timeout: 30_000 })).stdout;
  const seen = (type: string, match: Record<string, unknown> = {}) =>
    got.some(
      (e) =>
        e.type === type && Object.entries(match).every(([k, v]) => (e.payload as Record<string, unknown>)[k] === v),
    );

  beforeAll(async () => {
    expect(existsSync(CLI), `${CLI} is missing: run npm run build first`).toBe(true);
    t = await tempPki('actors-proc');
    const mesh = `${AMQP}?namespace=${NS}`;
    // Each process signs with its key of the PKI and trusts the others by theirs.
    const peer = (role: string) => ({ role, publicKey: `pki/${role}-sign.pub` });
    writeFileSync(
      join(t.dir, 'registry.json'),
      JSON.stringify({ port: 0, mesh, store: 'state/registry.db', trust: { 'core-eu1': peer('core') } }),
    );
    writeFileSync(
      join(t.dir, 'cmk.json'),
      JSON.stringify({
        port: 0,
        mesh,
        store: 'state/cmk.db',
        heartbeatSeconds: 1,
        trust: { registry: peer('registry'), 'core-eu1': peer('core') },
      }),
    );
    // The stand-in Core: id core-eu1, the PKI's Core key.
    const as = pkiAuth(t, 'core-eu1');
    coreKey = as;
    core = new AmqpMesh({ auth: as.auth, url: AMQP, namespace: NS, logger: captureLogger().logger });
    await core.start(5_000);
    await core.subscribe('core', CORE_CONSUMES, async (e) => {
      got.push(e);
    });
    const reg = await spawnService(['registry', 'run', '--config', join(t.dir, 'registry.json')], 'registry.listening');
    services.push(reg);
    const cmk = await spawnService(['cmk', 'run', '--config', join(t.dir, 'cmk.json')], 'cmk.listening');
    services.push(cmk);
    registryUrl = `https://127.0.0.1:${reg.port}`;
    cmkUrl = `https://127.0.0.1:${cmk.port}`;
  });

  afterAll(async () => {
    for (const s of services) await s.stop();
    await core?.close();
    coreKey?.destroy();
    const c = await amqp.connect(AMQP);
    const ch = await c.createChannel();
    for (const q of ['core', 'registry', 'cmk']) await ch.deleteQueue(core.topology.queueFor(q));
    await ch.deleteQueue(core.topology.deadLetterQueue);
    await ch.deleteExchange(core.topology.exchange);
    await ch.deleteExchange(core.topology.deadLetterExchange);
    await c.close();
    t?.cleanup();
  });

  it('CLI commands change state and the events reach a Core over AMQP; manifests are reconciled', async () => {
    expect(JSON.parse(await cli('registry', 'tenant', 'add', 'acme', '--url', registryUrl))).toMatchObject({
      tenant: 'acme',
      state: 'ACTIVE',
    });
    await cli('registry', 'scope', 'define', 'acme', 'app', '--rotate-after', '3600', '--url', registryUrl);
    await cli('cmk', 'link', 'acme', '--kind', 'soft', '--ref', '/keys/acme.key', '--url', cmkUrl);
    await waitFor(
      () =>
        seen('Tenant.Define', { action: 'onboard' }) &&
        seen('Key.Define', { rotateAfterSeconds: 3600 }) &&
        seen('L1.Reference', { action: 'link' }),
      10_000,
      'the events of the commands',
    );
    await waitFor(() => seen('Sovereign.Heartbeat', { cmk: 'cmk' }), 10_000, 'a heartbeat');

    // The CMK Server heard the Registry's Tenant.Define over the broker too.
    const cmkList = async () => JSON.parse(await cli('cmk', 'list', '--url', cmkUrl)) as CmkList;
    await waitFor(async () => (await cmkList()).links[0]?.registry === 'ACTIVE', 10_000, 'the CMK Server to know acme');

    await cli('registry', 'scope', 'delete', 'acme', 'app', '--url', registryUrl);
    await cli('cmk', 'unlink', 'acme', '--url', cmkUrl);
    await waitFor(
      () => seen('Key.Define', { action: 'delete' }) && seen('L1.Revoke', { reason: 'L1 unlinked' }),
      10_000,
      'delete and revoke',
    );

    got.length = 0;
    await core.publish({
      id: randomBytes(16).toString('hex'),
      type: 'State.Manifest',
      source: 'core-eu1',
      at: Date.now(),
      payload: { core: 'core-eu1', tenants: ['acme'], scopes: [{ tenant: 'acme', service: 'app' }], at: Date.now() },
    });
    await waitFor(
      () => seen('Key.Purge', { service: 'app' }) && seen('L1.Revoke', { reason: 'served without a linked L1' }),
      10_000,
      'reconciliation',
    );
    const status: unknown = JSON.parse(await cli('registry', 'status', '--url', registryUrl));
    expect(status).toMatchObject({
      outboxPending: 0,
      mesh: { transport: 'amqp', connected: true },
      manifests: [{ core: 'core-eu1', tenants: 1, scopes: 1 }],
    });
    expect(JSON.parse(await cli('cmk', 'status', '--url', cmkUrl))).toMatchObject({
      links: { total: 1, linked: 0 },
      manifests: [{ core: 'core-eu1' }],
    });
  });

  it('a refused command exits 1 with the error code', async () => {
    await expect(cli('registry', 'tenant', 'remove', 'ghost', '--url', registryUrl)).rejects.toMatchObject({
      code: 1,
      stderr: stringContaining('NOT_FOUND'),
    });
  });

  it('stops gracefully on SIGTERM', async () => {
    for (const s of services.splice(0)) {
      await s.stop();
      expect(s.child.exitCode).toBe(0);
    }
  });
});
