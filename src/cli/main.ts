#!/usr/bin/env node
/**
 * `krypton`: one executable for every component (DESIGN.md section 1).
 */
import { Command } from 'commander';
import { registerAdminCommand } from './admin.js';
import { registerCmkCommand } from './cmk.js';
import { registerCoreCommand } from './core.js';
import { registerGatewayCommands } from './gateway.js';
import { registerPkiCommand } from './pki.js';
import { registerRegistryCommand } from './registry.js';
import { selfCheck } from './selfcheck.js';
import { stopOnSignals } from './signals.js';
import { startDevStack } from '../dev/stack.js';

const program = new Command('krypton').description('Krypton key-management data plane');

program
  .command('selfcheck')
  .description('report how key memory is protected on this host')
  .action(() => {
    const r = selfCheck();
    for (const line of r.lines) console.log(line);
    process.exitCode = r.ok ? 0 : 1;
  });

program
  .command('dev')
  .description('run the local stack: dev PKI, Core and Gateway (own processes), tenant demo, service app')
  .option('--dir <dir>', 'state folder', '.krypton/dev')
  .option('--core-port <port>', 'Core port', '7443')
  .option('--gateway-port <port>', 'Gateway port', '7070')
  .action(async (o: { dir: string; corePort: string; gatewayPort: string }) => {
    const r = selfCheck();
    for (const line of r.lines) console.log(line);
    const stack = await startDevStack({ dir: o.dir, corePort: Number(o.corePort), gatewayPort: Number(o.gatewayPort) });
    console.log(
      [
        '',
        `Core     https://127.0.0.1:${stack.core.port}  (HTTP/2, mTLS; admin: krypton admin --pki ${o.dir}/pki status)`,
        `Gateway  ${stack.gatewayUrl}  and http://127.0.0.1:${stack.gateway.port}/v1/keys/{create,decrypt,rewrap}`,
        `Tenant   demo, service app; app token in ${o.dir}/token`,
        '',
        'Ctrl-C stops both (drained and zeroized).',
      ].join('\n'),
    );
    stopOnSignals(stack.stop);
  });

registerCoreCommand(program);
registerRegistryCommand(program);
registerCmkCommand(program);
registerAdminCommand(program);
registerPkiCommand(program);
registerGatewayCommands(program);

await program.parseAsync(process.argv);
