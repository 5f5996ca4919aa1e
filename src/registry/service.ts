/**
 * A running Registry: its store, the mesh, the outbox relay, the manifest
 * consumer and the admin API, stopped gracefully as one.
 */
import {
  loadActorConfig,
  openActor,
  type ActorConfig,
  type ActorOptions,
  type ActorRuntime,
} from '../mesh/actor-runtime.js';
import { registryRoutes } from './api.js';
import { manifestHandler } from './reconcile.js';
import { TenantRegistry } from './registry.js';
import { REGISTRY_SCHEMA, type RegistryTx } from './store.js';

export type RegistryConfig = ActorConfig;

export const REGISTRY_DEFAULTS = { name: 'registry', port: 7444, consumes: ['State.Manifest'] } as const;

/**
 * Reads and validates the file (its trust's public keys included);
 * KRYPTON_REGISTRY_{ID,HOST,PORT,STORE,MESH,MAX_FUTURE_SKEW_SECONDS} override it.
 */
export function loadRegistryConfig(file: string, env: NodeJS.ProcessEnv = process.env): RegistryConfig {
  return loadActorConfig(file, REGISTRY_DEFAULTS, [], env).config;
}

export interface RunningRegistry {
  registry: TenantRegistry;
  runtime: ActorRuntime<RegistryTx>;
  port: number;
  /** Outbox, mesh and the last manifest of every Core. */
  status(): Promise<unknown>;
  stop(): Promise<void>;
}

export async function startRegistry(config: RegistryConfig, opts: ActorOptions = {}): Promise<RunningRegistry> {
  const rt = await openActor('registry', config, REGISTRY_SCHEMA, opts);
  try {
    const registry = new TenantRegistry(rt.store, rt.outbox, config.id, rt.now);
    const status = async () => ({ ...(await rt.orbitalStatus()), manifests: await registry.manifests() });
    await rt.consume(REGISTRY_DEFAULTS.consumes, manifestHandler(registry, rt.logger, rt.now));
    const port = await rt.listen(registryRoutes(registry, new Set(config.admins), status));
    rt.logger.info({ id: config.id, port }, 'registry listening');
    return { registry, runtime: rt, port, status, stop: () => rt.stop() };
  } catch (err) {
    await rt.stop();
    throw err;
  }
}
