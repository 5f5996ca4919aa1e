/**
 * A running Gateway: Core client, lease cache, uWS server, metrics, and a
 * graceful stop (stop accepting, drain in-flight requests, close sockets,
 * zeroize every leased key).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import pino, { type Logger } from 'pino';
import { Registry } from '../metrics/registry.js';
import { addArenaMetrics } from '../metrics/arena.js';
import { loadPublicKey, startContextSweeper, storeStats } from '../native/index.js';
import { BulkPool } from './bulk.js';
import { CoreClient } from './core-client.js';
import { LeaseCache } from './lease-cache.js';
import { startGatewayServer, type GatewayLimits, type GatewayServer } from './server.js';
import { TokenStore } from './tokens.js';

export interface GatewayConfig {
  host: string;
  port: number;
  coreUrl: string;
  tls: { cert: string; key: string; ca: string };
  /** The SPIFFE ID the Core must present (mandatory). */
  coreSpiffeId: string;
  /**
   * The Core's lease signing public key (`core-sign.pub` of `krypton pki
   * init`, SPKI PEM; mandatory): a lease binds only if the Core signed it.
   */
  coreSigningKey: string;
  /** How far a lease's issue time may be from this Gateway's clock (default 120 s). */
  maxLeaseSkewSeconds?: number;
  tokensFile: string;
  maxLeaseTtlSeconds?: number;
  /** Scopes leased or being fetched per tenant (default 1024); one more is OVERLOADED. */
  maxScopesPerTenant?: number;
  limits?: Partial<GatewayLimits>;
  /** Keys or blobs per request from which work moves to Piscina threads (0 disables; default 1024). */
  bulkThreshold?: number;
  bulkThreads?: number;
}

/**
 * Below this many keys a request is faster inline (~0.25 us a key, so 1,024
 * keys block the loop ~0.3 ms) than the 60-180 us hand-off to a thread.
 */
export const DEFAULT_BULK_THRESHOLD = 1024;

export interface RunningGateway {
  server: GatewayServer;
  cache: LeaseCache;
  core: CoreClient;
  metrics: Registry;
  tokens: TokenStore;
  stop(): Promise<void>;
}

export async function startGateway(config: GatewayConfig, opts: { logger?: Logger } = {}): Promise<RunningGateway> {
  const log = opts.logger ?? pino({ name: 'krypton-gateway' });
  const metrics = new Registry();
  const core = coreClient(config, log);
  const cache = new LeaseCache({
    core,
    logger: log,
    ...(config.maxLeaseTtlSeconds !== undefined ? { maxTtlSeconds: config.maxLeaseTtlSeconds } : {}),
    ...(config.maxScopesPerTenant !== undefined ? { maxScopesPerTenant: config.maxScopesPerTenant } : {}),
  });
  const tokens = TokenStore.load(config.tokensFile, { logger: log });
  // A token revoked in the file stops working, and its sessions close, within a second.
  tokens.watch();
  addGatewayMetrics(metrics, core, cache);

  const threshold = config.bulkThreshold ?? DEFAULT_BULK_THRESHOLD;
  const bulkTasks = metrics.counter('krypton_gateway_bulk_tasks_total', 'Requests handed to Piscina worker threads', [
    'op',
  ]);
  const bulk =
    threshold > 0
      ? new BulkPool(threshold, config.bulkThreads ?? Math.max(1, availableParallelism() - 1), (op) =>
          bulkTasks.inc({ op }),
        )
      : null;
  const server = await startGatewayServer({
    bulk,
    host: config.host,
    port: config.port,
    tokens,
    cache,
    metrics,
    log,
    ...(config.limits !== undefined ? { limits: config.limits } : {}),
  });
  const sweeper = startContextSweeper();
  // Ready without traffic: the event stream (and so the Core) is reached now, not at the first lease.
  cache.start();
  const steps: [string, () => unknown][] = [
    ['close the server', () => server.close()],
    ['stop watching tokens', () => tokens.close()],
    ['stop the context sweeper', () => sweeper.stop()],
    ['stop the bulk threads', () => bulk?.destroy()],
    ['zeroize the leased keys', () => cache.stop()],
    ['close the Core session', () => core.close()],
  ];
  return {
    server,
    cache,
    core,
    metrics,
    tokens,
    /** Every step runs, whatever the others do: a failed drain must not keep leased keys in memory. */
    stop: async () => {
      for (const [what, step] of steps) {
        try {
          await step();
        } catch (err) {
          log.error({ err }, `gateway stop: could not ${what}; going on`);
        }
      }
      log.info('gateway stopped; keys zeroized');
    },
  };
}

/** The mTLS client of the Core, pinned to its SPIFFE ID and to the key that signs its leases. */
function coreClient(config: GatewayConfig, log: Logger): CoreClient {
  return new CoreClient({
    url: config.coreUrl,
    cert: readFileSync(config.tls.cert),
    key: readFileSync(config.tls.key),
    ca: readFileSync(config.tls.ca),
    serverSpiffeId: config.coreSpiffeId,
    corePublicKey: loadPublicKey(config.coreSigningKey),
    ...(config.maxLeaseSkewSeconds !== undefined ? { maxLeaseSkewMs: config.maxLeaseSkewSeconds * 1000 } : {}),
    logger: log,
  });
}

/** The Gateway's own gauges: the Core circuit, the arena, revocation delay and lease times. */
function addGatewayMetrics(metrics: Registry, core: CoreClient, cache: LeaseCache): void {
  const circuit = metrics.gauge(
    'krypton_gateway_core_circuit_open',
    '1 while the circuit to the Core is open, 0.5 half-open',
  );
  circuit.set(() => ({ closed: 0, 'half-open': 0.5, open: 1 })[core.circuitState()]);
  metrics.gauge('krypton_gateway_keys_in_arena', 'keys held in the locked arena').set(() => storeStats().keys);
  addArenaMetrics(metrics);
  metrics
    .gauge(
      'krypton_gateway_revocation_delay_seconds',
      'Delay of the last revocation, from the Core commit to it taking effect',
    )
    .set(() => (cache.stats().revocationDelayMs.last ?? 0) / 1000);
  metrics.gauge('krypton_gateway_lease_ttl_left_seconds', 'Shortest time left on a held lease').set(() => {
    const held = cache.stats().scopes.filter((s) => s.held);
    return held.length === 0 ? 0 : Math.min(...held.map((s) => s.ttlLeftMs)) / 1000;
  });
  metrics.gauge('krypton_gateway_lease_age_seconds', 'Age of the oldest held lease').set(() => {
    const held = cache.stats().scopes.filter((s) => s.held);
    return held.length === 0 ? 0 : Math.max(...held.map((s) => s.leaseAgeMs)) / 1000;
  });
}
