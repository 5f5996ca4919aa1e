/**
 * Plumbing for benches over Orbital on RabbitMQ (the event-throughput bench
 * and, later, revocation propagation): a reachability probe, a publisher and
 * a consumer mesh on two connections under a throw-away namespace, and a
 * clock that times events from publish to handler without touching them.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import amqp from 'amqplib';
import { pino } from 'pino';
import { AmqpMesh, DEFAULT_AMQP_URL, deleteAmqpNamespace } from '../../src/mesh/amqp.js';
import { OrbitalAuth } from '../../src/mesh/auth.js';
import { SigningKey } from '../../src/native/signing.js';

/** The broker the benches use: KRYPTON_BENCH_AMQP_URL, else the dev default. */
export function benchAmqpUrl(): string {
  return process.env['KRYPTON_BENCH_AMQP_URL'] || DEFAULT_AMQP_URL;
}

/** The URL without credentials, for printing and for the saved JSON. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable url)';
  }
}

/** null when a connection opens, else why not (a bench skips instead of failing). */
export async function amqpUnreachable(url: string, timeoutMs = 2_000): Promise<string | null> {
  try {
    const c = await amqp.connect(url, { timeout: timeoutMs });
    await c.close();
    return null;
  } catch (err) {
    return (err as Error).message || String(err);
  }
}

/** A throw-away signing key for a bench actor (the seed is wiped once in the arena). */
function benchKey(): SigningKey {
  const seed = randomBytes(32);
  try {
    return SigningKey.fromSeed(seed);
  } finally {
    seed.fill(0);
  }
}

/**
 * Bench actors that sign and check events as production does: `publisher`
 * (the Registry, id "registry") and `consumer` (a Core, id "core"), each
 * trusting the other's throw-away key.
 */
export function benchAuths(): { publisher: OrbitalAuth; consumer: OrbitalAuth; destroy(): void } {
  const keys = { registry: benchKey(), core: benchKey() };
  const peers = (Object.keys(keys) as Array<'registry' | 'core'>).map((id) => ({
    id,
    role: id,
    publicKey: keys[id].publicKey,
  }));
  return {
    publisher: new OrbitalAuth({ id: 'registry', role: 'registry', signer: keys.registry, peers }),
    consumer: new OrbitalAuth({ id: 'core', role: 'core', signer: keys.core, peers }),
    destroy: () => {
      keys.registry.destroy();
      keys.core.destroy();
    },
  };
}

export interface MeshPair {
  namespace: string;
  /** Publishes only (signs as the Registry). */
  publisher: AmqpMesh;
  /** Subscribes only (checks as a Core): its own connection, as a separate actor would have. */
  consumer: AmqpMesh;
  /** Closes both meshes, then deletes every queue and exchange of the namespace. */
  close(): Promise<void>;
}

/**
 * Two started meshes on one fresh namespace. `consumers` names the
 * consumer queues the bench will subscribe, so close() can delete them.
 * Logs go to stderr at warn level: the bench's stdout stays its tables.
 */
export async function openMeshPair(o: {
  url: string;
  consumers: readonly string[];
  prefetch?: number;
}): Promise<MeshPair> {
  const namespace = `krypton.bench.${process.pid}.${randomBytes(3).toString('hex')}`;
  const logger = pino({ name: 'orbital-bench', level: 'warn' }, pino.destination(2));
  const common = { url: o.url, namespace, logger, confirmTimeoutMs: 10_000 };
  const auths = benchAuths();
  const publisher = new AmqpMesh({ ...common, auth: auths.publisher });
  const consumer = new AmqpMesh({ ...common, auth: auths.consumer, ...(o.prefetch ? { prefetch: o.prefetch } : {}) });
  const close = async () => {
    await Promise.all([publisher.close(), consumer.close()]);
    auths.destroy();
    await deleteAmqpNamespace(o.url, namespace, o.consumers);
  };
  try {
    await publisher.start(5_000);
    await consumer.start(5_000);
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  return { namespace, publisher, consumer, close };
}

/**
 * Send times in a side map keyed by event id, never in the event: the body
 * stays what production sends, and the clock of one process times both ends.
 */
export class SendClock {
  private readonly sent = new Map<string, number>();
  /** End-to-end ms (mark -> arrive), in arrival order. */
  readonly samples: number[] = [];
  /** performance.now() of the last first-arrival. */
  lastArrival = 0;

  /** Call right before publish(event). */
  mark(id: string): void {
    this.sent.set(id, performance.now());
  }

  /** Call first thing in the handler. A redelivery or an unknown id (an earlier run) is ignored. */
  arrive(id: string): number | undefined {
    const t0 = this.sent.get(id);
    if (t0 === undefined) return undefined;
    const now = performance.now();
    this.sent.delete(id);
    this.samples.push(now - t0);
    this.lastArrival = now;
    return now - t0;
  }

  /** A publish that rejected will not arrive: stop waiting for it. */
  forget(id: string): void {
    this.sent.delete(id);
  }

  /** Marked and not arrived yet. */
  get pending(): number {
    return this.sent.size;
  }

  /** Starts a new run: earlier marks and samples are dropped. */
  reset(): void {
    this.sent.clear();
    this.samples.length = 0;
    this.lastArrival = 0;
  }

  /** Resolves once nothing is pending or timeoutMs passed; returns how many never arrived. */
  async drain(timeoutMs = 10_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (this.sent.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return this.sent.size;
  }
}
