/**
 * Revocation and rotation events with a monotonic epoch. Events are written
 * in the same KSI transaction as the state change they report, and only
 * published to live subscribers once that transaction has committed; a
 * reconnecting subscriber catches up from the KSI by epoch.
 */
import { EventEmitter } from 'node:events';
import type { EventRow, Ksi, KsiTx } from '../storage/ksi.js';

export type CoreEventType = 'rotation' | 'revocation' | 'tenant.revoked' | 'scope.deleted';

export interface CoreEvent {
  epoch: number;
  type: CoreEventType;
  tenant: string | null;
  service: string | null;
  version: number | null;
  createdAt: number;
  details: Record<string, unknown>;
}

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

export class EventLog {
  private readonly live = new EventEmitter();

  constructor(private readonly ksi: Ksi) {
    this.live.setMaxListeners(0);
  }

  /** Appends inside the caller's transaction; publish the result after commit. */
  async append(
    tx: KsiTx,
    e: { type: CoreEventType; tenant?: string; service?: string; version?: number; details?: Record<string, unknown>; at: number },
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
    for (const e of events) this.live.emit('event', e);
  }

  async since(epoch: number, limit = 1000): Promise<CoreEvent[]> {
    return (await this.ksi.read((tx) => tx.eventsSince(epoch, limit))).map(toCoreEvent);
  }

  lastEpoch(): Promise<number> {
    return this.ksi.read((tx) => tx.lastEpoch());
  }

  subscribe(fn: (e: CoreEvent) => void): () => void {
    this.live.on('event', fn);
    return () => this.live.off('event', fn);
  }
}
