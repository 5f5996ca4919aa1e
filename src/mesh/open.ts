/**
 * Opens the mesh an actor's config names: `memory` (the in-process bus; only
 * useful when the caller shares it with the other actors of its process) or
 * an `amqp://` URL. A `namespace` query parameter names the exchanges and
 * queues (default "krypton.orbital"), so several deployments (or test runs)
 * can share one broker.
 */
import type { Logger } from 'pino';
import { errors } from '../errors.js';
import { AmqpMesh } from './amqp.js';
import { MemoryBus } from './memory-bus.js';
import type { EventAuth, Mesh } from './mesh.js';

export interface OpenMeshOptions {
  /** The actor the mesh belongs to: it signs what the actor sends and checks what it receives. */
  auth: EventAuth;
  logger?: Logger;
  /** How long to wait for the broker at start; the actor starts anyway (default 5 s). */
  connectTimeoutMs?: number;
}

export function isMeshUrl(url: string): boolean {
  return url === 'memory' || /^amqps?:\/\//i.test(url);
}

export async function openMesh(url: string, opts: OpenMeshOptions): Promise<Mesh> {
  if (url === 'memory')
    return new MemoryBus(opts.logger !== undefined ? { logger: opts.logger } : {}).endpoint(opts.auth);
  if (!/^amqps?:\/\//i.test(url)) throw errors.badRequest('mesh must be "memory" or an amqp:// URL');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw errors.badRequest('mesh URL is not a valid amqp:// URL');
  }
  const namespace = parsed.searchParams.get('namespace') ?? undefined;
  parsed.searchParams.delete('namespace');
  if (namespace !== undefined && !/^[A-Za-z0-9._-]{1,100}$/.test(namespace))
    throw errors.badRequest('mesh namespace must match [A-Za-z0-9._-]{1,100}');
  const mesh = new AmqpMesh({
    auth: opts.auth,
    url: parsed.toString(),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
  });
  // An actor keeps serving while the mesh is down (ACD-402): a broker that
  // is not there yet is logged, and the mesh keeps reconnecting.
  await mesh.start(opts.connectTimeoutMs ?? 5_000).catch((err: unknown) => {
    opts.logger?.warn(
      { err: (err as Error).message },
      'orbital: the broker is not reachable yet; reconnecting in the background',
    );
  });
  return mesh;
}
