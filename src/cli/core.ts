/**
 * `krypton core init|run`: creates the MasterKey (printing its Shamir shares,
 * or writing them to an unseal file in development) and runs the Core.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadCoreConfig, prepareStateDir } from '../core/config.js';
import { FileOffsetClock } from '../core/clock.js';
import { Core } from '../core/core.js';
import { startCore } from '../core/service.js';
import { join } from 'node:path';
import { hardenProcess } from '../native/index.js';
import { stopOnSignals } from './signals.js';
import { verifyAudit } from '../storage/audit-hash.js';
import { openKsi } from '../storage/open.js';

/** Development only: the unseal shares kept in one 0600 file, so a dev Core unseals itself. */
export function readUnsealFile(path: string): Buffer[] {
  const form = JSON.parse(readFileSync(path, 'utf8')) as { shares?: unknown };
  if (!Array.isArray(form.shares)) throw new Error(`${path}: no shares`);
  return form.shares.map((s) => Buffer.from(String(s), 'base64'));
}

export function registerCoreCommand(program: Command): Command {
  const core = program.command('core').description('the Core: key hierarchy and lease API');

  core
    .command('init')
    .description('create the MasterKey and print its Shamir shares')
    .requiredOption('-c, --config <file>', 'core config (JSON)')
    .option('--threshold <m>', 'shares needed to unseal', '3')
    .option('--shares <n>', 'shares to make', '5')
    .option('--unseal-file <path>', 'development: write the shares to this 0600 file instead of printing them')
    .action(async (flags: { config: string; threshold: string; shares: string; unsealFile?: string }) => {
      const config = loadCoreConfig(flags.config);
      prepareStateDir(config);
      const c = await Core.open({ ksiUrl: config.ksi, tier2Dir: join(config.stateDir, 'ivk-tier2'), gateways: config.gateways });
      try {
        const shares = await c.init({ threshold: Number(flags.threshold), shares: Number(flags.shares) });
        const b64 = shares.map((s) => s.toString('base64'));
        if (flags.unsealFile !== undefined) {
          if (existsSync(flags.unsealFile)) throw new Error(`${flags.unsealFile} exists: refusing to overwrite unseal shares`);
          writeFileSync(flags.unsealFile, JSON.stringify({ shares: b64 }), { mode: 0o600 });
          console.log(`MasterKey created; ${shares.length} shares written to ${flags.unsealFile} (development only)`);
        } else {
          console.log(`MasterKey created. Give one share to each of ${shares.length} operators; any ${flags.threshold} unseal the Core.`);
          b64.forEach((s, i) => console.log(`share ${i + 1}: ${s}`));
        }
        shares.forEach((s) => s.fill(0));
      } finally {
        await c.close();
      }
    });

  core
    .command('run')
    .description('run the Core (sealed until unsealed, or unsealed from --unseal-file in development)')
    .requiredOption('-c, --config <file>', 'core config (JSON)')
    .option('--unseal-file <path>', 'development: unseal with the shares in this file')
    .option('--no-harden', 'keep the process dumpable (debugging only)')
    .action(async (flags: { config: string; unsealFile?: string; harden: boolean }) => {
      if (flags.harden) hardenProcess();
      const config = loadCoreConfig(flags.config);
      const clockFile = process.env.KRYPTON_TEST_CLOCK_FILE;
      if (clockFile !== undefined) console.error(`krypton core: TESTING ONLY: time is shifted by the offset in ${clockFile}`);
      const running = await startCore(config, clockFile !== undefined ? { clock: new FileOffsetClock(clockFile) } : {});
      if (flags.unsealFile !== undefined) {
        const shares = readUnsealFile(flags.unsealFile);
        await running.core.unseal(shares);
        shares.forEach((s) => s.fill(0));
      }
      console.log(JSON.stringify({ event: 'core.listening', port: running.server.port, sealed: running.core.sealStatus().sealed }));
      stopOnSignals(running.stop);
    });
  core
    .command('audit')
    .description('verify the hash chain of the audit log (exit 1 if it is broken)')
    .requiredOption('-c, --config <file>', 'core config (JSON)')
    .action(async (flags: { config: string }) => {
      const config = loadCoreConfig(flags.config);
      const ksi = await openKsi(config.ksi);
      try {
        const verdict = await verifyAudit(ksi);
        console.log(JSON.stringify(verdict));
        process.exitCode = verdict.ok ? 0 : 1;
      } finally {
        await ksi.close();
      }
    });
  return core;
}
