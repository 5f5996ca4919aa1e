/**
 * Orbital over RabbitMQ (AMQP 0-9-1, amqplib), for actors that run apart.
 *
 * Topology, all durable, under one namespace (default "krypton.orbital"):
 * - a topic exchange `<ns>` that events are published to, routing key = type;
 *   its alternate exchange is the dead-letter exchange, so a body with an
 *   unknown type, or one nobody consumes, is kept rather than dropped;
 * - per consumer a classic durable queue `<ns>.q.<consumer>` bound to the
 *   types it wants, with x-max-priority 9 (L1.Revoke travels at 9, routine
 *   events at 0, so a revocation overtakes a backlog) and the dead-letter
 *   exchange as its x-dead-letter-exchange;
 * - a fanout dead-letter exchange `<ns>.dlx` and its queue `<ns>.dead`.
 *
 * Publishing uses a ConfirmChannel with persistent messages: publish
 * resolves only once the broker has taken responsibility for the event.
 * Consuming uses manual acks, sent after the handler resolves. A handler
 * that throws gets the event again: it is re-sent to its queue with an
 * attempt count in a header (x-krypton-attempts, which survives restarts)
 * and the original acked; at maxAttempts it goes to the dead letters. A
 * body that fails validation or authentication (the actor's EventAuth:
 * signature, signer's role, date) goes straight there, with a log line and
 * the reason in a header, and the consumer carries on. Every publish is
 * signed by the same EventAuth: one AmqpMesh is one actor.
 *
 * When the connection drops, publish rejects (the outbox keeps the event)
 * and a loop reconnects with jittered exponential backoff, declares the
 * topology again and resumes every subscription. Unacked deliveries of the
 * dead connection are redelivered by the broker: at-least-once.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { pino, type Logger } from 'pino';
import { errors } from '../errors.js';
import { isEventType, isPriority, type EventType, type OrbitalEvent } from '../protocol/orbital-events.js';
import {
  CONSUMER_NAME,
  DEFAULT_MAX_ATTEMPTS,
  meshDown,
  type EventAuth,
  type Handler,
  type Mesh,
  type MeshStatus,
  type Subscription,
} from './mesh.js';

export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
export const ATTEMPTS_HEADER = 'x-krypton-attempts';
export const REASON_HEADER = 'x-krypton-reason';
export const CONSUMER_HEADER = 'x-krypton-consumer';
const PRIORITY_HIGH = 9;

export interface AmqpMeshOptions {
  /** The actor this connection belongs to: signs what it publishes, checks what it receives. */
  auth: EventAuth;
  url?: string;
  /** Prefix of every exchange and queue name (default "krypton.orbital"). */
  namespace?: string;
  /** Unacked deliveries the broker may push ahead per consumer (default 16). */
  prefetch?: number;
  maxAttempts?: number;
  /** Reconnect backoff: first delay (default 100 ms), doubling to maxDelayMs (default 5 s), jittered. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** A publish not confirmed within this time rejects (default 10 s). */
  confirmTimeoutMs?: number;
  logger?: Logger;
}

export interface AmqpTopology {
  exchange: string;
  deadLetterExchange: string;
  deadLetterQueue: string;
  queueFor(consumer: string): string;
}

interface Sub {
  readonly consumer: string;
  readonly handler: Handler;
  tag: string | null;
  cancelled: boolean;
  /** Deliveries are chained so the handler sees them one at a time, in order. */
  chain: Promise<void>;
}

interface Link {
  model: ChannelModel;
  pub: ConfirmChannel;
  sub: Channel;
}

export class AmqpMesh implements Mesh {
  readonly topology: AmqpTopology;
  private readonly auth: EventAuth;
  private readonly url: string;
  private readonly prefetch: number;
  private readonly maxAttempts: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly confirmTimeoutMs: number;
  private readonly logger: Logger;
  private link: Link | null = null;
  private readonly declared = new Map<string, Set<EventType>>();
  private readonly subs = new Map<string, Sub>();
  private started = false;
  private closing = false;
  private reconnecting = false;
  private sleeper: { timer: NodeJS.Timeout; wake: () => void } | null = null;
  private waiters: Array<() => void> = [];
  private readonly counts = { published: 0, delivered: 0, retried: 0, deadLettered: 0, reconnects: 0 };

