/**
 * `krypton token create|list|revoke`: the Gateway's app tokens. Only SHA-256
 * digests are stored; a running Gateway picks up changes to the file without
 * a restart, and closes the sessions of a revoked token.
 *
 * Keep this module light: it imports the token file helpers only (no native
 * addon, no uWS, no Gateway server).
 */
import type { Command } from 'commander';
import { createToken, listTokens, revokeToken, type TokenInfo } from '../gateway/tokens.js';

const DEFAULT_FILE = '.krypton/dev/tokens.json';
const FILE_HELP = "the Gateway's token file";

/** Runs a command body; an error becomes `error: <message>` on stderr and exit code 1. */
function guarded<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      fn(...args);
    } catch (err) {
      console.error(`error: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  };
}

const stateOf = (t: TokenInfo): 'active' | 'revoked' => (t.revokedAt === undefined ? 'active' : 'revoked');

/** The tokens as an aligned table: id, tenant, services, created, state. */
export function tokenTable(tokens: readonly TokenInfo[]): string[] {
  const rows = [
    ['ID', 'TENANT', 'SERVICES', 'CREATED', 'STATE'],
    ...tokens.map((t) => [t.id, t.tenant, t.services.join(','), t.createdAt, stateOf(t)]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '));
}

export function registerTokenCommand(program: Command): Command {
  const token = program.command('token').description('app tokens (a token maps to one tenant and its services)');

  token
    .command('create')
    .requiredOption('--tenant <tenant>')
    .option('--services <list>', 'comma-separated services, or *', '*')
    .option('--file <tokens.json>', FILE_HELP, DEFAULT_FILE)
    .description('create a token and print it (only its digest is stored)')
    .action(
      guarded((o: { tenant: string; services: string; file: string }) => {
        const { token: t } = createToken(
          o.file,
          o.tenant,
          o.services.split(',').map((s) => s.trim()),
        );
        console.log(t);
      }),
    );

  token
    .command('list')
    .option('--file <tokens.json>', FILE_HELP, DEFAULT_FILE)
    .option('--json', 'print JSON instead of a table')
    .description('list tokens: id, tenant, services, created, state (never a token or its digest)')
    .action(
      guarded((o: { file: string; json?: boolean }) => {
        const tokens = listTokens(o.file);
        if (o.json === true) {
          console.log(
            JSON.stringify(
              tokens.map((t) => ({ ...t, state: stateOf(t) })),
              null,
              2,
            ),
          );
          return;
        }
        if (tokens.length === 0) {
          console.log(`no tokens in ${o.file}`);
          return;
        }
        for (const line of tokenTable(tokens)) console.log(line);
      }),
    );

  token
    .command('revoke')
    .argument('<id>', 'the token id (12 hex characters, as `token list` shows)')
    .option('--file <tokens.json>', FILE_HELP, DEFAULT_FILE)
    .description('revoke a token: a running Gateway stops accepting it and closes its sessions')
    .action(
      guarded((id: string, o: { file: string }) => {
        if (!revokeToken(o.file, id.trim().toLowerCase())) throw new Error(`no token ${id}`);
        console.log(`revoked ${id}`);
      }),
    );

  return token;
}
