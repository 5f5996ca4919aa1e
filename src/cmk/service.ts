/**
 * A running CMK Server: its store, the mesh, the outbox relay, the
 * consumer of Tenant.Define and State.Manifest, the heartbeat and the
 * admin API, stopped gracefully as one.
 */
import {
  configInt,
  loadActorConfig,
  openActor,
  type ActorConfig,
  type ActorOptions,
  type ActorRuntime,
} from '../mesh/actor-runtime.js';
import { cmkRoutes } from './api.js';
import { startHeartbeat, type Heartbeat } from './heartbeat.js';
import { LinkManager } from './links.js';
import { cmkHandler } from './reconcile.js';
import { CMK_SCHEMA, type CmkTx } from './store.js';

export interface CmkConfig extends ActorConfig {
  /** Sovereign.Heartbeat period (default 30 s): well inside any Core's Strict Sovereign TTL. */
  heartbeatSeconds: number;
}

export const CMK_DEFAULTS = { name: 'cmk', port: 7445, consumes: ['Tenant.Define', 'State.Manifest'] } as const;
export const DEFAULT_HEARTBEAT_SECONDS = 30;

/**
 * Reads and validates the file (its trust's public keys included);
 * KRYPTON_CMK_{ID,HOST,PORT,STORE,MESH,MAX_FUTURE_SKEW_SECONDS,HEARTBEAT_SECONDS} override it.
 */
export function loadCmkConfig(file: string, env: NodeJS.ProcessEnv = process.env): CmkConfig {
  const { config, raw } = loadActorConfig(file, CMK_DEFAULTS, ['heartbeatSeconds'], env);
  const hb = env.KRYPTON_CMK_HEARTBEAT_SECONDS ?? raw.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS;
  return { ...config, heartbeatSeconds: configInt('cmk', 'heartbeatSeconds', hb, 1, 86_400) };
}

export interface RunningCmk {
  links: LinkManager;
  runtime: ActorRuntime<CmkTx>;
  heartbeat: Heartbeat;
  port: number;
  /** Links, heartbeats, outbox, mesh and the last manifest of every Core. */
  status(): Promise<unknown>;
  stop(): Promise<void>;
}

export async function startCmk(config: CmkConfig, opts: ActorOptions = {}): Promise<RunningCmk> {
  const rt = await openActor('cmk', config, CMK_SCHEMA, opts);
  try {
    const links = new LinkManager(rt.store, rt.outbox, config.id, rt.now);
    const counter = rt.metrics.counter('krypton_cmk_heartbeats_total', 'Sovereign.Heartbeat publishes, by outcome', [
      'outcome',
    ]);
    let heartbeat: Heartbeat | null = null;
    rt.onStop(() => heartbeat?.stop());
    const status = async () => {
      const all = await links.links();
      return {
        ...(await rt.orbitalStatus()),
        links: { total: all.length, linked: all.filter((l) => l.state === 'LINKED').length },
        heartbeats: { ...heartbeat?.counts, intervalSeconds: config.heartbeatSeconds },
        manifests: await links.manifests(),
      };
    };
    await rt.consume(CMK_DEFAULTS.consumes, cmkHandler(links, rt.logger, rt.now));
    const port = await rt.listen(cmkRoutes(links, new Set(config.admins), status));
    heartbeat = startHeartbeat({
      mesh: rt.mesh,
      cmk: config.id,
      intervalSeconds: config.heartbeatSeconds,
      logger: rt.logger,
      now: rt.now,
      counter,
    });
    rt.logger.info({ id: config.id, port }, 'cmk listening');
    const hb = heartbeat;
    return { links, runtime: rt, heartbeat: hb, port, status, stop: () => rt.stop() };
  } catch (err) {
    await rt.stop();
    throw err;
  }
}
