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
  /** An in-process bus shared with the other actors of this process: the Core takes its own endpoint on it (the bus is not closed on stop). */
  bus?: MeshHub;
}

export async function startCore(config: CoreConfig, opts: StartCoreOptions = {}): Promise<RunningCore> {
  const log = opts.logger ?? pino({ name: 'krypton-core' });
  prepareStateDir(config);
  const metrics = new Registry();
  const tamper = metrics.counter('krypton_core_tamper_total', 'IVK headers that failed their HMAC (refused)', ['source']);
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

  let orbital: CoreOrbital | null = null;
  let ownMesh: Mesh | null = null;
  if (config.orbital !== undefined) {
    // Every event the Core sends is signed with its key; what it receives must be signed by a trusted actor of the right role.
    const auth = new OrbitalAuth({
      id: config.orbital.id,
      role: 'core',
      signer: core.signer,
      peers: config.orbital.trust,
      maxFutureSkewMs: config.orbital.maxFutureSkewMs,
      now: () => core.clock.now(),
    });
    if (opts.bus === undefined && config.orbital.mesh === 'memory') throw errors.badRequest('core config: orbital.mesh "memory" needs the other actors in this process (krypton dev)');
    const mesh = (ownMesh = opts.bus !== undefined ? opts.bus.endpoint(auth) : await openMesh(config.orbital.mesh, { auth, logger: log }));
    orbital = await CoreOrbital.attach(core, {
      id: config.orbital.id,
      mesh,
      logger: log,
      manifestSeconds: config.orbital.manifestSeconds,
      sovereignTtlSeconds: config.orbital.sovereignTtlSeconds,
      metrics,
    });
  }

  const admins = new Set(config.admins);
  const gateways = new Set(Object.keys(config.gateways));
  const server = await createMtlsServer({
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
  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    core
      .tick()
      .catch((err: unknown) => log.error({ err }, 'tick failed'))
      .finally(() => (ticking = false));
  }, config.tickSeconds * 1000);
  timer.unref();

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
