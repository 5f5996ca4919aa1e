/**
 * A stage for attack tests: a real Core process, tenants and services
 * defined through its admin API, and a real Gateway (uWS, lease cache, Core
 * client, token file) running in this process, so a test can also look at
 * the Gateway's own state. Tokens are made with the real token file.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { startGateway, type GatewayConfig, type RunningGateway } from '../../src/gateway/service.js';
import { createToken } from '../../src/gateway/tokens.js';
import { startCoreProcess, type CoreProcess } from '../core/process-fixture.js';
import { admin } from '../gateway/gateway-fixture.js';
import { connect, type KeyResult, type WsClient } from '../gateway/ws-fixture.js';

export interface StageOptions {
  /** tenant -> services to define at the Core. */
  tenants: Record<string, string[]>;
  /** name -> what the token grants. */
  tokens: Record<string, { tenant: string; services: string[] }>;
  gateway?: Partial<GatewayConfig>;
}

export interface Stage {
  core: CoreProcess;
  gateway: RunningGateway;
  tokensFile: string;
  tokens: Record<string, string>;
  tokenIds: Record<string, string>;
  wsUrl: string;
  httpUrl: string;
  ws(token: string): Promise<WsClient>;
  /** Leases the Core has served so far (its own counter). */
  leasesServed(): Promise<number>;
  /** A fresh Gateway on the same Core and token file (stops nothing). */
  startGateway(config?: Partial<GatewayConfig>): Promise<RunningGateway>;
  stop(): Promise<void>;
}

export async function openStage(opts: StageOptions): Promise<Stage> {
  const core = await startCoreProcess();
  const clients: WsClient[] = [];
  const gateways: RunningGateway[] = [];
  try {
    for (const [tenant, services] of Object.entries(opts.tenants)) {
      await admin(core).tenant(tenant);
      for (const s of services) await admin(core).scope(tenant, s);
    }
    const tokensFile = join(core.dir, 'tokens.json');
    const tokens: Record<string, string> = {};
    const tokenIds: Record<string, string> = {};
    for (const [name, g] of Object.entries(opts.tokens)) {
      const made = createToken(tokensFile, g.tenant, g.services);
      tokens[name] = made.token;
      tokenIds[name] = made.grant.id;
    }
    const config = (more: Partial<GatewayConfig> = {}): GatewayConfig => ({
      host: '127.0.0.1',
      port: 0,
      coreUrl: core.url,
      coreSpiffeId: 'spiffe://krypton.dev/core',
      coreSigningKey: join(core.pki, 'core-sign.pub'),
      tls: {
        cert: join(core.pki, 'gateway.pem'),
        key: join(core.pki, 'gateway-key.pem'),
        ca: join(core.pki, 'ca.pem'),
      },
      tokensFile,
      ...opts.gateway,
      ...more,
    });
    const start = async (more?: Partial<GatewayConfig>) => {
      const g = await startGateway(config(more), { logger: pino({ level: 'silent' }) });
      gateways.push(g);
      return g;
    };
    const gateway = await start();
    const port = gateway.server.port;
    return {
      core,
      gateway,
      tokensFile,
      tokens,
      tokenIds,
      wsUrl: `ws://127.0.0.1:${port}/v1/ws`,
      httpUrl: `http://127.0.0.1:${port}`,
      ws: async (token) => {
        const c = await connect(`ws://127.0.0.1:${port}/v1/ws`, token);
        clients.push(c);
        return c;
      },
      leasesServed: () => admin(core).leasesServed(),
      startGateway: start,
      stop: async () => {
        for (const c of clients) c.close();
        for (const g of gateways) await g.stop();
        await core.cleanup();
      },
    };
  } catch (err) {
    for (const g of gateways) await g.stop();
    await core.cleanup();
    throw err;
  }
}

type Reply = [unknown, 0 | 1, unknown];

/** The result of a reply that must have succeeded. */
export function ok(r: unknown): KeyResult {
  const [, status, result] = r as Reply;
  if (status !== 0) throw new Error(`expected success, got ${JSON.stringify(result)}`);
  return result as KeyResult;
}

/** The error code of a reply that must have failed. */
export function refusal(r: unknown): string {
  const [, status, result] = r as Reply;
  if (status !== 1) throw new Error('expected a refusal, got a result');
  return (result as { code: string }).code;
}

/** POSTs a body to /v1/keys/{op} as JSON (bytes as base64) or msgpack; the status and the decoded body. */
export async function httpCall(
  stage: Stage,
  token: string,
  op: 'create' | 'decrypt' | 'rewrap',
  params: Record<string, unknown>,
  format: 'json' | 'msgpack',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const { pack, unpack } = await import('msgpackr');
  const b64 = (v: unknown): unknown =>
    v instanceof Uint8Array ? Buffer.from(v).toString('base64') : Array.isArray(v) ? v.map(b64) : v;
  const body =
    format === 'json'
      ? JSON.stringify(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, b64(v)])))
      : new Uint8Array(pack(params));
  const r = await fetch(`${stage.httpUrl}/v1/keys/${op}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': format === 'json' ? 'application/json' : 'application/msgpack',
    },
    body,
  });
  const raw = Buffer.from(await r.arrayBuffer());
  const decoded = (format === 'json' ? JSON.parse(raw.toString('utf8')) : unpack(raw)) as Record<string, unknown>;
  if (format === 'json') {
    // Byte fields back to Buffers, as msgpack gives them.
    for (const k of ['plaintext', 'blob'])
      if (typeof decoded[k] === 'string') decoded[k] = Buffer.from(decoded[k], 'base64');
    for (const k of ['plaintexts', 'blobs'])
      if (Array.isArray(decoded[k])) decoded[k] = (decoded[k] as string[]).map((x) => Buffer.from(x, 'base64'));
    if (Array.isArray(decoded.keys))
      decoded.keys = (decoded.keys as { plaintext: string; blob: string }[]).map((k) => ({
        plaintext: Buffer.from(k.plaintext, 'base64'),
        blob: Buffer.from(k.blob, 'base64'),
      }));
  }
  return { status: r.status, body: decoded };
}
