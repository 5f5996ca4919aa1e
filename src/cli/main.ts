#!/usr/bin/env node
/**
 * `krypton`: one executable for every component (DESIGN.md section 1).
 * Components that are not built yet say so and exit non-zero.
 */
import { Command } from 'commander';
import { registerAdminCommand } from './admin.js';
import { registerCoreCommand } from './core.js';
import { registerPkiCommand } from './pki.js';
import { selfCheck } from './selfcheck.js';

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
  .description('run the local stack (Core, Gateway) on embedded defaults')
  .action(() => {
    const r = selfCheck();
    for (const line of r.lines) console.log(line);
    console.log(
      '\nThe native foundation is ready. The Core (issue 3) and the Gateway (issue 4) are not built yet,\n' +
        'so `krypton dev` has no services to start. `npm test` and `npm run bench` work now.',
    );
  });

for (const [name, what] of [
  ['gateway', 'the Gateway (issue 4)'],
  ['registry', 'the Registry (issue 5)'],
  ['cmk', 'the CMK Server (issue 5)'],
  ['token', 'app tokens (issue 4)'],
] as const) {
  program
    .command(name)
    .description(`${what}: not built yet`)
    .allowUnknownOption()
    .action(() => {
      console.error(`krypton ${name}: ${what} is not built yet`);
      process.exitCode = 2;
    });
}

registerCoreCommand(program);
registerAdminCommand(program);
registerPkiCommand(program);

await program.parseAsync(process.argv);
