/**
 * Helpers for Gateway tests against a real Core process: a CoreClient with
 * the dev PKI's gateway identity, admin actions, the Core's own count of
 * leases served, and blobs made by another Gateway process.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreClient, type CoreClientOptions } from '../../src/gateway/core-client.js';
import type { MtlsClient } from '../../src/http/index.js';
import { loadPublicKey } from '../../src/native/index.js';
import { ROOT, type CoreProcess } from '../core/process-fixture.js';

const run = promisify(execFile);

/** The Core's lease signing public key in its PKI folder (what a Gateway pins). */
export const corePublicKeyOf = (core: Pick<CoreProcess, 'pki'>): Buffer =>
  loadPublicKey(join(core.pki, 'core-sign.pub'));

export function coreClientFor(
  core: Pick<CoreProcess, 'url' | 'pki'>,
  opts: Partial<CoreClientOptions> = {},
): CoreClient {
  return new CoreClient({
    url: core.url,
    cert: readFileSync(join(core.pki, 'gateway.pem')),
    key: readFileSync(join(core.pki, 'gateway-key.pem')),
    ca: readFileSync(join(core.pki, 'ca.pem')),
    serverSpiffeId: 'spiffe://krypton.dev/core',
    corePublicKey: corePublicKeyOf(core),
    timeoutMs: 2_000,
    ...opts,
  });
}

const admins = new WeakMap<CoreProcess, MtlsClient>();

export function admin(core: CoreProcess) {
  let c = admins.get(core);
  if (c === undefined) admins.set(core, (c = core.client('admin')));
  const a = c;
  return {
    tenant: (t: string) => a.request('POST', `/v1/admin/tenants/${t}`),
    scope: (t: string, s: string) => a.request('POST', `/v1/admin/tenants/${t}/services/${s}`),
    rotate: async (t: string, s: string) =>
      (await a.request<{ version: number }>('POST', `/v1/admin/tenants/${t}/services/${s}/rotate`)).body.version,
    revoke: (t: string, s: string, v: number) =>
      a.request('POST', `/v1/admin/tenants/${t}/services/${s}/versions/${v}/revoke`),
    /** Leases the Core has served (its own Prometheus counter). */
    leasesServed: async () => {
      const m = String((await a.request('GET', '/metrics')).body);
      const line = /krypton_core_request_duration_seconds_count\{route="lease",outcome="ok"\} (\d+)/.exec(m);
      return line ? Number(line[1]) : 0;
    },
  };
}

/** A blob made by another Gateway process (its own key store), as an app would bring it. */
export async function blobFromOtherGateway(
  core: CoreProcess,
  tenant: string,
  service: string,
): Promise<{ version: number; blob: Buffer; plaintext: Buffer }> {
  const script = join(ROOT, 'test', 'gateway', 'fixtures', 'blob-maker.mjs');
  const { stdout } = await run(
    process.execPath,
    ['--secure-heap=65536', script, core.url, core.pki, tenant, service, join(ROOT, 'dist')],
    { timeout: 30_000 },
  );
  const r = JSON.parse(stdout) as { version: number; blob: string; plaintext: string };
  return { version: r.version, blob: Buffer.from(r.blob, 'base64'), plaintext: Buffer.from(r.plaintext, 'base64') };
}
