/**
 * `krypton gateway` runs the Gateway (app tokens: `krypton token`, src/cli/token.ts).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { errors } from '../errors.js';
import type { GatewayConfig } from '../gateway/service.js';
import { hardenProcess, loadPublicKey } from '../native/index.js';
import { stopOnSignals } from './signals.js';
import { hostField, refuseUnknownFields } from '../config/fields.js';

const FIELDS = [
  'host',
  'port',
  'coreUrl',
  'tls',
  'coreSpiffeId',
  'coreSigningKey',
  'maxLeaseSkewSeconds',
  'tokensFile',
  'maxLeaseTtlSeconds',
  'maxScopesPerTenant',
  'limits',
  'bulkThreshold',
  'bulkThreads',
];

function positiveInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw errors.badRequest(`gateway config: ${name} must be a positive integer`);
  return v;
}

/** Reads a gateway config (JSON; relative paths resolve against its folder). */
export function loadGatewayConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw errors.badRequest(`gateway config: cannot read ${file}: ${(err as Error).message}`);
  }
  const fail = (message: string): never => {
    throw errors.badRequest(`gateway config: ${message}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${file} must hold a JSON object`);
  refuseUnknownFields(raw, FIELDS, '', fail);
  const base = dirname(resolve(file));
  const path = (p: unknown, name: string): string => {
    if (typeof p !== 'string' || p === '') throw errors.badRequest(`gateway config: ${name} must be a path`);
    return isAbsolute(p) ? p : join(base, p);
  };
  const tls = (raw.tls ?? {}) as Record<string, unknown>;
  refuseUnknownFields(tls, ['cert', 'key', 'ca'], 'tls.', fail);
  const port = Number(env.KRYPTON_GATEWAY_PORT ?? raw.port ?? 7070);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw errors.badRequest('gateway config: port must be 0..65535');
  const coreUrl = env.KRYPTON_GATEWAY_CORE_URL ?? raw.coreUrl ?? 'https://127.0.0.1:7443';
  if (typeof coreUrl !== 'string' || !coreUrl.startsWith('https://')) {
    throw errors.badRequest('gateway config: coreUrl must be an https:// URL');
  }
  // The Gateway pins its Core twice, both mandatory (review M1): the SPIFFE ID
  // of its certificate, and the key that signs its leases.
  if (typeof raw.coreSpiffeId !== 'string' || !raw.coreSpiffeId.startsWith('spiffe://')) {
    throw errors.badRequest(
      'gateway config: coreSpiffeId is required: the SPIFFE ID the Core\'s certificate must carry (e.g. "spiffe://krypton.dev/core")',
    );
  }
  if (typeof raw.coreSigningKey !== 'string' || raw.coreSigningKey === '') {
    throw errors.badRequest(
      "gateway config: coreSigningKey is required: the path of the Core's lease signing public key (core-sign.pub of `krypton pki init`); leases are bound only if the Core signed them",
    );
  }
  const coreSigningKey = path(raw.coreSigningKey, 'coreSigningKey');
  try {
    loadPublicKey(coreSigningKey);
  } catch (err) {
    throw errors.badRequest(
      `gateway config: coreSigningKey ${coreSigningKey} is not an Ed25519 public key file: ${(err as Error).message}`,
    );
  }
  const skew = raw.maxLeaseSkewSeconds;
  if (skew !== undefined && (typeof skew !== 'number' || !Number.isInteger(skew) || skew < 1 || skew > 86_400)) {
    throw errors.badRequest('gateway config: maxLeaseSkewSeconds must be an integer from 1 to 86400');
  }
  return {
    host: hostField(raw.host, 'host', '127.0.0.1', fail),
    port,
    coreUrl,
    tls: { cert: path(tls.cert, 'tls.cert'), key: path(tls.key, 'tls.key'), ca: path(tls.ca, 'tls.ca') },
    coreSpiffeId: raw.coreSpiffeId,
    coreSigningKey,
    ...(skew !== undefined ? { maxLeaseSkewSeconds: skew } : {}),
    tokensFile: path(raw.tokensFile ?? 'tokens.json', 'tokensFile'),
    ...(raw.maxLeaseTtlSeconds !== undefined ? { maxLeaseTtlSeconds: Number(raw.maxLeaseTtlSeconds) } : {}),
    ...(raw.maxScopesPerTenant !== undefined
      ? { maxScopesPerTenant: positiveInt(raw.maxScopesPerTenant, 'maxScopesPerTenant') }
      : {}),
    ...(raw.limits !== undefined ? { limits: raw.limits as GatewayConfig['limits'] } : {}),
    ...(raw.bulkThreshold !== undefined ? { bulkThreshold: Number(raw.bulkThreshold) } : {}),
    ...(raw.bulkThreads !== undefined ? { bulkThreads: Number(raw.bulkThreads) } : {}),
  };
}

export function registerGatewayCommands(program: Command): void {
  program
    .command('gateway')
    .description('run the Gateway: the data plane next to the apps')
    .requiredOption('-c, --config <file>', 'gateway config (JSON)')
    .option('--threads <n>', 'one uWS app per worker thread on the same port', '1')
    .option('--no-harden', 'keep the process dumpable (debugging only)')
    .action(async (flags: { config: string; threads: string; harden: boolean }) => {
      if (flags.harden) hardenProcess();
      const threads = Number(flags.threads);
      if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw errors.badRequest('--threads must be 1..64');
      const config = loadGatewayConfig(flags.config);
      const running =
        threads === 1
          ? await (
              await import('../gateway/service.js')
            )
              .startGateway(config)
              .then((g) => ({ port: g.server.port, stop: () => g.stop(), reloadTokens: () => void g.tokens.reload() }))
          : await (await import('../gateway/threads.js')).startThreadedGateway(config, threads);
      console.log(JSON.stringify({ event: 'gateway.listening', port: running.port, threads }));
      // The token file is watched; SIGHUP reloads it at once.
      process.on('SIGHUP', () => running.reloadTokens());
      stopOnSignals(() => running.stop());
    });
}
