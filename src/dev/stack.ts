/**
 * `krypton dev`: the whole local stack on embedded defaults (DESIGN.md
 * section 1): dev PKI, an unsealed dev Core on SQLite, tenant `demo` with
 * service `app`, an app token in `.krypton/dev/token`, and the Gateway in
 * its own process. A second run reuses the state, so blobs made before a
 * restart still decrypt.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken } from '../gateway/tokens.js';
import { prepareDevCore, spawnDevCore, type DevCore } from './core-process.js';
import { spawnService, type Service } from './spawn.js';

export interface DevStackOptions {
  dir?: string;
  corePort?: number;
  gatewayPort?: number;
  tenant?: string;
  service?: string;
  /** Lease TTL the dev Core grants (default 300 s); tests shorten it. */
  leaseTtlSeconds?: number;
}

export interface DevStack {
  dir: string;
  core: DevCore;
  gateway: Service;
  gatewayUrl: string;
  token: string;
  stop(): Promise<void>;
}

export async function startDevStack(opts: DevStackOptions = {}): Promise<DevStack> {
  const dir = opts.dir ?? join(process.cwd(), '.krypton', 'dev');
  const tenant = opts.tenant ?? 'demo';
  const service = opts.service ?? 'app';
  const paths = await prepareDevCore(dir, { port: opts.corePort ?? 7443, ...(opts.leaseTtlSeconds !== undefined ? { leaseTtlSeconds: opts.leaseTtlSeconds } : {}) });
  const core = await spawnDevCore(paths);
  try {
    const admin = core.client('admin');
    await admin.request('POST', `/v1/admin/tenants/${tenant}`);
    await admin.request('POST', `/v1/admin/tenants/${tenant}/services/${service}`);

    const tokensFile = join(dir, 'tokens.json');
    const tokenFile = join(dir, 'token');
    if (!existsSync(tokenFile)) writeFileSync(tokenFile, `${createToken(tokensFile, tenant, ['*']).token}\n`, { mode: 0o600 });
    const token = readFileSync(tokenFile, 'utf8').trim();

    const gatewayConfig = join(dir, 'gateway.json');
    writeFileSync(
      gatewayConfig,
      JSON.stringify(
        {
          port: opts.gatewayPort ?? 7070,
          coreUrl: core.url,
          coreSpiffeId: 'spiffe://krypton.dev/core',
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
