/**
 * The local stack for client tests. startDevStack spawns Core and Gateway
 * from the COMPILED dist (its CLI path is relative to its own file), so it
 * is loaded from dist at run time; its types come from src.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DevStack, startDevStack as StartDevStack } from '../../src/dev/stack.js';
import type { Service, spawnService as SpawnService } from '../../src/dev/spawn.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function fromDist<T>(rel: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, 'dist', rel)).href)) as T;
}

export interface TestStack extends DevStack {
  /**
   * Stops the running Gateway process and starts a new one with the same
   * config; returns its port. The port is a fresh one: see reconnect.test.ts
   * for why clients reach it through a proxy.
   */
  restartGateway(): Promise<number>;
  /** Rotates service `app`; returns the new ACTIVE version. */
  rotate(service?: string): Promise<number>;
}

export async function startStack(): Promise<TestStack> {
  const dir = mkdtempSync(join(tmpdir(), 'krypton-client-'));
  const { startDevStack } = await fromDist<{ startDevStack: typeof StartDevStack }>('src/dev/stack.js');
  const { spawnService } = await fromDist<{ spawnService: typeof SpawnService }>('src/dev/spawn.js');
  const stack = await startDevStack({ dir, corePort: 0, gatewayPort: 0 });
  const config = join(dir, 'gateway.json');
  let gateway: Service = stack.gateway;
  return {
    ...stack,
    get gateway() {
      return gateway;
    },
    restartGateway: async () => {
      await gateway.stop();
      gateway = await spawnService(['gateway', '--config', config], 'gateway.listening');
      return gateway.port;
    },
    rotate: async (service = 'app') => {
      const r = await stack.core.client('admin').request<{ version: number }>('POST', `/v1/admin/tenants/demo/services/${service}/rotate`);
      return r.body.version;
    },
    stop: async () => {
      await gateway.stop();
      await stack.core.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
