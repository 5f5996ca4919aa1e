/**
 * `krypton registry run|tenant|scope|list|status`: runs the Registry, or
 * drives a running one over mTLS with the admin certificate.
 */
import type { Command } from 'commander';
import { callActor, type AdminClientFlags } from '../mesh/actor-runtime.js';
import { loadRegistryConfig, startRegistry } from '../registry/service.js';
import { stopOnSignals } from './signals.js';

const enc = encodeURIComponent;

/** Adds the connection flags of an actor's admin client to a command. */
export function withAdminFlags(cmd: Command, defaultUrl: string): () => AdminClientFlags {
  cmd
    .option('--url <url>', 'admin API URL', defaultUrl)
    .option('--pki <dir>', 'folder with admin.pem, admin-key.pem, ca.pem', '.krypton/dev/pki')
    .option('--cert <file>', 'client certificate (default <pki>/admin.pem)')
    .option('--key <file>', 'client key (default <pki>/admin-key.pem)')
    .option('--ca <file>', 'CA (default <pki>/ca.pem)');
  return () => cmd.opts<AdminClientFlags>();
}

/** Calls the admin API and prints the reply; a refusal prints its code and message, exit status 1. */
export async function printed(flags: AdminClientFlags, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<void> {
  try {
    console.log(JSON.stringify(await callActor(flags, method, path, body), null, 2));
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    console.error(`error: ${typeof e.code === 'string' ? `${e.code} ` : ''}${String(e.message ?? err)}`);
    process.exitCode = 1;
  }
}

export function registerRegistryCommand(program: Command): Command {
  const registry = program.command('registry').description('the Registry: tenants and key definitions (intent, never key material)');
  const conn = withAdminFlags(registry, 'https://127.0.0.1:7444');

  registry
    .command('run')
    .description('run the Registry')
    .requiredOption('-c, --config <file>', 'registry config (JSON)')
    .action(async (flags: { config: string }) => {
      const running = await startRegistry(loadRegistryConfig(flags.config));
      console.log(JSON.stringify({ event: 'registry.listening', port: running.port }));
      stopOnSignals(running.stop);
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
      printed(conn(), 'POST', `/v1/registry/tenants/${enc(t)}/services/${enc(s)}`, { rotateAfterSeconds: o.rotateAfter === undefined ? null : Number(o.rotateAfter) }),
    );
  scope
    .command('delete')
    .argument('<tenant>')
    .argument('<service>')
    .description('delete a scope (Cores purge it)')
    .action((t: string, s: string) => printed(conn(), 'DELETE', `/v1/registry/tenants/${enc(t)}/services/${enc(s)}`));

  registry.command('list').description('tenants and their scopes').action(() => printed(conn(), 'GET', '/v1/registry/tenants'));
  registry.command('status').description('outbox, mesh and the last manifest of each Core').action(() => printed(conn(), 'GET', '/v1/registry/status'));
  return registry;
}
