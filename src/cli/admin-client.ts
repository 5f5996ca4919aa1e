/**
 * What every `krypton` admin command shares (Core, Registry, CMK Server):
 * the connection flags, an mTLS client with the admin certificate, and one
 * call that prints the reply, or the refusal's code and message with exit
 * status 1.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createMtlsClient, type MtlsClient, type RequestOptions } from '../http/index.js';

export interface AdminClientFlags {
  url: string;
  pki: string;
  cert?: string;
  key?: string;
  ca?: string;
}

export type AdminMethod = 'GET' | 'POST' | 'DELETE';

/** Adds the connection flags to a command (`--url`, or another name such as `--core`). */
export function withAdminFlags(cmd: Command, defaultUrl: string, urlFlag = 'url'): () => AdminClientFlags {
  cmd
    .option(`--${urlFlag} <url>`, 'admin API URL', defaultUrl)
    .option('--pki <dir>', 'folder with admin.pem, admin-key.pem, ca.pem', '.krypton/dev/pki')
    .option('--cert <file>', 'client certificate (default <pki>/admin.pem)')
    .option('--key <file>', 'client key (default <pki>/admin-key.pem)')
    .option('--ca <file>', 'CA (default <pki>/ca.pem)');
  return () => {
    const o = cmd.opts<Record<string, string | undefined>>();
    return { ...(o as Omit<AdminClientFlags, 'url'>), url: o[urlFlag]! };
  };
}

/** An mTLS client with the admin certificate. */
export function adminClient(flags: AdminClientFlags): MtlsClient {
  return createMtlsClient({
    url: flags.url,
    cert: readFileSync(flags.cert ?? join(flags.pki, 'admin.pem')),
    key: readFileSync(flags.key ?? join(flags.pki, 'admin-key.pem')),
    ca: readFileSync(flags.ca ?? join(flags.pki, 'ca.pem')),
    timeoutMs: 15_000,
  });
}

/**
 * One admin call: the reply body, or {ok: true} for an empty reply. JSON unless `opts` says otherwise (secret:
 * msgpack).
 */
export async function callAdmin(
  flags: AdminClientFlags,
  method: AdminMethod,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<unknown> {
  const client = adminClient(flags);
  try {
    const r = await client.request(method, path, body, { contentType: 'application/json', ...opts });
    return r.body ?? { ok: true };
  } finally {
    await client.close();
  }
}

/** Calls and prints the reply; a refusal prints its code and message, exit status 1. */
export async function printed(
  flags: AdminClientFlags,
  method: AdminMethod,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<void> {
  try {
    console.log(JSON.stringify(await callAdmin(flags, method, path, body, opts), null, 2));
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    console.error(`error: ${typeof e.code === 'string' ? `${e.code} ` : ''}${String(e.message ?? err)}`);
    process.exitCode = 1;
  }
}
