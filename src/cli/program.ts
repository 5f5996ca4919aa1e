/**
 * The `krypton` command tree (docs/design.md section 1). main.ts runs it; a test
 * launcher may build it with a Core clock of its own (nothing a production
 * process reads from its environment can change the Core's time).
 */
import { Command } from 'commander';
import { registerAdminCommand } from './admin.js';
import { registerCmkCommand } from './cmk.js';
import { readUnsealFile, registerCoreCommand } from './core.js';
import { registerGatewayCommands } from './gateway.js';
import { registerPkiCommand } from './pki.js';
import { registerRegistryCommand } from './registry.js';
import { selfCheck } from './selfcheck.js';
import { stopOnSignals } from './signals.js';
import { registerTokenCommand } from './token.js';
import { startControlPlane } from '../dev/control-plane.js';
import { startDevStack } from '../dev/stack.js';
import { hardenProcess } from '../native/index.js';
import type { Clock } from '../core/clock.js';

export interface ProgramOptions {
  /** The clock `krypton core run` gives the Core (default: the system clock). */
  coreClock?: Clock;
}

export function buildProgram(opts: ProgramOptions = {}): Command {
  const program = new Command('krypton').description('Krypton key-management data plane');
  registerSelfcheck(program);
  registerDev(program);
  registerControlPlane(program);
  registerCoreCommand(program, opts.coreClock !== undefined ? { clock: opts.coreClock } : {});
  registerRegistryCommand(program);
  registerCmkCommand(program);
  registerAdminCommand(program);
  registerPkiCommand(program);
  registerGatewayCommands(program);
  registerTokenCommand(program);
  return program;
}

/** `krypton selfcheck`: how key memory is protected on this host. */
function registerSelfcheck(program: Command): void {
  program
    .command('selfcheck')
    .description('report how key memory is protected on this host')
    .action(() => {
      const r = selfCheck();
      for (const line of r.lines) console.log(line);
      process.exitCode = r.ok ? 0 : 1;
    });
}

/** `krypton dev`: the local stack. */
function registerDev(program: Command): void {
  program
    .command('dev')
    .description(
      'run the local stack: dev PKI, control plane (Core, Registry, CMK Server) and Gateway (own processes), tenant demo, service app',
    )
    .option('--dir <dir>', 'state folder', '.krypton/dev')
    .option('--core-port <port>', 'Core port', '7443')
    .option('--gateway-port <port>', 'Gateway port', '7070')
    .option('--registry-port <port>', 'Registry port', '7444')
    .option('--cmk-port <port>', 'CMK Server port', '7445')
    .action(
      async (o: { dir: string; corePort: string; gatewayPort: string; registryPort: string; cmkPort: string }) => {
        const r = selfCheck();
        for (const line of r.lines) console.log(line);
        const stack = await startDevStack({
          dir: o.dir,
          corePort: Number(o.corePort),
          gatewayPort: Number(o.gatewayPort),
          registryPort: Number(o.registryPort),
          cmkPort: Number(o.cmkPort),
        });
        console.log(
          [
            '',
            `Core     https://127.0.0.1:${stack.core.port}  (HTTP/2, mTLS; admin: krypton admin --pki ${o.dir}/pki status)`,
            `Registry ${stack.core.registryUrl}  (krypton registry list --pki ${o.dir}/pki)`,
            `CMK      ${stack.core.cmkUrl}  (krypton cmk list --pki ${o.dir}/pki)`,
            `Gateway  ${stack.gatewayUrl}  and http://127.0.0.1:${stack.gateway.port}/v1/keys/{create,decrypt,rewrap}`,
            `Tenant   demo, service app; app token in ${o.dir}/token`,
            '',
            'Ctrl-C stops everything (drained and zeroized).',
          ].join('\n'),
        );
        stopOnSignals(() => stack.stop());
      },
    );
}

/** `krypton control-plane`: the Core, the Registry and the CMK Server in one process (development). */
function registerControlPlane(program: Command): void {
  program
    .command('control-plane')
    .description('development: the Core, the Registry and the CMK Server in one process on the in-process bus')
    .requiredOption('--core <file>', 'core config')
    .requiredOption('--registry <file>', 'registry config')
    .requiredOption('--cmk <file>', 'cmk config')
    .option('--unseal-file <path>', 'development: unseal the Core with the shares in this file')
    .option('--no-harden', 'keep the process dumpable (debugging only)')
    .action(async (o: { core: string; registry: string; cmk: string; unsealFile?: string; harden: boolean }) => {
      if (o.harden) hardenProcess();
      const plane = await startControlPlane({ core: o.core, registry: o.registry, cmk: o.cmk });
      if (o.unsealFile !== undefined) {
        const shares = readUnsealFile(o.unsealFile);
        await plane.core.core.unseal(shares);
        shares.forEach((s) => s.fill(0));
      }
      console.log(
        JSON.stringify({
          event: 'control-plane.listening',
          port: plane.core.server.port,
          registryPort: plane.registry.port,
          cmkPort: plane.cmk.port,
        }),
      );
      stopOnSignals(() => plane.stop());
    });
}
