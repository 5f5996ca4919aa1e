/**
 * `krypton admin`: the Core's admin API from the command line, over HTTP/2
 * with the admin client certificate.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createMtlsClient, type MtlsClient } from '../http/index.js';

interface ConnFlags {
  core: string;
  pki: string;
  cert?: string;
  key?: string;
  ca?: string;
}

function connect(flags: ConnFlags): MtlsClient {
  return createMtlsClient({
    url: flags.core,
    cert: readFileSync(flags.cert ?? join(flags.pki, 'admin.pem')),
    key: readFileSync(flags.key ?? join(flags.pki, 'admin-key.pem')),
    ca: readFileSync(flags.ca ?? join(flags.pki, 'ca.pem')),
    timeoutMs: 15_000,
  });
}

async function call(flags: ConnFlags, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<void> {
  const client = connect(flags);
  try {
    const r = await client.request(method, path, body, { contentType: 'application/json' });
    console.log(JSON.stringify(r.body ?? { ok: true }, null, 2));
  } finally {
    await client.close();
  }
}

const enc = encodeURIComponent;

export function registerAdminCommand(program: Command): Command {
  const admin = program
    .command('admin')
    .description('administer a Core (admin certificate)')
    .option('--core <url>', 'Core URL', 'https://127.0.0.1:7443')
    .option('--pki <dir>', 'folder with admin.pem, admin-key.pem, ca.pem', '.krypton/dev/pki')
    .option('--cert <file>')
    .option('--key <file>')
    .option('--ca <file>');
  const conn = (): ConnFlags => admin.opts<ConnFlags>();

  admin
    .command('unseal')
    .description('submit unseal shares (base64)')
    .argument('<shares...>')
    .action((shares: string[]) => call(conn(), 'POST', '/v1/admin/unseal', { shares }));
  admin.command('seal').description('seal the Core: zeroize the MasterKey and every key it holds').action(() => call(conn(), 'POST', '/v1/admin/seal'));
  admin.command('status').description('seal status, IVKs, tenants').action(() => call(conn(), 'GET', '/v1/admin/status'));
  admin
    .command('rotate')
    .argument('<tenant>')
    .argument('<service>')
    .description('rotate an L3 scope')
    .action((t: string, s: string) => call(conn(), 'POST', `/v1/admin/tenants/${enc(t)}/services/${enc(s)}/rotate`));
  admin
    .command('revoke')
    .argument('<tenant>')
    .argument('<service>')
    .argument('<version>')
    .description('revoke an L3 version')
    .action((t: string, s: string, v: string) => call(conn(), 'POST', `/v1/admin/tenants/${enc(t)}/services/${enc(s)}/versions/${enc(v)}/revoke`));
  admin
    .command('tenant')
    .argument('<tenant>')
    .option('--l1-kind <kind>', 'soft or pkcs11')
    .option('--l1-ref <ref>', 'key file path or RFC 7512 URI')
    .description('onboard a tenant (optionally with its L1)')
    .action((t: string, o: { l1Kind?: string; l1Ref?: string }) =>
      call(conn(), 'POST', `/v1/admin/tenants/${enc(t)}`, o.l1Kind ? { l1: { kind: o.l1Kind, ref: o.l1Ref } } : {}),
    );
  admin
    .command('scope')
    .argument('<tenant>')
    .argument('<service>')
    .option('--rotate-after <seconds>', 'rotation period')
    .description('define an L3 scope')
    .action((t: string, s: string, o: { rotateAfter?: string }) =>
      call(conn(), 'POST', `/v1/admin/tenants/${enc(t)}/services/${enc(s)}`, o.rotateAfter ? { rotateAfterSeconds: Number(o.rotateAfter) } : {}),
    );
  admin
    .command('rotate-ivk')
    .description('rotate the IVK')
    .action(() => call(conn(), 'POST', '/v1/admin/ivk/rotate'));
  return admin;
}
