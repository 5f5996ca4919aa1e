/**
 * `krypton core init|run`: creates the MasterKey (printing its Shamir shares,
 * or writing them to an unseal file in development) and runs the Core.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadCoreConfig, prepareStateDir } from '../core/config.js';
import type { Clock } from '../core/clock.js';
import { Core } from '../core/core.js';
import { startCore } from '../core/service.js';
import { join } from 'node:path';
import { hardenProcess, SigningKey } from '../native/index.js';
import { stopOnSignals } from './signals.js';
import { parseAuditHead } from '../core/audit-routes.js';
import { callAdmin, withAdminFlags, type AdminClientFlags } from './admin-client.js';

/** Development only: the unseal shares kept in one 0600 file, so a dev Core unseals itself. */
export function readUnsealFile(path: string): Buffer[] {
  const form = JSON.parse(readFileSync(path, 'utf8')) as { shares?: unknown };
  if (!Array.isArray(form.shares)) throw new Error(`${path}: no shares`);
  return form.shares.map((s) => Buffer.from(String(s), 'base64'));
}

/** `clock`: the Core's time source for `core run` (a test launcher's; never read from the environment). */
export function registerCoreCommand(program: Command, opts: { clock?: Clock } = {}): Command {
  const core = program.command('core').description('the Core: key hierarchy and lease API');
  registerInit(core);
  registerRun(core, opts);
  registerAudit(core);
  return core;
}

/** `krypton core init`: the MasterKey and its Shamir shares. */
function registerInit(core: Command): void {
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
      // With the Core's own signing key: the first audit row (written before any unseal) is signed with it.
      const c = await Core.open({
        ksiUrl: config.ksi,
        tier2Dir: join(config.stateDir, 'ivk-tier2'),
        gateways: config.gateways,
        signer: SigningKey.load(config.signingKey),
      });
      try {
        const shares = await c.init({ threshold: Number(flags.threshold), shares: Number(flags.shares) });
        const b64 = shares.map((s) => s.toString('base64'));
        if (flags.unsealFile !== undefined) {
          if (existsSync(flags.unsealFile))
            throw new Error(`${flags.unsealFile} exists: refusing to overwrite unseal shares`);
          writeFileSync(flags.unsealFile, JSON.stringify({ shares: b64 }), { mode: 0o600 });
          console.log(`MasterKey created; ${shares.length} shares written to ${flags.unsealFile} (development only)`);
        } else {
          console.log(
            `MasterKey created. Give one share to each of ${shares.length} operators; any ${flags.threshold} unseal the Core.`,
          );
          b64.forEach((s, i) => console.log(`share ${i + 1}: ${s}`));
        }
        shares.forEach((s) => s.fill(0));
      } finally {
        await c.close();
      }
    });
}

/** `krypton core run`: the Core's API, sealed or unsealed from a development file. */
function registerRun(core: Command, opts: { clock?: Clock }): void {
  core
    .command('run')
    .description('run the Core (sealed until unsealed, or unsealed from --unseal-file in development)')
    .requiredOption('-c, --config <file>', 'core config (JSON)')
    .option('--unseal-file <path>', 'development: unseal with the shares in this file')
    .option('--no-harden', 'keep the process dumpable (debugging only)')
    .action(async (flags: { config: string; unsealFile?: string; harden: boolean }) => {
      if (flags.harden) hardenProcess();
      const config = loadCoreConfig(flags.config);
      const running = await startCore(config, opts.clock !== undefined ? { clock: opts.clock } : {});
      if (flags.unsealFile !== undefined) {
        const shares = readUnsealFile(flags.unsealFile);
        await running.core.unseal(shares);
        shares.forEach((s) => s.fill(0));
      }
      console.log(
        JSON.stringify({
          event: 'core.listening',
          port: running.server.port,
          sealed: running.core.sealStatus().sealed,
        }),
      );
      stopOnSignals(() => running.stop());
    });
}

/** `krypton core audit`: the audit chain verified by the running Core, against a published head. */
function registerAudit(core: Command): void {
  const audit = core
    .command('audit')
    .description(
      'verify the audit chain through the running, unsealed Core (the keyed links need its audit key, which never leaves it) and, given the head ' +
        'last published in a State.Manifest, that the chain still reaches it (a truncated or rewritten tail does not); exit 1 if it is broken',
    )
    .option(
      '--head <seq:link>',
      'the published head, as `krypton registry status` shows it (manifests[].auditHead.arg)',
    )
    .option('--registry <url>', "read the head from this Registry's status instead (same admin certificate)")
    .option('--core-id <id>', "the Core's actor id among the Registry's manifests (default: the only one)");
  const conn = withAdminFlags(audit, 'https://127.0.0.1:7443', 'core');
  audit.action(async (flags: { head?: string; registry?: string; coreId?: string }) => {
    try {
      const given = flags.head !== undefined ? parseAuditHead(flags.head) : undefined;
      const head =
        given !== undefined
          ? `${given.seq}:${given.hash}`
          : flags.registry !== undefined
            ? await headFromRegistry({ ...conn(), url: flags.registry }, flags.coreId)
            : undefined;
      if (head === undefined)
        console.error(
          'krypton core audit: no --head: rows deleted from the tail cannot be detected, only rewritten ones',
        );
      const verdict = (await callAdmin(
        conn(),
        'GET',
        `/v1/admin/audit${head === undefined ? '' : `?head=${encodeURIComponent(head)}`}`,
      )) as { ok?: boolean };
      console.log(JSON.stringify(verdict));
      process.exitCode = verdict.ok === true ? 0 : 1;
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      console.error(`error: ${typeof e.code === 'string' ? `${e.code} ` : ''}${String(e.message ?? err)}`);
      process.exitCode = 2;
    }
  });
}

/** The last audit head the Registry recorded for a Core (`<seq>:<link>`). */
async function headFromRegistry(flags: AdminClientFlags, coreId: string | undefined): Promise<string> {
  const status = (await callAdmin(flags, 'GET', '/v1/registry/status')) as {
    manifests?: Array<{ core: string; auditHead: { arg: string } | null }>;
  };
  const manifests = status.manifests ?? [];
  const m =
    coreId !== undefined ? manifests.find((x) => x.core === coreId) : manifests.length === 1 ? manifests[0] : undefined;
  if (m === undefined)
    throw new Error(
      coreId !== undefined
        ? `the Registry has no manifest from ${coreId}`
        : `the Registry has manifests from ${manifests.length} Cores: name one with --core-id`,
    );
  if (m.auditHead === null) throw new Error(`the Registry has no audit head from ${m.core} yet`);
  return m.auditHead.arg;
}
