/**
 * Revocation and rotation events with a monotonic epoch. Events are written
 * in the same KSI transaction as the state change they report, and only
 * published to live subscribers once that transaction has committed; a
 * reconnecting subscriber catches up from the KSI by epoch.
 */
import { EventEmitter } from 'node:events';
import type { CoreEvent, CoreEventType } from '../protocol/core-events.js';
import type { EventRow, Ksi, KsiTx } from '../storage/ksi/ksi.js';

export type { CoreEvent, CoreEventType } from '../protocol/core-events.js';

export function toCoreEvent(row: EventRow): CoreEvent {
  return {
    epoch: row.epoch,
    type: row.type as CoreEventType,
    tenant: row.tenant,
    service: row.service,
    version: row.version,
    createdAt: row.createdAt,
    details: JSON.parse(row.payload) as Record<string, unknown>,
  };
}

/** How long a read of the last epoch is reused (another Core may share the KSI). */
const EPOCH_CACHE_MS = 1000;

export class EventLog {
  private readonly live = new EventEmitter();
  private epochCache: { epoch: number; at: number } | null = null;

  constructor(private readonly ksi: Ksi) {
    this.live.setMaxListeners(0);
  }

  /** Appends inside the caller's transaction; publish the result after commit. */
  async append(
    tx: KsiTx,
    e: {
      type: CoreEventType;
      tenant?: string;
      service?: string;
      version?: number;
      details?: Record<string, unknown>;
      at: number;
    },
  ): Promise<CoreEvent> {
    const row = {
      type: e.type,
      tenant: e.tenant ?? null,
      service: e.service ?? null,
      version: e.version ?? null,
      payload: JSON.stringify(e.details ?? {}),
      createdAt: e.at,
    };
    const epoch = await tx.appendEvent(row);
    return toCoreEvent({ ...row, epoch });
  }

  publish(events: CoreEvent[]): void {
    for (const e of events) {
      if (this.epochCache !== null && e.epoch > this.epochCache.epoch) this.epochCache.epoch = e.epoch;
      this.live.emit('event', e);
    }
  }

  async since(epoch: number, limit = 1000): Promise<CoreEvent[]> {
    return (await this.ksi.read((tx) => tx.eventsSince(epoch, limit))).map(toCoreEvent);
  }

  async lastEpoch(): Promise<number> {
    const now = Date.now();
    if (this.epochCache !== null && now - this.epochCache.at < EPOCH_CACHE_MS) return this.epochCache.epoch;
    const epoch = await this.ksi.read((tx) => tx.lastEpoch());
    this.epochCache = { epoch, at: now };
    return epoch;
  }

  subscribe(fn: (e: CoreEvent) => void): () => void {
    this.live.on('event', fn);
    return () => this.live.off('event', fn);
  }
}
