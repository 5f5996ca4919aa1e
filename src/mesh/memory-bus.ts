/**
 * The in-process transport, the default when the control-plane actors share
 * one process. It keeps the semantics of the AMQP transport so that actors
 * behave alike on both: each actor has its own endpoint (a Mesh) that signs
 * what it publishes and checks every body delivered to it (auth.ts), bodies
 * travel encoded (a handler never shares an object with the publisher or
 * another consumer), each consumer has its own queue that outlives its
 * subscriptions, L1.Revoke jumps the queue, a throwing handler sees the
 * event again up to maxAttempts, and what cannot be delivered (a body that
 * fails validation or authentication included) lands in the dead letters.
 * Nothing here survives the process: durability across restarts is the
 * outbox's job (outbox.ts).
 */
import { pino, type Logger } from 'pino';
import { errors } from '../errors.js';
import { isEventType, isPriority, type EventType, type OrbitalEvent } from '../protocol/orbital-events.js';
import {
  CONSUMER_NAME,
  DEFAULT_MAX_ATTEMPTS,
  meshDown,
  type DeadLetter,
  type EventAuth,
  type Handler,
  type Mesh,
  type MeshHub,
  type MeshStatus,
  type Subscription,
} from './mesh.js';

export interface MemoryBusOptions {
  maxAttempts?: number;
  logger?: Logger;
}

interface Entry {
  body: string;
  attempts: number;
}

interface ConsumerQueue {
  readonly name: string;
  readonly types: Set<EventType>;
  /** Two lanes: the priority lane is always drained first. */
  readonly priority: Entry[];
  readonly routine: Entry[];
  handler: Handler | null;
  /** The subscribed actor's check of each body (its EventAuth). */
  open: ((body: string) => OrbitalEvent) | null;
  pumping: boolean;
}

/** The shared bus: queues and dead letters. Actors reach it through endpoint(auth). */
export class MemoryBus implements MeshHub {
  private readonly queues = new Map<string, ConsumerQueue>();
  private readonly dead: DeadLetter[] = [];
  private readonly maxAttempts: number;
  private readonly logger: Logger;
  private closed = false;
  private readonly counts = { published: 0, delivered: 0, retried: 0, deadLettered: 0 };

