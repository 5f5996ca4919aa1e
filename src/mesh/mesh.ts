/**
 * The one interface of Orbital, whatever carries the events (the in-process
 * bus or RabbitMQ). Delivery is at-least-once: a handler may see an event
 * again (a redelivery after a crash, a retry, a duplicate publish from the
 * outbox), so handlers must be idempotent, keyed on the event id.
 *
 * A Mesh belongs to one actor: it signs what that actor publishes and
 * checks what it delivers to that actor with the actor's EventAuth
 * (auth.ts). There is no unsigned way onto it and no unchecked way off it.
 */
import { KryptonError } from '../errors.js';
import { ID_PATTERN } from '../native/ids.js';
import type { EventType, OrbitalEvent } from '../protocol/orbital-events.js';

/** A validated event and its signed wire body. */
export interface SealedEvent {
  event: OrbitalEvent;
  body: Buffer;
}

/** How one actor signs and checks events (OrbitalAuth in auth.ts). */
export interface EventAuth {
  /** The actor's id (the source of what it sends). */
  readonly id: string;
  /** Validates and signs an event this actor sends; throws BAD_REQUEST for one it may not send. */
  seal(event: OrbitalEvent): SealedEvent;
  /** Parses, validates and authenticates a received body; throws (the reason) when it must be dead-lettered. */
  open(body: Buffer | string): OrbitalEvent;
}

/** A transport several actors of one process share (the in-process bus): each gets its own Mesh on it. */
export interface MeshHub {
  endpoint(auth: EventAuth): Mesh;
}

export type Handler = (event: OrbitalEvent) => Promise<void>;

export interface Subscription {
  readonly consumer: string;
  /** Stops delivery to this handler; the consumer's queue keeps its events. */
  cancel(): Promise<void>;
}

export interface MeshStatus {
  connected: boolean;
  transport: 'memory' | 'amqp';
  published: number;
  delivered: number;
  /** Deliveries that failed in the handler and were queued again. */
  retried: number;
  deadLettered: number;
}

export interface Mesh {
  /** Resolves once the transport holds the event durably (AMQP: the broker confirmed it). */
  publish(event: OrbitalEvent): Promise<void>;
  /**
   * Creates the consumer's queue and its bindings without consuming: events
   * of these types published from now on wait for the consumer.
   */
  declare(consumer: string, types: readonly EventType[]): Promise<void>;
  /**
   * Delivers events of these types to handler, one at a time and in order
   * (L1.Revoke ahead of routine events). A handler that throws sees the event
   * again, up to maxAttempts in all; then it goes to the dead letters.
   */
  subscribe(consumer: string, types: readonly EventType[], handler: Handler): Promise<Subscription>;
  close(): Promise<void>;
  status(): MeshStatus;
}

/** Deliveries per event before it is dead-lettered (the first try counts). */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** Consumer names become queue names, so they follow the id pattern. */
export const CONSUMER_NAME = ID_PATTERN;

export function meshDown(message = 'orbital: the mesh is disconnected'): KryptonError {
  return new KryptonError('INTERNAL', message);
}

/** A dead letter as the in-process bus keeps it (AMQP keeps them in a queue). */
export interface DeadLetter {
  /** null when no consumer took it (an unknown or unroutable type). */
  consumer: string | null;
  reason: string;
  body: string;
  at: number;
}
