/**
 * `krypton registry run|tenant|scope|list|status`: runs the Registry, or
 * drives a running one over mTLS with the admin certificate.
 */
import type { Command } from 'commander';
import { loadRegistryConfig, startRegistry } from '../registry/service.js';
import { printed, withAdminFlags } from './admin-client.js';
import { stopOnSignals } from './signals.js';

const enc = encodeURIComponent;

export function registerRegistryCommand(program: Command): Command {
  const registry = program
    .command('registry')
    .description('the Registry: tenants and key definitions (intent, never key material)');
  const conn = withAdminFlags(registry, 'https://127.0.0.1:7444');

  registry
    .command('run')
    .description('run the Registry')
    .requiredOption('-c, --config <file>', 'registry config (JSON)')
    .action(async (flags: { config: string }) => {
      const running = await startRegistry(loadRegistryConfig(flags.config));
      console.log(JSON.stringify({ event: 'registry.listening', port: running.port }));
      stopOnSignals(() => running.stop());
    });

  const tenant = registry.command('tenant').description('onboard or offboard tenants');
  tenant
    .command('add')
    .argument('<tenant>')
    .description('onboard a tenant')
    .action((t: string) => printed(conn(), 'POST', `/v1/registry/tenants/${enc(t)}`));
  tenant
    .command('remove')
    .argument('<tenant>')
    .description('offboard a tenant (its scopes are deleted)')
    .action((t: string) => printed(conn(), 'DELETE', `/v1/registry/tenants/${enc(t)}`));

  const scope = registry.command('scope').description('define or delete L3 scopes');
  scope
    .command('define')
    .argument('<tenant>')
    .argument('<service>')
    .option('--rotate-after <seconds>', 'rotation period in seconds (>= 60)')
    .description('define a scope, or change its rotation policy')
    .action((t: string, s: string, o: { rotateAfter?: string }) =>
      printed(conn(), 'POST', `/v1/registry/tenants/${enc(t)}/services/${enc(s)}`, {
        rotateAfterSeconds: o.rotateAfter === undefined ? null : Number(o.rotateAfter),
      }),
    );
  scope
    .command('delete')
    .argument('<tenant>')
    .argument('<service>')
    .description('delete a scope (Cores purge it)')
    .action((t: string, s: string) => printed(conn(), 'DELETE', `/v1/registry/tenants/${enc(t)}/services/${enc(s)}`));

  registry
    .command('list')
    .description('tenants and their scopes')
    .action(() => printed(conn(), 'GET', '/v1/registry/tenants'));
  registry
    .command('status')
    .description('outbox, mesh and the last manifest of each Core')
    .action(() => printed(conn(), 'GET', '/v1/registry/status'));
  return registry;
}