  constructor(options: MemoryBusOptions = {}) {
    this.maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS));
    this.logger = options.logger ?? pino({ name: 'orbital-memory' });
  }

  /** An actor's Mesh on this bus: it publishes signed by `auth` and receives only what `auth` accepts. */
  endpoint(auth: EventAuth): Mesh {
    return new MemoryEndpoint(this, auth);
  }

  /**
   * Puts a body on the bus as it is, without signing or validating it, as a
   * foreign or hostile producer with access to the bus would: for tests of
   * the consumer side. It is routed on its `type` field if it has one.
   */
  publishRaw(body: string): void {
    if (this.closed) throw meshDown('orbital: the bus is closed');
    this.route(body);
  }

  /** @internal a sealed body from an endpoint. */
  send(body: string, type: EventType): void {
    if (this.closed) throw meshDown('orbital: the bus is closed');
    this.route(body, type);
    this.counts.published++;
  }

  /** Creates a consumer's queue (and bindings) without consuming, as a broker would. */
  async declare(consumer: string, types: readonly EventType[]): Promise<void> {
    this.queueFor(consumer, types);
  }

  /** @internal */
  attach(consumer: string, types: readonly EventType[], handler: Handler, auth: EventAuth): Subscription {
    if (this.closed) throw meshDown('orbital: the bus is closed');
    const q = this.queueFor(consumer, types);
    // One handler per queue keeps "one at a time, in order" true.
    if (q.handler) throw errors.badRequest(`consumer ${consumer} already has a subscriber`);
    q.handler = handler;
    q.open = (body) => auth.open(body);
    void this.pump(q);
    return {
      consumer,
      cancel: async () => {
        if (q.handler === handler) {
          q.handler = null;
          q.open = null;
        }
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queues.values()) q.handler = null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  status(): MeshStatus {
    return { connected: !this.closed, transport: 'memory', ...this.counts };
  }

  /** The dead letters so far (for tests and metrics). */
  deadLetters(): readonly DeadLetter[] {
    return this.dead;
  }

  /** Events waiting for a consumer (both lanes). */
  depth(consumer: string): number {
    const q = this.queues.get(consumer);
    return q ? q.priority.length + q.routine.length : 0;
  }

  /** Resolves once every subscribed consumer has drained its queue (for tests). */
  async idle(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const busy = () =>
      [...this.queues.values()].some(
        (q) => q.pumping || (q.handler !== null && q.priority.length + q.routine.length > 0),
      );
    while (busy()) {
      if (Date.now() > deadline) throw errors.internal('orbital: the bus did not drain in time');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  private queueFor(consumer: string, types: readonly EventType[]): ConsumerQueue {
    if (!CONSUMER_NAME.test(consumer)) throw errors.badRequest('consumer must match [A-Za-z0-9._~-]{1,64}');
    for (const t of types) if (!isEventType(t)) throw errors.badRequest(`unknown event type ${String(t)}`);
    let q = this.queues.get(consumer);
    if (!q) {
      q = { name: consumer, types: new Set(), priority: [], routine: [], handler: null, open: null, pumping: false };
      this.queues.set(consumer, q);
    }
    // Bindings only grow, as on a broker: a queue keeps the bindings it had.
    for (const t of types) q.types.add(t);
    return q;
  }

  private route(body: string, known?: EventType): void {
    let type: unknown = known;
    if (type === undefined) {
      try {
        type = (JSON.parse(body) as { type?: unknown } | null)?.type;
      } catch {
        type = undefined;
      }
    }
    const targets = isEventType(type) ? [...this.queues.values()].filter((q) => q.types.has(type)) : [];
    if (targets.length === 0) {
      // A broker would drop it; we keep it where an operator can see it.
      this.deadLetter(null, isEventType(type) ? 'no consumer for this type' : 'unknown or missing event type', body);
      return;
    }
    for (const q of targets) {
      (isEventType(type) && isPriority(type) ? q.priority : q.routine).push({ body, attempts: 0 });
      void this.pump(q);
    }
  }

  private async pump(q: ConsumerQueue): Promise<void> {
    if (q.pumping) return;
    q.pumping = true;
    try {
      // Let the publisher's synchronous burst land first, so a revocation
      // published right after routine events still overtakes them.
      await new Promise((resolve) => setImmediate(resolve));
      while (q.handler && q.open && !this.closed) {
        const lane = q.priority.length > 0 ? q.priority : q.routine;
        const entry = lane.shift();
        if (!entry) break;
        let event: OrbitalEvent;
        try {
          // Parsed, validated and authenticated before any handler sees it.
          event = q.open(entry.body);
        } catch (err) {
          this.deadLetter(q.name, (err as Error).message, entry.body);
          continue;
        }
        try {
          await q.handler(event);
          this.counts.delivered++;
        } catch (err) {
          entry.attempts++;
          if (entry.attempts >= this.maxAttempts) {
            this.deadLetter(
              q.name,
              `handler failed ${entry.attempts} times: ${(err as Error)?.message ?? String(err)}`,
              entry.body,
            );
          } else {
            this.counts.retried++;
            this.logger.warn(
              { consumer: q.name, id: event.id, type: event.type, attempt: entry.attempts, err },
              'orbital: handler failed, will retry',
            );
            lane.unshift(entry);
          }
        }
        // Yield between events so one busy consumer cannot starve the loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      q.pumping = false;
    }
  }

  private deadLetter(consumer: string | null, reason: string, body: string): void {
    this.dead.push({ consumer, reason, body, at: Date.now() });
    this.counts.deadLettered++;
    this.logger.error({ consumer, reason, bytes: body.length }, 'orbital: event dead-lettered');
  }
}

/** One actor's Mesh on a MemoryBus. Closing it ends its subscriptions; the bus and its queues stay. */
class MemoryEndpoint implements Mesh {
  private closed = false;
  private readonly subs: Subscription[] = [];

  constructor(
    private readonly bus: MemoryBus,
    private readonly auth: EventAuth,
  ) {}

  async publish(event: OrbitalEvent): Promise<void> {
    if (this.closed) throw meshDown('orbital: the endpoint is closed');
    // Signing validates: a malformed event, or one this actor may not send, is refused at its source.
    const sealed = this.auth.seal(event);
    this.bus.send(sealed.body.toString('utf8'), sealed.event.type);
  }

  declare(consumer: string, types: readonly EventType[]): Promise<void> {
    return this.bus.declare(consumer, types);
  }

  async subscribe(consumer: string, types: readonly EventType[], handler: Handler): Promise<Subscription> {
    if (this.closed) throw meshDown('orbital: the endpoint is closed');
    const sub = this.bus.attach(consumer, types, handler, this.auth);
    this.subs.push(sub);
    return sub;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.subs.splice(0)) await s.cancel();
  }

  status(): MeshStatus {
    return { ...this.bus.status(), connected: !this.closed && !this.bus.isClosed };
  }
}
