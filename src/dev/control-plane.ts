/**
 * The control plane of `krypton dev` in one process (docs/design.md section 1):
 * the Core, the Registry and the CMK Server on one in-process Orbital bus.
 * Each keeps its own store and its own admin API (Core :7443, Registry
 * :7444, CMK Server :7445); only the bus is shared, and each actor has its
 * own endpoint on it: it signs with its own key and accepts only what its
 * own trust config allows, as it would on RabbitMQ.
 */
import { dirname, join } from 'node:path';
import pino from 'pino';
import { loadCmkConfig, startCmk, type RunningCmk } from '../cmk/service.js';
import { loadCoreConfig } from '../core/config.js';
import { startCore, type RunningCore } from '../core/service.js';
import { trustedPeer } from '../mesh/auth.js';
import { MemoryBus } from '../mesh/memory-bus.js';
import { DEFAULT_MAX_FUTURE_SKEW_MS } from '../protocol/orbital-events.js';
import { loadRegistryConfig, startRegistry, type RunningRegistry } from '../registry/service.js';

export interface ControlPlaneFiles {
  core: string;
  registry: string;
  cmk: string;
}

export interface ControlPlane {
  core: RunningCore;
  registry: RunningRegistry;
  cmk: RunningCmk;
  bus: MemoryBus;
  stop(): Promise<void>;
}

export async function startControlPlane(files: ControlPlaneFiles): Promise<ControlPlane> {
  const logger = pino({ name: 'krypton-control-plane' });
  const coreConfig = loadCoreConfig(files.core);
  const registryConfig = { ...loadRegistryConfig(files.registry), mesh: 'memory' };
  const cmkConfig = { ...loadCmkConfig(files.cmk), mesh: 'memory' };
  // A dev folder made before Orbital has no `orbital` section: on the shared bus it needs one,
  // trusting the Registry and the CMK Server by the signing keys of the PKI beside the Core's.
  const pki = dirname(coreConfig.tls.key);
  coreConfig.orbital ??= {
    mesh: 'memory',
    id: 'core',
    manifestSeconds: 60,
    sovereignTtlSeconds: 24 * 3600,
    trust: [
      trustedPeer(registryConfig.id, 'registry', join(pki, 'registry-sign.pub')),
      trustedPeer(cmkConfig.id, 'cmk', join(pki, 'cmk-sign.pub')),
    ],
    maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS,
  };
  if (coreConfig.orbital.mesh !== 'memory')
    throw new Error('the control plane runs its actors on the in-process bus: set orbital.mesh to "memory"');

  const bus = new MemoryBus({ logger });
  const started: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of started.reverse())
      await stop().catch((err: unknown) => logger.error({ err }, 'control plane: stop failed'));
    started.length = 0;
    await bus.close();
  };
  try {
    const core = await startCore(coreConfig, { bus, logger: logger.child({ actor: 'core' }) });
    started.push(() => core.stop());
    const registry = await startRegistry(registryConfig, { bus, logger: logger.child({ actor: 'registry' }) });
    started.push(() => registry.stop());
    const cmk = await startCmk(cmkConfig, { bus, logger: logger.child({ actor: 'cmk' }) });
    started.push(() => cmk.stop());
    return { core, registry, cmk, bus, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
