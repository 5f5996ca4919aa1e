/**
 * `krypton cmk run|link|unlink|list|status`: runs the CMK Server, or drives
 * a running one over mTLS with the admin certificate.
 */
import type { Command } from 'commander';
import { loadCmkConfig, startCmk } from '../cmk/service.js';
import { printed, withAdminFlags } from './admin-client.js';
import { stopOnSignals } from './signals.js';

const enc = encodeURIComponent;

export function registerCmkCommand(program: Command): Command {
  const cmk = program
    .command('cmk')
    .description('the CMK Server: L1 references, link/unlink, heartbeat (never key material)');
  const conn = withAdminFlags(cmk, 'https://127.0.0.1:7445');

  cmk
    .command('run')
    .description('run the CMK Server')
    .requiredOption('-c, --config <file>', 'cmk config (JSON)')
    .action(async (flags: { config: string }) => {
      const running = await startCmk(loadCmkConfig(flags.config));
      console.log(JSON.stringify({ event: 'cmk.listening', port: running.port }));
      stopOnSignals(() => running.stop());
    });
  cmk
    .command('link')
    .argument('<tenant>')
    .requiredOption('--kind <kind>', 'soft or pkcs11')
    .requiredOption('--ref <ref>', 'soft key-file path or RFC 7512 pkcs11: URI (no pin-value)')
    .description("link a tenant's L1")
    .action((t: string, o: { kind: string; ref: string }) =>
      printed(conn(), 'POST', `/v1/cmk/tenants/${enc(t)}/l1`, { kind: o.kind, ref: o.ref }),
    );
  cmk
    .command('unlink')
    .argument('<tenant>')
    .description("unlink a tenant's L1 (Cores stop serving it)")
    .action((t: string) => printed(conn(), 'DELETE', `/v1/cmk/tenants/${enc(t)}/l1`));
  cmk
    .command('list')
    .description('L1 links')
    .action(() => printed(conn(), 'GET', '/v1/cmk/links'));
  cmk
    .command('status')
    .description('links, heartbeats, outbox, mesh and the last manifest of each Core')
    .action(() => printed(conn(), 'GET', '/v1/cmk/status'));
  return cmk;
}