  constructor(options: AmqpMeshOptions) {
    this.auth = options.auth;
    this.url = options.url ?? DEFAULT_AMQP_URL;
    this.topology = amqpTopology(options.namespace);
    this.prefetch = Math.max(1, Math.floor(options.prefetch ?? 16));
    this.maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS));
    this.initialDelayMs = options.initialDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 5_000;
    this.confirmTimeoutMs = options.confirmTimeoutMs ?? 10_000;
    this.logger = options.logger ?? pino({ name: 'orbital-amqp' });
  }

  /**
   * Starts connecting (and keeps retrying in the background) and waits up to
   * timeoutMs for the first connection. An actor that must start while the
   * broker is down can ignore the rejection: the loop goes on.
   */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.closing) throw meshDown('orbital: the mesh is closed');
    if (!this.started) {
      this.started = true;
      void this.reconnect();
    }
    await this.waitConnected(timeoutMs);
  }

  /** Resolves once connected (topology declared, subscriptions resumed). */
  waitConnected(timeoutMs = 10_000): Promise<void> {
    if (this.link) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(meshDown(`orbital: no connection to the broker within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(done);
    });
  }

  async publish(event: OrbitalEvent): Promise<void> {
    // Signing validates: a malformed event, or one this actor may not send, is refused at its source.
    const { event: checked, body } = this.auth.seal(event);
    const link = this.link;
    if (!link) throw meshDown();
    await this.confirmed(link.pub, this.topology.exchange, checked.type, body, {
      persistent: true,
      priority: isPriority(checked.type) ? PRIORITY_HIGH : 0,
      messageId: checked.id,
      type: checked.type,
      contentType: 'application/json',
      timestamp: Math.floor(checked.at / 1000),
    });
    this.counts.published++;
  }

  async declare(consumer: string, types: readonly EventType[]): Promise<void> {
    checkConsumer(consumer, types);
    let set = this.declared.get(consumer);
    if (!set) this.declared.set(consumer, (set = new Set()));
    for (const t of types) set.add(t);
    const link = this.link;
    if (link) await this.declareQueue(link.pub, consumer, set);
  }

  /** While disconnected, the subscription is recorded and starts on (re)connection. */
  async subscribe(consumer: string, types: readonly EventType[], handler: Handler): Promise<Subscription> {
    if (this.closing) throw meshDown('orbital: the mesh is closed');
    if (this.subs.has(consumer)) throw errors.badRequest(`consumer ${consumer} already has a subscriber`);
    await this.declare(consumer, types);
    const sub: Sub = { consumer, handler, tag: null, cancelled: false, chain: Promise.resolve() };
    this.subs.set(consumer, sub);
    const link = this.link;
    if (link) await this.consume(link, sub);
    return {
      consumer,
      cancel: async () => {
        sub.cancelled = true;
        if (this.subs.get(consumer) === sub) this.subs.delete(consumer);
        const tag = sub.tag;
        sub.tag = null;
        if (tag && this.link) await this.link.sub.cancel(tag).catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.sleeper) {
      clearTimeout(this.sleeper.timer);
      this.sleeper.wake();
    }
    for (const sub of this.subs.values()) sub.cancelled = true;
    const link = this.link;
    this.link = null;
    if (link) await link.model.close().catch(() => undefined);
  }

  status(): MeshStatus & { reconnects: number } {
    return { connected: this.link !== null, transport: 'amqp', ...this.counts };
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      for (let attempt = 0; !this.closing && !this.link; attempt++) {
        try {
          await this.connectOnce();
          return;
        } catch (err) {
          const cap = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(attempt, 20));
          // Full jitter within [cap/2, cap]: actors that lost the broker together do not return together.
          const delay = Math.round(cap / 2 + Math.random() * (cap / 2));
          this.logger.warn(
            { err, attempt: attempt + 1, retryInMs: delay },
            'orbital: cannot reach the broker, will retry',
          );
          await this.sleep(delay);
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.sleeper = null;
        resolve();
      };
      this.sleeper = { timer: setTimeout(wake, ms), wake };
    });
  }

  private async connectOnce(): Promise<void> {
    const model = await amqp.connect(this.url, { timeout: 5_000 });
    try {
      // Without an 'error' listener a dropped socket would crash the process.
      model.on('error', (err: unknown) => this.logger.warn({ err }, 'orbital: connection error'));
      model.on('close', () => this.onDrop(model));
      const pub = await model.createConfirmChannel();
      const sub = await model.createChannel();
      for (const ch of [pub, sub]) {
        ch.on('error', (err: unknown) => this.logger.warn({ err }, 'orbital: channel error'));
        // A channel the broker closed (a failed declare, say) leaves the
        // connection up but the mesh deaf: restart the whole link.
        ch.on('close', () => {
          if (this.link?.model === model && !this.closing) model.close().catch(() => undefined);
        });
      }
      await sub.prefetch(this.prefetch);
      await this.declareTopology(pub);
      for (const [consumer, types] of this.declared) await this.declareQueue(pub, consumer, types);
      if (this.closing) throw meshDown('orbital: the mesh is closed');
      const link: Link = { model, pub, sub };
      this.link = link;
      for (const s of this.subs.values()) await this.consume(link, s);
      this.logger.info({ reconnects: this.counts.reconnects }, 'orbital: connected to the broker');
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    } catch (err) {
      if (this.link?.model === model) this.link = null;
      await model.close().catch(() => undefined);
      throw err;
    }
  }

  private onDrop(model: ChannelModel): void {
    if (this.link?.model !== model) return;
    this.link = null;
    for (const s of this.subs.values()) s.tag = null;
    if (this.closing) return;
    this.counts.reconnects++;
    this.logger.warn('orbital: lost the broker, reconnecting');
    void this.reconnect();
  }

  private async declareTopology(ch: Channel): Promise<void> {
    const t = this.topology;
    await ch.assertExchange(t.deadLetterExchange, 'fanout', { durable: true });
    await ch.assertQueue(t.deadLetterQueue, { durable: true });
    await ch.bindQueue(t.deadLetterQueue, t.deadLetterExchange, '');
    await ch.assertExchange(t.exchange, 'topic', { durable: true, alternateExchange: t.deadLetterExchange });
  }

  private async declareQueue(ch: Channel, consumer: string, types: ReadonlySet<EventType>): Promise<void> {
    const queue = this.topology.queueFor(consumer);
    await ch.assertQueue(queue, {
      durable: true,
      maxPriority: PRIORITY_HIGH,
      deadLetterExchange: this.topology.deadLetterExchange,
    });
    for (const type of types) await ch.bindQueue(queue, this.topology.exchange, type);
  }

  private async consume(link: Link, sub: Sub): Promise<void> {
    if (sub.cancelled) return;
    const { consumerTag } = await link.sub.consume(
      this.topology.queueFor(sub.consumer),
      (msg) => {
        if (!msg) {
          // The broker cancelled us (the queue was deleted): restart the link to re-declare it.
          this.logger.warn({ consumer: sub.consumer }, 'orbital: consumer cancelled by the broker');
          if (!this.closing) link.model.close().catch(() => undefined);
          return;
        }
        sub.chain = sub.chain
          .then(() => this.handle(link, sub, msg))
          .catch((err: unknown) => this.logger.error({ err, consumer: sub.consumer }, 'orbital: delivery failed'));
      },
      { noAck: false },
    );
    sub.tag = consumerTag;
  }

  private async handle(link: Link, sub: Sub, msg: ConsumeMessage): Promise<void> {
    // A delivery of a dead link or a cancelled subscription is left alone:
    // the broker redelivers it (it was never acked).
    if (sub.cancelled || this.link !== link) return;
    let event: OrbitalEvent;
    try {
      // Parsed, validated and authenticated before the handler sees it.
      event = this.auth.open(msg.content);
    } catch (err) {
      await this.deadLetter(link, sub.consumer, msg, (err as Error).message);
      return;
    }
    try {
      await sub.handler(event);
    } catch (err) {
      const previous = Number(msg.properties.headers?.[ATTEMPTS_HEADER] ?? 0);
      const attempts = (Number.isSafeInteger(previous) && previous >= 0 ? previous : 0) + 1;
      const why = (err as Error)?.message ?? String(err);
      if (attempts >= this.maxAttempts) {
        await this.deadLetter(link, sub.consumer, msg, `handler failed ${attempts} times: ${why}`);
        return;
      }
      this.logger.warn(
        { consumer: sub.consumer, id: event.id, type: event.type, attempt: attempts, err },
        'orbital: handler failed, will retry',
      );
      try {
        // Re-sent (with the count) before the ack: a crash in between means a duplicate, never a loss.
        await this.confirmed(link.pub, '', this.topology.queueFor(sub.consumer), msg.content, {
          ...retained(msg),
          headers: { ...msg.properties.headers, [ATTEMPTS_HEADER]: attempts },
        });
        link.sub.ack(msg);
        this.counts.retried++;
      } catch {
        safely(() => link.sub.nack(msg, false, true));
      }
      return;
    }
    try {
      link.sub.ack(msg);
      this.counts.delivered++;
    } catch (err) {
      // The channel died after the handler ran: the event comes again, and the idempotent handler ignores it.
      this.logger.warn({ err, id: event.id }, 'orbital: ack failed, the event will be redelivered');
    }
  }

  private async deadLetter(link: Link, consumer: string, msg: ConsumeMessage, reason: string): Promise<void> {
    this.logger.error(
      { consumer, reason, messageId: msg.properties.messageId, bytes: msg.content.length },
      'orbital: event dead-lettered',
    );
    try {
      await this.confirmed(link.pub, this.topology.deadLetterExchange, '', msg.content, {
        ...retained(msg),
        headers: { ...msg.properties.headers, [REASON_HEADER]: reason.slice(0, 512), [CONSUMER_HEADER]: consumer },
      });
      link.sub.ack(msg);
    } catch {
      // The queue's own dead-letter exchange takes it, without the reason.
      safely(() => link.sub.nack(msg, false, false));
    }
    this.counts.deadLettered++;
  }

  private confirmed(
    ch: ConfirmChannel,
    exchange: string,
    key: string,
    body: Buffer,
    options: Options.Publish,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(meshDown('orbital: the broker did not confirm in time')),
        this.confirmTimeoutMs,
      );
      try {
        ch.publish(exchange, key, body, options, (err) => {
          clearTimeout(timer);
          if (err) reject(meshDown(`orbital: the broker refused the event: ${String((err as Error)?.message ?? err)}`));
          else resolve();
        });
      } catch (err) {
        clearTimeout(timer);
        reject(meshDown(`orbital: publish failed: ${(err as Error).message}`));
      }
    });
  }
}

function checkConsumer(consumer: string, types: readonly EventType[]): void {
  if (!CONSUMER_NAME.test(consumer)) throw errors.badRequest('consumer must match [A-Za-z0-9._~-]{1,64}');
  for (const t of types) if (!isEventType(t)) throw errors.badRequest(`unknown event type ${String(t)}`);
}

/** The properties a re-sent message keeps from the original. */
function retained(msg: ConsumeMessage): Options.Publish {
  const p = msg.properties;
  const out: Options.Publish = { persistent: true };
  if (typeof p.priority === 'number') out.priority = p.priority;
  if (typeof p.messageId === 'string') out.messageId = p.messageId;
  if (typeof p.type === 'string') out.type = p.type;
  if (typeof p.contentType === 'string') out.contentType = p.contentType;
  if (typeof p.timestamp === 'number') out.timestamp = p.timestamp;
  return out;
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // The channel is gone; the broker redelivers what was not acked.
  }
}

/**
 * Deletes what meshes of a namespace declared (the consumers' queues, the
 * dead letters, both exchanges): benchmarks and test clusters share the
 * broker and must not leave their topology behind.
 */
export function amqpTopology(namespace = 'krypton.orbital'): AmqpTopology {
  return {
    exchange: namespace,
    deadLetterExchange: `${namespace}.dlx`,
    deadLetterQueue: `${namespace}.dead`,
    queueFor: (consumer) => `${namespace}.q.${consumer}`,
  };
}

export async function deleteAmqpNamespace(url: string, namespace: string, consumers: readonly string[]): Promise<void> {
  const t = amqpTopology(namespace);
  const c = await amqp.connect(url, { timeout: 5_000 });
  try {
    const ch = await c.createChannel();
    for (const name of consumers) await ch.deleteQueue(t.queueFor(name));
    await ch.deleteQueue(t.deadLetterQueue);
    await ch.deleteExchange(t.exchange);
    await ch.deleteExchange(t.deadLetterExchange);
  } finally {
    await c.close().catch(() => undefined);
  }
}
