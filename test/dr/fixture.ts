/**
 * The disaster-recovery stage: Registry, CMK Server, Core and Gateway as
 * real processes on RabbitMQ, each actor's broker link through its own TCP
 * proxy (cut one to partition that actor alone), the Core on a clock a test
 * can move forward, and the demo tenant defined and linked the production
 * way.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSoftL1Key } from '../../src/core/l1/index.js';
import { Cluster, type Actor, type ClusterOptions, type CoreStart } from '../../src/dev/cluster.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { connect, type WsClient } from '../gateway/ws-fixture.js';

/** The launcher that runs `krypton core run` with a Core clock read from KRYPTON_TEST_CLOCK_FILE. */
const CORE_WITH_CLOCK = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'core-with-clock.mjs');

export const SKIP_AMQP = process.env.KRYPTON_SKIP_AMQP === '1';

export interface Stage {
  cluster: Cluster;
  dir: string;
  proxies: Record<Actor, TcpProxy>;
  /** The soft L1 key file of tenant t (created on first use). */
  l1(tenant: string): string;
  /** Moves the Core's clock forward (every Core started with `coreStart`). */
  advanceCore(ms: number): void;
  /** Starts a Core on the stage's movable clock (the test launcher test/fixtures/core-with-clock.mjs). */
  coreStart(id?: string): CoreStart;
  /** Registry + CMK Server: onboard, define, link; resolves once the Core serves the scope. */
  defineAndLink(tenant: string, service: string, rotateAfterSeconds?: number | null): Promise<void>;
  /** Resolves once the Core serves (tenant, service) with an ACTIVE version. */
  served(tenant: string, service: string): Promise<Array<{ version: number; state: string }>>;
  gateway(tenant?: string): Promise<WsClient>;
  cleanup(): Promise<void>;
}

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Registry, CMK Server, Core and Gateway running, with tenant demo's service
 * app defined in the Registry, linked in the CMK Server and served.
 */
export async function openStage(
  opts: Partial<ClusterOptions> & { demoRotateAfterSeconds?: number | null } = {},
): Promise<Stage> {
  const dir = mkdtempSync(join(tmpdir(), 'krypton-dr-'));
  const proxies = {} as Record<Actor, TcpProxy>;
  for (const a of ['core', 'registry', 'cmk'] as const)
    proxies[a] = await startTcpProxy({ targetHost: '127.0.0.1', targetPort: 5672 });
  const clockFile = join(dir, 'core-clock');
  writeFileSync(clockFile, '0');
  let offset = 0;
  const cluster = await Cluster.prepare({
    dir,
    brokerFor: (a) => `amqp://guest:guest@127.0.0.1:${proxies[a].port}`,
    tenants: ['demo', 'other'],
    ...opts,
  });
  const l1 = (tenant: string) => {
    const file = join(dir, `${tenant}.l1`);
    try {
      createSoftL1Key(file);
    } catch {
      // exists already
    }
    return file;
  };
  const served = (tenant: string, service: string) =>
    waitUntil(`the Core to serve ${tenant}/${service}`, async () => {
      const t = (await cluster.call('core', 'GET', `/v1/admin/tenants/${tenant}`)) as {
        state: string;
        scopes: Array<{ service: string; deleted: boolean; versions: Array<{ version: number; state: string }> }>;
      };
      const s = t.scopes.find((x) => x.service === service && !x.deleted);
      return t.state === 'ACTIVE' && s?.versions.some((v) => v.state === 'ACTIVE') ? s.versions : null;
    });
  const stage: Stage = {
    cluster,
    dir,
    proxies,
    l1,
    coreStart: (id) => ({
      ...(id !== undefined ? { id } : {}),
      launcher: { script: CORE_WITH_CLOCK, env: { KRYPTON_TEST_CLOCK_FILE: clockFile } },
    }),
    advanceCore: (ms) => {
      offset += ms;
      writeFileSync(clockFile, String(offset));
    },
    served,
    defineAndLink: async (tenant, service, rotateAfterSeconds = null) => {
      await cluster.call('registry', 'POST', `/v1/registry/tenants/${tenant}`);
      await cluster.call('registry', 'POST', `/v1/registry/tenants/${tenant}/services/${service}`, {
        rotateAfterSeconds,
      });
      await cluster.call('cmk', 'POST', `/v1/cmk/tenants/${tenant}/l1`, { kind: 'soft', ref: l1(tenant) });
      await served(tenant, service);
    },
    gateway: (tenant = 'demo') => connect(cluster.gatewayUrl(), cluster.tokens.get(tenant)),
    cleanup: async () => {
      await cluster.stopAll();
      for (const p of Object.values(proxies)) await p.close();
      await cluster.deleteNamespace(['core-a', 'core-b', 'core-c', 'registry', 'cmk']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.startRegistry();
    await cluster.startCmk();
    await cluster.startCore(stage.coreStart());
    await cluster.startGateway();
    await stage.defineAndLink('demo', 'app', opts.demoRotateAfterSeconds ?? null);
  } catch (err) {
    await stage.cleanup();
    throw err;
  }
  return stage;
}

/** key.create through the Gateway: [status, result] (status 0 ok, 1 error with {code}). */
export async function create(
  c: WsClient,
  service: string,
  id = Math.floor(Math.random() * 1e9),
): Promise<{ ok: boolean; code?: string; blob?: Buffer; plaintext?: Buffer }> {
  const r = (await c.call([id, 'key.create', { service }])) as [
    number,
    number,
    { code?: string; blob?: Buffer; plaintext?: Buffer },
  ];
  return r[1] === 0
    ? { ok: true, blob: Buffer.from(r[2].blob!), plaintext: Buffer.from(r[2].plaintext!) }
    : { ok: false, code: r[2].code! };
}

export async function decrypt(
  c: WsClient,
  blob: Buffer,
  id = Math.floor(Math.random() * 1e9),
): Promise<{ ok: boolean; code?: string; plaintext?: Buffer }> {
  const r = (await c.call([id, 'key.decrypt', { blob }])) as [number, number, { code?: string; plaintext?: Buffer }];
  return r[1] === 0 ? { ok: true, plaintext: Buffer.from(r[2].plaintext!) } : { ok: false, code: r[2].code! };
}

export async function info(
  c: WsClient,
  blob: Buffer,
  id = Math.floor(Math.random() * 1e9),
): Promise<{ version: number }> {
  const r = (await c.call([id, 'key.info', { blob }])) as [number, number, { version: number }];
  if (r[1] !== 0) throw new Error(`key.info refused: ${JSON.stringify(r[2])}`);
  return r[2];
}
