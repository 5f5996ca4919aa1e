/**
 * The Key Storage Interface (KSI): the Core's durable store. It holds only
 * wrapped keys and authenticated headers, never key plaintext. Every change
 * of key state happens inside `tx`, which is all-or-nothing: a process
 * killed mid-transaction leaves the store as it was before it.
 *
 * Invariants the schema itself enforces (so that no crash can break them):
 * - at most one ACTIVE IVK version;
 * - at most one ACTIVE L3 version per (tenant, service);
 * - audit rows are append-only and hash-chained (see appendAudit).
 */
import type { KeyStateName } from '../../native/keystore.js';
import type { OrbitalTx } from '../orbital/orbital-tx.js';
import type { Store } from '../store.js';

export type IvkState = 'ACTIVE' | 'GRACE' | 'DEPRECATED' | 'REVOKED';
/** An L3 version's state: the key states (src/native/keystore.ts). */
export type L3State = KeyStateName;
export type TenantState = 'ACTIVE' | 'OFFBOARDED' | 'REVOKED';

/** Times are Unix milliseconds. */
export interface MasterRow {
  /** Key check value: proves a reconstructed MasterKey is the right one. */
  kcv: Buffer;
  threshold: number;
  shares: number;
  createdAt: number;
}

export interface IvkRow {
  version: number;
  state: IvkState;
  createdAt: number;
  /** When GRACE ends (eviction to tier 2); null unless GRACE. */
  graceUntil: number | null;
  hardExpiry: number;
  /** The IVK wrapped under the MasterKey. */
  wrapped: Buffer;
  /** HMAC over the header (version, state, createdAt, graceUntil, hardExpiry) and `wrapped`. */
  mac: Buffer;
  /** Wraps done under this version (rotation after a count). */
  wrapCount: number;
}

export interface TenantRow {
  tenant: string;
  state: TenantState;
  /** L1 provider kind ('soft' | 'pkcs11') and its reference (path or RFC 7512 URI); null when unlinked. */
  l1Provider: string | null;
  l1Ref: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface L2Row {
  tenant: string;
  version: number;
  /** The IVK version of the active binding. */
  ivkVersion: number;
  /** L2 wrapped under that IVK. */
  wrappedActive: Buffer;
  /** L2 wrapped under the tenant's L1 (sovereign binding); null when no L1 is linked. */
  wrappedSovereign: Buffer | null;
  createdAt: number;
}

export interface ScopeRow {
  tenant: string;
  service: string;
  /** Rotation period in seconds; null for on-demand rotation only. */
  rotateAfterSeconds: number | null;
  createdAt: number;
  deleted: boolean;
}

export interface L3Row {
  tenant: string;
  service: string;
  version: number;
  state: L3State;
  /** The L2 version it is wrapped under. */
  l2Version: number;
  wrapped: Buffer;
  createdAt: number;
  updatedAt: number;
}

export interface EventRow {
  /** Monotonic, assigned by the store, starting at 1. */
  epoch: number;
  type: string;
  tenant: string | null;
  service: string | null;
  version: number | null;
  /** JSON text. */
  payload: string;
  createdAt: number;
}

export interface AuditEntry {
  /** Who: a SPIFFE ID, 'admin', 'system', ... */
  actor: string;
  /** What, e.g. 'lease.issue', 'l3.rotate', 'unseal'. */
  action: string;
  /** On what, e.g. 'acme/billing@3'. */
  target: string;
  outcome: 'ok' | 'denied' | 'error';
  /** Extra JSON-able facts; never key bytes or tokens. */
  details?: Record<string, unknown>;
}

export interface AuditRow extends AuditEntry {
  seq: number;
  ts: number;
  /** The previous row's link ('' for the first). */
  prevHash: string;
  /**
   * This row's link over prevHash and its canonical content: keyed (m1:), signed (s1:) or unkeyed (see audit-hash.ts).
   */
  hash: string;
}

/** Reads and writes, all inside one transaction (with the Orbital outbox and handled ids). */
export interface KsiTx extends OrbitalTx {
  getMaster(): Promise<MasterRow | null>;
  putMaster(row: MasterRow): Promise<void>;

  listIvks(): Promise<IvkRow[]>;
  getIvk(version: number): Promise<IvkRow | null>;
  insertIvk(row: IvkRow): Promise<void>;
  /** Replaces the row of row.version. */
  updateIvk(row: IvkRow): Promise<void>;

  getTenant(tenant: string): Promise<TenantRow | null>;
  putTenant(row: TenantRow): Promise<void>;
  listTenants(): Promise<TenantRow[]>;

  /** Ascending by version. */
  listL2(tenant: string): Promise<L2Row[]>;
  insertL2(row: L2Row): Promise<void>;
  /** Replaces the row of (tenant, version). */
  updateL2(row: L2Row): Promise<void>;

  getScope(tenant: string, service: string): Promise<ScopeRow | null>;
  putScope(row: ScopeRow): Promise<void>;
  listScopes(tenant?: string): Promise<ScopeRow[]>;

  /** Ascending by version. */
  listL3(tenant: string, service: string): Promise<L3Row[]>;
  insertL3(row: L3Row): Promise<void>;
  /** Replaces the row of (tenant, service, version). */
  updateL3(row: L3Row): Promise<void>;

  /** Appends and returns the new epoch. */
  appendEvent(event: Omit<EventRow, 'epoch'>): Promise<number>;
  /** Events with epoch > since, ascending, at most limit. */
  eventsSince(since: number, limit: number): Promise<EventRow[]>;
  /** 0 when there is none. */
  lastEpoch(): Promise<number>;

  /** Appends to the hash chain; throws if it cannot (the caller's request must then fail). */
  appendAudit(entry: AuditEntry, ts?: number): Promise<AuditRow>;
  /** Rows with seq > since, ascending, at most limit. */
  auditSince(since: number, limit: number): Promise<AuditRow[]>;
  /** The chain's head: the last row's seq and link (null when empty). */
  lastAudit(): Promise<{ seq: number; hash: string } | null>;
}

/** The KSI is a Store whose transactions are KsiTx. */
export type Ksi = Store<KsiTx>;
