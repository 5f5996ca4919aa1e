/**
 * `krypton dev`: the whole local stack on embedded defaults (docs/design.md
 * section 1): dev PKI; the control plane (an unsealed Core on SQLite, the
 * Registry and the CMK Server, on the in-process bus) in one process; tenant
 * `demo` with service `app`, onboarded through the Registry and linked to a
 * soft L1 through the CMK Server, as in production; an app token in
 * `.krypton/dev/token`; and the Gateway in its own process. A second run
 * reuses the state, so blobs made before a restart still decrypt.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSoftL1Key } from '../core/l1/index.js';
import { createToken } from '../gateway/tokens.js';
import type { MtlsClient } from '../http/index.js';
import { pkiClient, prepareDevControlPlane, spawnDevControlPlane, type DevControlPlane } from './core-process.js';
import { spawnService, type Service } from './spawn.js';

export interface DevStackOptions {
  dir?: string;
  corePort?: number;
  gatewayPort?: number;
  tenant?: string;
  service?: string;
  /** Lease TTL the dev Core grants (default 300 s); tests shorten it. */
  leaseTtlSeconds?: number;
  registryPort?: number;
  cmkPort?: number;
}

export interface DevStack {
  dir: string;
  core: DevControlPlane;
  gateway: Service;
  gatewayUrl: string;
  token: string;
  stop(): Promise<void>;
}

export async function startDevStack(opts: DevStackOptions = {}): Promise<DevStack> {
  const dir = opts.dir ?? join(process.cwd(), '.krypton', 'dev');
  const tenant = opts.tenant ?? 'demo';
  const service = opts.service ?? 'app';
  const paths = await prepareDevControlPlane(dir, {
    port: opts.corePort ?? 7443,
    registryPort: opts.registryPort ?? 7444,
    cmkPort: opts.cmkPort ?? 7445,
    ...(opts.leaseTtlSeconds !== undefined ? { leaseTtlSeconds: opts.leaseTtlSeconds } : {}),
  });
  const core = await spawnDevControlPlane(paths);
  try {
    await defineDemo(core, paths.pki, dir, tenant, service);

    const tokensFile = join(dir, 'tokens.json');
    const tokenFile = join(dir, 'token');
    if (!existsSync(tokenFile))
      writeFileSync(tokenFile, `${createToken(tokensFile, tenant, ['*']).token}\n`, { mode: 0o600 });
    const token = readFileSync(tokenFile, 'utf8').trim();

    const gatewayConfig = join(dir, 'gateway.json');
    writeFileSync(
      gatewayConfig,
      JSON.stringify(
        {
          port: opts.gatewayPort ?? 7070,
          coreUrl: core.url,
          coreSpiffeId: 'spiffe://krypton.dev/core',
          coreSigningKey: 'pki/core-sign.pub',
          tls: { cert: 'pki/gateway.pem', key: 'pki/gateway-key.pem', ca: 'pki/ca.pem' },
          tokensFile: 'tokens.json',
        },
        null,
        2,
      ),
    );
    const gateway = await spawnService(['gateway', '--config', gatewayConfig], 'gateway.listening');
    return {
      dir,
      core,
      gateway,
      gatewayUrl: `ws://127.0.0.1:${gateway.port}/v1/ws`,
      token,
      stop: async () => {
        await gateway.stop();
        await core.stop();
      },
    };
  } catch (err) {
    await core.stop();
    throw err;
  }
}

/**
 * Onboards the demo tenant the production way: intent through the
 * Registry, its L1 (a soft key file under the dev folder) through the CMK
 * Server; then waits until the Core, hearing both on the bus, serves it.
 * Every step is idempotent, so a second `krypton dev` changes nothing.
 */
async function defineDemo(
  plane: DevControlPlane,
  pki: string,
  dir: string,
  tenant: string,
  service: string,
): Promise<void> {
  const l1Dir = join(dir, 'l1');
  mkdirSync(l1Dir, { recursive: true, mode: 0o700 });
  const l1 = join(l1Dir, `${tenant}.key`);
  if (!existsSync(l1)) createSoftL1Key(l1);
  const clients: MtlsClient[] = [pkiClient(pki, plane.registryUrl, 'admin'), pkiClient(pki, plane.cmkUrl, 'admin')];
  const [registry, cmk] = clients as [MtlsClient, MtlsClient];
  try {
    await registry.request('POST', `/v1/registry/tenants/${tenant}`);
    await registry.request(
      'POST',
      `/v1/registry/tenants/${tenant}/services/${service}`,
      {},
      { contentType: 'application/json' },
    );
    await cmk.request(
      'POST',
      `/v1/cmk/tenants/${tenant}/l1`,
      { kind: 'soft', ref: l1 },
      { contentType: 'application/json' },
    );
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
  }
  const admin = plane.client('admin');
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await admin.request('GET', `/v1/admin/tenants/${tenant}`).catch(() => null);
    const body = r?.body as
      { state?: string; scopes?: Array<{ service: string; versions: Array<{ state: string }> }> } | undefined;
    if (
      body?.state === 'ACTIVE' &&
      body.scopes?.some((s) => s.service === service && s.versions.some((v) => v.state === 'ACTIVE'))
    )
      return;
    if (Date.now() > deadline)
      throw new Error(`the Core did not serve ${tenant}/${service} within 15 s of its definition`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
