/**
 * A real `krypton core` process for end-to-end tests: dev PKI, config,
 * `core init` with an unseal file, then `core run`, all through the CLI.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pkiClient } from '../../src/dev/core-process.js';
import { spawnService } from '../../src/dev/spawn.js';
import type { MtlsClient } from '../../src/http/index.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

/** Runs the CLI; `input` is written to its stdin (e.g. unseal shares, which never go on the command line). */
export function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  input?: string,
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--secure-heap=65536', CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
    ...(input !== undefined ? { input } : {}),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface CoreProcess {
  dir: string;
  pki: string;
  port: number;
  url: string;
  child: ChildProcess;
  config: string;
  unsealFile: string;
  /** A client of the Core with the dev PKI's certificate `name` ('admin', 'gateway', or one issued since). */
  client(name: string): MtlsClient;
  /** Arrow functions (no `this`): they can be handed on, e.g. to a list of cleanups. */
  stop: () => Promise<void>;
  cleanup: () => Promise<void>;
}

export async function startCoreProcess(
  opts: { gateways?: Record<string, string[]>; extraArgs?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<CoreProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'krypton-coreproc-'));
  const pki = join(dir, 'pki');
  const init = cli(['pki', 'init', '--dir', pki]);
  if (init.status !== 0) throw new Error(`pki init failed: ${init.stderr}`);
  const config = join(dir, 'core.json');
  writeFileSync(
    config,
    JSON.stringify({
      port: 0,
      stateDir: 'state',
      ksi: 'sqlite:state/ksi.db',
      tls: { cert: 'pki/core.pem', key: 'pki/core-key.pem', ca: 'pki/ca.pem' },
      gateways: opts.gateways ?? { 'spiffe://krypton.dev/gateway/default': ['*'] },
      admins: ['spiffe://krypton.dev/admin'],
      tickSeconds: 1,
    }),
  );
  const unsealFile = join(dir, 'unseal.json');
  const made = cli(['core', 'init', '--config', config, '--unseal-file', unsealFile], opts.env);
  if (made.status !== 0) throw new Error(`core init failed: ${made.stderr}`);
  return launch({
    dir,
    pki,
    config,
    unsealFile,
    ...(opts.extraArgs ? { extraArgs: opts.extraArgs } : {}),
    ...(opts.env ? { env: opts.env } : {}),
  });
}

export async function launch(p: {
  dir: string;
  pki: string;
  config: string;
  unsealFile: string;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
  sealed?: boolean;
}): Promise<CoreProcess> {
  const args = [
    'core',
    'run',
    '--config',
    p.config,
    ...(p.sealed ? [] : ['--unseal-file', p.unsealFile]),
    ...(p.extraArgs ?? []),
  ];
  const svc = await spawnService(args, 'core.listening', p.env ? { env: p.env } : {});
  const { child, port } = svc;
  const url = `https://127.0.0.1:${port}`;
  const clients: MtlsClient[] = [];
  const self: CoreProcess = {
    ...p,
    port,
    url,
    child,
    client: (name) => {
      const c = pkiClient(p.pki, url, name);
      clients.push(c);
      return c;
    },
    stop: async () => {
      for (const c of clients.splice(0)) await c.close().catch(() => undefined);
      await svc.stop();
    },
    cleanup: async () => {
      await self.stop();
      rmSync(p.dir, { recursive: true, force: true });
    },
  };
  return self;
}
