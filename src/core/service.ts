/**
 * A running Core: the Core object, its HTTP/2 mTLS API, the tick timer,
 * metrics and graceful stop (stop accepting, drain, seal: zeroize).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { createMtlsServer, type MtlsServer } from '../http/index.js';
import { Registry } from '../metrics/registry.js';
import { addArenaMetrics } from '../metrics/arena.js';
import { SigningKey, startContextSweeper, storeStats } from '../native/index.js';
import { auditAdminRefusals, coreNotReady, coreRoutes } from './api.js';
import { startHealthListener, type HealthListener } from '../http/health-listener.js';
import type { Clock } from './clock.js';
import { prepareStateDir, type CoreConfig } from './config.js';
import { Core } from './core.js';
import { HOUR_MS, DAY_MS } from './clock.js';
import { errors } from '../errors.js';
import { OrbitalAuth } from '../mesh/auth.js';
import type { Mesh, MeshHub } from '../mesh/mesh.js';
import { openMesh } from '../mesh/open.js';
import { CoreOrbital } from './orbital/node.js';

export interface RunningCore {
  core: Core;
  server: MtlsServer;
  /** The unauthenticated health port, when configured. */
  health: HealthListener | null;
  metrics: Registry;
  /** Present when the config has an `orbital` section. */
  orbital: CoreOrbital | null;
  stop(): Promise<void>;
}

export interface StartCoreOptions {
  logger?: Logger;
  clock?: Clock;
  /**
   * An in-process bus shared with the other actors of this process: the Core takes its own endpoint on it (the bus is
   * not closed on stop).
   */
  bus?: MeshHub;
}

export async function startCore(config: CoreConfig, opts: StartCoreOptions = {}): Promise<RunningCore> {
  const log = opts.logger ?? pino({ name: 'krypton-core' });
  prepareStateDir(config);
  const metrics = new Registry();
  const core = await openCore(config, opts, metrics, log);
  const { orbital, ownMesh } = await attachOrbital(core, config, opts, metrics, log);
  const server = await startApi(core, config, metrics, orbital, log);

  let health: HealthListener | null = null;
  if (config.health !== undefined) {
    try {
      health = await startHealthListener(config.health, async () => (await coreNotReady(core)) === null);
    } catch (err) {
      // The port is taken (or the host wrong): undo what started, keys zeroized, then say why.
      await server.close().catch(() => undefined);
      await orbital?.stop().catch(() => undefined);
      await ownMesh?.close().catch(() => undefined);
      await core.close();
      throw err;
    }
  }

  const sweeper = startContextSweeper();
  const timer = startTicks(core, config.tickSeconds, log);

  log.info({ port: server.port, healthPort: health?.port, sealed: core.sealStatus().sealed }, 'core listening');
  return {
    core,
    server,
    health,
    metrics,
    orbital,
    stop: async () => {
      clearInterval(timer);
      sweeper.stop();
      await health?.close();
      await server.close();
      await orbital?.stop();
      await ownMesh?.close();
      await core.close(); // seals: the MasterKey, tier 1 and every hot key are zeroized
      log.info('core stopped; keys zeroized');
    },
  };
}

/** The Core object, with its tamper counter and its gauges in `metrics`. */
async function openCore(config: CoreConfig, opts: StartCoreOptions, metrics: Registry, log: Logger): Promise<Core> {
  const tamper = metrics.counter('krypton_core_tamper_total', 'IVK headers that failed their HMAC (refused)', [
    'source',
  ]);
  const core = await Core.open({
    signer: SigningKey.load(config.signingKey),
    ksiUrl: config.ksi,
    tier2Dir: join(config.stateDir, 'ivk-tier2'),
    gateways: config.gateways,
    leaseTtlSeconds: config.leaseTtlSeconds,
    maxHotVersions: config.maxHotVersions,
    ivkPolicy: {
      graceMs: config.ivk.graceHours * HOUR_MS,
      rotationPeriodMs: config.ivk.rotationDays === null ? null : config.ivk.rotationDays * DAY_MS,
      maxWraps: config.ivk.maxWraps,
    },
    ...(config.l1Pin !== undefined ? { l1Pin: config.l1Pin } : {}),
    ...(opts.clock !== undefined ? { clock: opts.clock } : {}),
    onTamper: (r) => {
      tamper.inc({ source: r.source });
      log.error({ ivkVersion: r.version, source: r.source }, 'IVK header failed its HMAC: refused');
    },
  });
  metrics.gauge('krypton_core_sealed', '1 while the Core is sealed').set(() => (core.sealStatus().sealed ? 1 : 0));
  metrics.gauge('krypton_core_keys_in_arena', 'keys held in the locked arena').set(() => storeStats().keys);
  addArenaMetrics(metrics);
  return core;
}

/** The Core's Orbital side and the mesh it took, when the config has an `orbital` section. */
async function attachOrbital(
  core: Core,
  config: CoreConfig,
  opts: StartCoreOptions,
  metrics: Registry,
  log: Logger,
): Promise<{ orbital: CoreOrbital | null; ownMesh: Mesh | null }> {
  if (config.orbital === undefined) return { orbital: null, ownMesh: null };
  // Every event the Core sends is signed with its key; what it receives must be signed by a trusted actor of the right
  // role.
  const auth = new OrbitalAuth({
    id: config.orbital.id,
    role: 'core',
    signer: core.signer,
    peers: config.orbital.trust,
    maxFutureSkewMs: config.orbital.maxFutureSkewMs,
    now: () => core.clock.now(),
  });
  if (opts.bus === undefined && config.orbital.mesh === 'memory')
    throw errors.badRequest('core config: orbital.mesh "memory" needs the other actors in this process (krypton dev)');
  const mesh =
    opts.bus !== undefined ? opts.bus.endpoint(auth) : await openMesh(config.orbital.mesh, { auth, logger: log });
  const orbital = await CoreOrbital.attach(core, {
    id: config.orbital.id,
    mesh,
    logger: log,
    manifestSeconds: config.orbital.manifestSeconds,
    sovereignTtlSeconds: config.orbital.sovereignTtlSeconds,
    metrics,
  });
  return { orbital, ownMesh: mesh };
}

/** The HTTP/2 mTLS API: admins and Gateways only; admin refusals audited. */
function startApi(
  core: Core,
  config: CoreConfig,
  metrics: Registry,
  orbital: CoreOrbital | null,
  log: Logger,
): Promise<MtlsServer> {
  const admins = new Set(config.admins);
  const gateways = new Set(Object.keys(config.gateways));
  return createMtlsServer({
    key: readFileSync(config.tls.key),
    cert: readFileSync(config.tls.cert),
    ca: readFileSync(config.tls.ca),
    host: config.host,
    port: config.port,
    routes: coreRoutes(core, { admins, metrics, ...(orbital !== null ? { orbital } : {}) }),
    identity: { allowed: (id) => admins.has(id) || gateways.has(id) },
    logger: log,
    onRefused: auditAdminRefusals(core),
  });
}

/** Runs core.tick() every tickSeconds, never two at once; a failed tick is logged. */
function startTicks(core: Core, tickSeconds: number, log: Logger): NodeJS.Timeout {
  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    core
      .tick()
      .catch((err: unknown) => log.error({ err }, 'tick failed'))
      .finally(() => (ticking = false));
  }, tickSeconds * 1000);
  timer.unref();
  return timer;
}
