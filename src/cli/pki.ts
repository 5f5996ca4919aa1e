/**
 * `krypton pki`: makes the development PKI (docs/design.md section 1) and issues
 * further certificates from its CA. Wired into main.ts by whoever owns it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import {
  DEFAULT_PKI_DIR,
  DEFAULT_TRUST_DOMAIN,
  initDevPki,
  isSpiffeId,
  issueCert,
  loadCa,
  writePair,
  type CertUsage,
} from '../pki/index.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

interface IssueFlags {
  dir: string;
  name: string;
  spiffe: string[];
  dns: string[];
  ip: string[];
  server?: boolean;
  client?: boolean;
  days?: string;
  force?: boolean;
}

function usageOf(flags: IssueFlags): CertUsage {
  if (flags.server && flags.client) return 'both';
  return flags.server ? 'server' : 'client';
}

export function registerPkiCommand(program: Command): Command {
  const pki = program.command('pki').description('development PKI: CA and SPIFFE-identified certificates');

  pki
    .command('init')
    .description('create (or complete) the development CA and the core, gateway and admin certificates')
    .option('--dir <dir>', 'where the PKI lives', DEFAULT_PKI_DIR)
    .option('--trust-domain <domain>', 'SPIFFE trust domain', DEFAULT_TRUST_DOMAIN)
    .action(async (flags: { dir: string; trustDomain: string }) => {
      const result = await initDevPki(flags.dir, { trustDomain: flags.trustDomain });
      if (result.written.length === 0) console.log(`pki: ${flags.dir} is up to date`);
      for (const file of result.written) console.log(`pki: wrote ${file}`);
    });

  pki
    .command('issue')
    .description('issue a certificate from the development CA')
    .requiredOption('--name <name>', 'file name: writes <name>.pem and <name>-key.pem')
    .requiredOption('--spiffe <id>', 'spiffe:// ID (repeatable)', collect, [] as string[])
    .option('--dns <name>', 'DNS SAN (repeatable)', collect, [] as string[])
    .option('--ip <address>', 'IP SAN (repeatable)', collect, [] as string[])
    .option('--server', 'server certificate (serverAuth)')
    .option('--client', 'client certificate (clientAuth; the default)')
    .option('--days <n>', 'validity in days', '365')
    .option('--force', 'overwrite existing files')
    .option('--dir <dir>', 'where the PKI lives', DEFAULT_PKI_DIR)
    .action(async (flags: IssueFlags) => {
      if (!/^[A-Za-z0-9._-]+$/.test(flags.name) || flags.name === 'ca') {
        throw new Error(`--name must be a plain file name other than "ca", got "${flags.name}"`);
      }
      const bad = flags.spiffe.filter((id) => !isSpiffeId(id));
      if (bad.length > 0) throw new Error(`not a SPIFFE ID: ${bad.join(', ')}`);
      const days = Number(flags.days);
      if (!Number.isInteger(days) || days < 1 || days > 3650) throw new Error('--days must be an integer in 1..3650');
      const ca = await loadCa(flags.dir);
      if (!ca) throw new Error(`no CA in ${flags.dir}: run \`krypton pki init\` first`);
      if (!flags.force && existsSync(join(flags.dir, `${flags.name}.pem`))) {
        throw new Error(`${flags.name}.pem exists in ${flags.dir}; pass --force to replace it`);
      }
      const pair = await issueCert(ca, {
        commonName: `krypton ${flags.name}`,
        spiffeIds: flags.spiffe,
        dnsNames: flags.dns,
        ipAddresses: flags.ip,
        usage: usageOf(flags),
        notAfter: new Date(Date.now() + days * 86_400_000),
      });
      for (const file of await writePair(flags.dir, flags.name, pair)) console.log(`pki: wrote ${file}`);
    });

  return pki;
}
