/**
 * `krypton admin`: the Core's admin API from the command line, over HTTP/2
 * with the admin client certificate.
 */
import type { Command } from 'commander';
import { printed, withAdminFlags } from './admin-client.js';
import { readShares } from './share-input.js';

const enc = encodeURIComponent;

export function registerAdminCommand(program: Command): Command {
  const admin = program.command('admin').description('administer a Core (admin certificate)');
  const conn = withAdminFlags(admin, 'https://127.0.0.1:7443', 'core');

  admin
    .command('unseal')
    .description(
      'submit unseal shares: one base64 share a line on stdin, or typed at a prompt (never on the command line)',
    )
    .action(async () => {
      let shares: Buffer[] = [];
      try {
        shares = await readShares();
        // msgpack (bytes, wipeable) and wiped once sent; the Core refuses shares in JSON.
        await printed(conn(), 'POST', '/v1/admin/unseal', { shares }, { secret: true });
      } catch (err) {
        console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
      } finally {
        for (const s of shares) s.fill(0);
      }
    });
  admin
    .command('seal')
    .description('seal the Core: zeroize the MasterKey and every key it holds')
    .action(() => printed(conn(), 'POST', '/v1/admin/seal'));
  admin
    .command('status')
    .description('seal status, IVKs, tenants')
    .action(() => printed(conn(), 'GET', '/v1/admin/status'));
  admin
    .command('rotate')
    .argument('<tenant>')
    .argument('<service>')
    .description('rotate an L3 scope')
    .action((t: string, s: string) => printed(conn(), 'POST', `/v1/admin/tenants/${enc(t)}/services/${enc(s)}/rotate`));
  admin
    .command('revoke')
    .argument('<tenant>')
    .argument('<service>')
    .argument('<version>')
    .description('revoke an L3 version')
    .action((t: string, s: string, v: string) =>
      printed(conn(), 'POST', `/v1/admin/tenants/${enc(t)}/services/${enc(s)}/versions/${enc(v)}/revoke`),
    );
  admin
    .command('tenant')
    .argument('<tenant>')
    .option('--l1-kind <kind>', 'soft or pkcs11')
    .option('--l1-ref <ref>', 'key file path or RFC 7512 URI')
    .description('onboard a tenant (optionally with its L1)')
    .action((t: string, o: { l1Kind?: string; l1Ref?: string }) =>
      printed(conn(), 'POST', `/v1/admin/tenants/${enc(t)}`, o.l1Kind ? { l1: { kind: o.l1Kind, ref: o.l1Ref } } : {}),
    );
  admin
    .command('scope')
    .argument('<tenant>')
    .argument('<service>')
    .option('--rotate-after <seconds>', 'rotation period')
    .description('define an L3 scope')
    .action((t: string, s: string, o: { rotateAfter?: string }) =>
      printed(
        conn(),
        'POST',
        `/v1/admin/tenants/${enc(t)}/services/${enc(s)}`,
        o.rotateAfter ? { rotateAfterSeconds: Number(o.rotateAfter) } : {},
      ),
    );
  admin
    .command('rotate-ivk')
    .description('rotate the IVK')
    .action(() => printed(conn(), 'POST', '/v1/admin/ivk/rotate'));
  return admin;
}
