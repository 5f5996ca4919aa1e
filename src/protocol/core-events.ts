/**
 * The Core's event stream to Gateways (`GET /v1/events?since=EPOCH`, docs/design.md
 * section 5): revocations and rotations with a monotonic epoch. One
 * definition for both ends of the stream.
 */
export type CoreEventType =
  | 'rotation'
  | 'revocation'
  | 'tenant.revoked'
  | 'tenant.restored'
  | 'scope.deleted'
  | 'serving.paused'
  | 'serving.resumed';

export const CORE_EVENT_TYPES: ReadonlySet<string> = new Set<CoreEventType>([
  'rotation',
  'revocation',
  'tenant.revoked',
  'tenant.restored',
  'scope.deleted',
  'serving.paused',
  'serving.resumed',
]);

export interface CoreEvent {
  epoch: number;
  type: CoreEventType;
  tenant: string | null;
  service: string | null;
  version: number | null;
  createdAt: number;
  details: Record<string, unknown>;
}

/**
 * Control frames of the stream: `caught-up` once the replay after `since`
 * is done, `heartbeat` after a quiet spell; both carry the last epoch.
 */
export interface StreamControlFrame {
  type: 'caught-up' | 'heartbeat';
  epoch: number;
}

/** `since=now`: start at the Core's current epoch, with no replay (a Gateway that holds no lease yet). */
export const SINCE_NOW = 'now';
