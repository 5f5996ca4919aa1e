/**
 * What the Orbital actors that hold intent or sovereignty (the Registry and
 * the CMK Server) share: their config, their own store with the Orbital
 * tables, the mesh, the outbox relay, idempotent consumption, the mTLS
 * admin server with metrics and health, and one graceful stop. Each actor
 * adds only its state, its rules and its routes.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { errors, KryptonError } from '../errors.js';
import { createMtlsServer, RawBody, type MtlsServer, type Route } from '../http/index.js';
import { PROMETHEUS_CONTENT_TYPE, Registry as Metrics, type Counter, type Gauge } from '../metrics/registry.js';
import type { OrbitalTx } from '../storage/orbital/orbital-tx.js';
import { SqlOrbitalTx } from '../storage/orbital/sql-orbital-tx.js';
import { num, str, type SqlRecord } from '../storage/sql-base.js';
import { openStore } from '../storage/open.js';
import type { Store, StoreSchema } from '../storage/store.js';
import { SigningKey } from '../native/signing.js';
import type { ActorRole, AuditHead, EventType } from '../protocol/orbital-events.js';
import { futureSkewMs, OrbitalAuth, parseTrust, pathFrom, requireSenders, type TrustedPeer } from './auth.js';
import { handleOnce, type TxHandler } from './idempotent.js';
import { CONSUMER_NAME, type Mesh, type MeshHub, type Subscription } from './mesh.js';
import { isMeshUrl, openMesh } from './open.js';
import { Outbox } from './outbox.js';
import { startRetention } from './retention.js';
import { hostField, refuseUnknownFields } from '../config/fields.js';
import {
  parseHealthEndpoint,
  PROBE_PATHS,
  startHealthListener,
  type HealthEndpoint,
  type HealthListener,
} from '../http/health-listener.js';

export interface ActorConfig {
  /** Event source and consumer (queue) name. */
  id: string;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** sqlite:<path>, a path, or postgres://...?schema=name */
  store: string;
  /** 'memory' or an amqp:// URL (with ?namespace=...). */
  mesh: string;
  tls: { cert: string; key: string; ca: string };
  /** SPIFFE IDs allowed on the admin API. */
  admins: string[];
  /**
   * The actor's Ed25519 signing key (PKCS#8 PEM, `<name>-sign.key` of
   * `krypton pki init`; default: beside tls.key). Every event it sends is
   * signed with it; loaded into the addon's arena at start.
   */
  signingKey: string;
  /** The actors whose events this one accepts: id, role and pinned public key (config field `trust`). */
  trust: TrustedPeer[];
  /** Events dated further ahead than this are dead-lettered (config field maxFutureSkewSeconds, default 300). */
  maxFutureSkewMs: number;
  /** The unauthenticated health port (/healthz, /readyz only) for probes; env KRYPTON_<NAME>_HEALTH_PORT. */
  health?: HealthEndpoint;
}

export interface ActorDefaults {
  /** 'registry' or 'cmk': names messages, env variables, metrics and default files; also the actor's role. */
  name: Extract<ActorRole, 'registry' | 'cmk'>;
  port: number;
  /** The event types it consumes: its trust must name a sender for each. */
  consumes: readonly EventType[];
}

export const DEFAULT_ADMINS = ['spiffe://krypton.dev/admin'];
export const DEFAULT_MESH = 'amqp://guest:guest@127.0.0.1:5672';
const BASE_FIELDS = [
  'id',
  'host',
  'port',
  'store',
  'mesh',
  'tls',
  'admins',
  'signingKey',
  'trust',
  'maxFutureSkewSeconds',
  'health',
];

export function configError(name: string, message: string): KryptonError {
  return errors.badRequest(`${name} config: ${message}`);
}

/** An integer field (a string from the environment counts), or a message naming it. */
export function configInt(name: string, field: string, v: unknown, min: number, max: number): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    throw configError(name, `${field} must be an integer from ${min} to ${max}`);
  return n;
}

/**
 * Reads an actor's JSON config: relative paths resolve against the file's
 * folder, KRYPTON_<NAME>_{ID,HOST,PORT,STORE,MESH,MAX_FUTURE_SKEW_SECONDS} override the file.
 * Returns the validated base config and the raw object, so the actor can
 * read its own fields (listed in `extraFields`; any other field is refused,
 * since a misspelt one would otherwise be silently ignored).
 */
export function loadActorConfig(
  file: string,
  defaults: ActorDefaults,
  extraFields: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): { config: ActorConfig; raw: Record<string, unknown> } {
  const { name } = defaults;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw configError(name, `cannot read ${file}: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw configError(name, `${file} must hold a JSON object`);
  const o = raw as Record<string, unknown>;
  const fail = (message: string): never => {
    throw configError(name, message);
  };
  refuseUnknownFields(o, [...BASE_FIELDS, ...extraFields], '', fail);
  const envOf = (key: string) => env[`KRYPTON_${name.toUpperCase()}_${key}`];
  const base = dirname(resolve(file));
  const path = (p: unknown, field: string): string => {
    if (typeof p !== 'string' || p === '') throw configError(name, `${field} must be a path`);
    return isAbsolute(p) ? p : join(base, p);
  };

  const id = envOf('ID') ?? o.id ?? name;
  if (typeof id !== 'string' || !CONSUMER_NAME.test(id)) throw configError(name, 'id must match [A-Za-z0-9._~-]{1,64}');
  const host = hostField(envOf('HOST') ?? o.host, 'host', '127.0.0.1', (m) => {
    throw configError(name, m);
  });
  const port = configInt(name, 'port', envOf('PORT') ?? o.port ?? defaults.port, 0, 65535);
  const store = storeUrl(name, envOf('STORE') ?? o.store ?? `sqlite:${name}.db`, path);
  const mesh = envOf('MESH') ?? o.mesh ?? DEFAULT_MESH;
  if (typeof mesh !== 'string' || !isMeshUrl(mesh)) throw configError(name, 'mesh must be "memory" or an amqp:// URL');
  const tls = o.tls ?? {};
  if (typeof tls !== 'object' || tls === null) throw configError(name, 'tls must be an object {cert, key, ca}');
  const t = tls as Record<string, unknown>;
  const admins = o.admins ?? DEFAULT_ADMINS;
  if (
    !Array.isArray(admins) ||
    admins.length === 0 ||
    !admins.every((a) => typeof a === 'string' && a.startsWith('spiffe://'))
  ) {
    throw configError(name, 'admins must be a non-empty list of spiffe:// IDs');
  }
  const tlsKey = path(t.key ?? `pki/${name}-key.pem`, 'tls.key');
  const trust = parseTrust(o.trust, 'trust', pathFrom(base), fail);
  requireSenders(trust, defaults.consumes, 'trust', fail);
  return {
    config: {
      id,
      host,
      port,
      store,
      mesh,
      // The dev PKI's layout, next to the config, unless told otherwise.
      tls: {
        cert: path(t.cert ?? `pki/${name}.pem`, 'tls.cert'),
        key: tlsKey,
        ca: path(t.ca ?? 'pki/ca.pem', 'tls.ca'),
      },
      admins: admins as string[],
      signingKey:
        o.signingKey === undefined ? join(dirname(tlsKey), `${name}-sign.key`) : path(o.signingKey, 'signingKey'),
      trust,
      maxFutureSkewMs: futureSkewMs(
        envOf('MAX_FUTURE_SKEW_SECONDS') ?? o.maxFutureSkewSeconds,
        'maxFutureSkewSeconds',
        fail,
      ),
      ...healthOf(parseHealthEndpoint(o.health, envOf('HEALTH_PORT'), fail)),
    },
    raw: o,
  };
}

function healthOf(health: HealthEndpoint | undefined): { health?: HealthEndpoint } {
  return health === undefined ? {} : { health };
}

function storeUrl(name: string, v: unknown, path: (p: unknown, field: string) => string): string {
  if (typeof v !== 'string' || v === '')
    throw configError(name, 'store must be sqlite:<path>, a path or a postgres:// URL');
  if (/^postgres(ql)?:\/\//i.test(v) || v === 'sqlite::memory:') return v;
  if (v.startsWith('sqlite:')) return `sqlite:${path(v.slice(7), 'store')}`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v))
    throw configError(name, 'store must be sqlite:<path>, a path or a postgres:// URL');
  // A bare path is SQLite; written out so the runtime knows which folder to create.
  return `sqlite:${path(v, 'store')}`;
}

export interface ActorOptions {
  /**
   * An in-process bus shared with other actors: the actor takes its own endpoint on it (the bus is not closed on stop).
   */
  bus?: MeshHub;
  logger?: Logger;
  now?: () => number;
}

export type HandleOutcome = 'applied' | 'duplicate' | 'error';

export interface ActorRuntime<Tx extends OrbitalTx> {
  readonly name: string;
  readonly config: ActorConfig;
  readonly store: Store<Tx>;
  readonly mesh: Mesh;
  readonly outbox: Outbox<Tx>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly now: () => number;
  /** Consumes these types as config.id, each event applied once (handleOnce) and counted. */
  consume(types: readonly EventType[], apply: TxHandler<Tx>): Promise<void>;
  /** Starts the admin server with these routes plus /metrics, /healthz and /readyz; resolves to its port. */
  listen(routes: Route[]): Promise<number>;
  /** Outbox and mesh state for a status reply. */
  orbitalStatus(): Promise<{ id: string; outboxPending: number; mesh: ReturnType<Mesh['status']> }>;
  /** Registers work to undo first on stop (timers). */
  onStop(fn: () => void | Promise<void>): void;
  stop(): Promise<void>;
}

/**
 * Opens the store and the mesh and starts the outbox relay. The caller
 * builds its domain on top, then calls consume() and listen(); if that
 * fails it must call stop(), which undoes whatever had started.
 */
export async function openActor<Tx extends OrbitalTx>(
  name: ActorDefaults['name'],
  config: ActorConfig,
  schema: StoreSchema<Tx>,
  opts: ActorOptions = {},
): Promise<ActorRuntime<Tx>> {
  const logger = opts.logger ?? pino({ name: `krypton-${name}` });
  const now = opts.now ?? Date.now;
  const sqliteFile = config.store.startsWith('sqlite:')
    ? config.store.slice(7)
    : /^[a-z][a-z0-9+.-]*:\/\//i.test(config.store)
      ? null
      : config.store;
  if (sqliteFile !== null && sqliteFile !== ':memory:')
    mkdirSync(dirname(resolve(sqliteFile)), { recursive: true, mode: 0o700 });
  const signer = SigningKey.load(config.signingKey);
  let store: Store<Tx>;
  try {
    store = await openStore(config.store, schema);
  } catch (err) {
    signer.destroy();
    throw err;
  }
  const auth = new OrbitalAuth({
    id: config.id,
    role: name,
    signer,
    peers: config.trust,
    maxFutureSkewMs: config.maxFutureSkewMs,
    now,
  });
  let mesh: Mesh;
  try {
    mesh = opts.bus !== undefined ? opts.bus.endpoint(auth) : await openMesh(config.mesh, { auth, logger });
  } catch (err) {
    await store.close();
    signer.destroy();
    throw err;
  }
  const outbox = new Outbox(store, { mesh, logger, now });
  outbox.start();
  return new Actor(name, config, { store, mesh, outbox, signer, logger, now });
}

/** What openActor opened, handed to the runtime that owns it from then on. */
interface ActorParts<Tx extends OrbitalTx> {
  store: Store<Tx>;
  mesh: Mesh;
  outbox: Outbox<Tx>;
  signer: SigningKey;
  logger: Logger;
  now: () => number;
}

/** A running actor: its metrics, retention, subscriptions, admin server and the one stop that undoes them. */
class Actor<Tx extends OrbitalTx> implements ActorRuntime<Tx> {
  readonly store: Store<Tx>;
  readonly mesh: Mesh;
  readonly outbox: Outbox<Tx>;
  readonly metrics = new Metrics();
  readonly logger: Logger;
  readonly now: () => number;
  private readonly signer: SigningKey;
  private readonly handled: Counter;
  private readonly pendingGauge: Gauge;
  private readonly stopRetention: () => void;
  private readonly subs: Subscription[] = [];
  private readonly stopHooks: Array<() => void | Promise<void>> = [];
  private server: MtlsServer | null = null;
  private health: HealthListener | null = null;
  private stopped = false;

  constructor(
    readonly name: ActorDefaults['name'],
    readonly config: ActorConfig,
    parts: ActorParts<Tx>,
  ) {
    this.store = parts.store;
    this.mesh = parts.mesh;
    this.outbox = parts.outbox;
    this.signer = parts.signer;
    this.logger = parts.logger;
    this.now = parts.now;
    const { metrics, mesh } = this;
    const help = 'Orbital events consumed, by outcome';
    this.handled = metrics.counter('krypton_orbital_events_handled_total', help, ['type', 'outcome']);
    this.pendingGauge = metrics.gauge(`krypton_${name}_outbox_pending`, 'events written but not yet published');
    metrics
      .gauge(`krypton_${name}_mesh_connected`, '1 while the mesh is connected')
      .set(() => (mesh.status().connected ? 1 : 0));
    this.stopRetention = startRetention(this.store, this.outbox, this.now, this.logger, name);
  }

  // The one readiness check (the mTLS /readyz and the health port). The mesh is not
  // required: an actor keeps serving on its own state while it is down (ACD-402).
  private readonly ready = () => this.store.ping();

  async consume(types: readonly EventType[], apply: TxHandler<Tx>): Promise<void> {
    const { config, outbox, now, logger, name, handled } = this;
    this.subs.push(
      await this.mesh.subscribe(config.id, types, async (event) => {
        let outcome: HandleOutcome = 'error';
        try {
          outcome = (await handleOnce(outbox, config.id, event, apply, now)) ? 'applied' : 'duplicate';
        } catch (err) {
          // Thrown back to the mesh: it redelivers, then dead-letters.
          logger.warn({ id: event.id, type: event.type, err }, `${name}: handling an event failed`);
          throw err;
        } finally {
          handled.inc({ type: event.type, outcome });
        }
      }),
    );
  }

  async listen(routes: Route[]): Promise<number> {
    const { config } = this;
    const admins = new Set(config.admins);
    const server = await createMtlsServer({
      key: readFileSync(config.tls.key),
      cert: readFileSync(config.tls.cert),
      ca: readFileSync(config.tls.ca),
      host: config.host,
      port: config.port,
      identity: { allowed: (id) => admins.has(id) },
      logger: this.logger,
      routes: [...routes, ...this.probeRoutes()],
    });
    this.server = server;
    if (config.health !== undefined) this.health = await startHealthListener(config.health, this.ready);
    return server.port;
  }

  /** /metrics, /healthz and /readyz on the admin server. */
  private probeRoutes(): Route[] {
    const { metrics, mesh, outbox, pendingGauge, ready, name } = this;
    return [
      {
        method: 'GET',
        path: '/metrics',
        handler: async () => {
          pendingGauge.set(await outbox.pending());
          return new RawBody(PROMETHEUS_CONTENT_TYPE, metrics.render());
        },
      },
      { method: 'GET', path: PROBE_PATHS.live, handler: async () => ({ ok: true }) },
      {
        method: 'GET',
        path: PROBE_PATHS.ready,
        handler: async () => {
          if (!(await ready())) throw errors.keyUnavailable(`the ${name} store does not answer`);
          return { ok: true, mesh: mesh.status().connected };
        },
      },
    ];
  }

  async orbitalStatus(): Promise<{ id: string; outboxPending: number; mesh: ReturnType<Mesh['status']> }> {
    return { id: this.config.id, outboxPending: await this.outbox.pending(), mesh: this.mesh.status() };
  }

  onStop(fn: () => void | Promise<void>): void {
    this.stopHooks.push(fn);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const { name, logger } = this;
    // Every step runs even if one fails, so a stuck server cannot leave the store open.
    let first: unknown;
    const step = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (err) {
        first ??= err;
        logger.warn({ err }, `${name}: ${what} failed while stopping`);
      }
    };
    this.stopRetention();
    for (const fn of this.stopHooks.splice(0)) await step('a stop hook', fn);
    if (this.health) await step('closing the health port', () => this.health?.close());
    if (this.server) await step('closing the server', () => this.server?.close());
    for (const s of this.subs.splice(0)) await step('cancelling a subscription', () => s.cancel());
    await step('stopping the outbox', () => this.outbox.stop());
    // Its own connection, or its endpoint on a shared bus (the bus stays).
    await step('closing the mesh', () => this.mesh.close());
    await step('closing the store', () => this.store.close());
    this.signer.destroy();
    logger.info(`${name} stopped`);
    if (first !== undefined)
      throw first instanceof Error ? first : new Error(`${name}: stopping failed`, { cause: first });
  }
}

// The last State.Manifest of each Core, kept by every actor that reconciles
// against manifests: for status, and to skip a manifest older than one
// already reconciled (a late redelivery). With it, the head of the Core's
// audit chain it carried: the anchor `krypton core audit --head` checks
// the Core's audit log against (a truncated or rewritten tail misses it).

export interface ManifestRow {
  core: string;
  /** When the Core made it. */
  at: number;
  receivedAt: number;
  tenants: number;
  scopes: number;
}

/** The highest audit head a Core published, as this actor recorded it. */
export interface RecordedAuditHead extends AuditHead {
  /** The manifest that carried it (the Core's time). */
  at: number;
  receivedAt: number;
}

export interface ManifestView extends ManifestRow {
  /** `<seq>:<hash>`, ready for `krypton core audit --head`; null before the Core published one. */
  auditHead: (RecordedAuditHead & { arg: string }) | null;
}

export const manifestOf = (r: SqlRecord): ManifestRow => ({
  core: str(r.core),
  at: num(r.at),
  receivedAt: num(r.received_at),
  tenants: num(r.tenants),
  scopes: num(r.scopes),
});

export const manifestTable = (bigint: string, text: string, suffix: string) => `CREATE TABLE IF NOT EXISTS manifests (
  core ${text} PRIMARY KEY,
  at ${bigint} NOT NULL,
  received_at ${bigint} NOT NULL,
  tenants ${bigint} NOT NULL,
  scopes ${bigint} NOT NULL
)${suffix}`;

/** Its own table (not columns of manifests), so stores made before it get it by CREATE IF NOT EXISTS. */
export const auditHeadTable = (
  bigint: string,
  text: string,
  suffix: string,
) => `CREATE TABLE IF NOT EXISTS audit_heads (
  core ${text} PRIMARY KEY,
  seq ${bigint} NOT NULL CHECK (seq >= 1),
  hash ${text} NOT NULL,
  at ${bigint} NOT NULL,
  received_at ${bigint} NOT NULL
)${suffix}`;

export class ManifestTx extends SqlOrbitalTx {
  /** Records a manifest unless a newer one of the same Core is on file; false when it is stale. */
  putManifest(m: ManifestRow): Promise<boolean> {
    return this.op(
      'putManifest',
      async () =>
        (await this.db.run(
          `INSERT INTO manifests (core, at, received_at, tenants, scopes) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (core) DO UPDATE SET at = excluded.at, received_at = excluded.received_at, tenants = excluded.tenants, scopes = excluded.scopes
         WHERE excluded.at >= manifests.at`,
          [m.core, m.at, m.receivedAt, m.tenants, m.scopes],
        )) === 1,
    );
  }

  listManifests(): Promise<ManifestView[]> {
    return this.op('listManifests', async () =>
      (
        await this.db.all(
          `SELECT m.*, h.seq AS head_seq, h.hash AS head_hash, h.at AS head_at, h.received_at AS head_received_at
           FROM manifests m LEFT JOIN audit_heads h ON h.core = m.core ORDER BY m.core`,
          [],
        )
      ).map((r) => {
        const head: ManifestView['auditHead'] =
          r.head_seq === null || r.head_seq === undefined
            ? null
            : {
                seq: num(r.head_seq),
                hash: str(r.head_hash),
                at: num(r.head_at),
                receivedAt: num(r.head_received_at),
                arg: `${num(r.head_seq)}:${str(r.head_hash)}`,
              };
        return { ...manifestOf(r), auditHead: head };
      }),
    );
  }

  getAuditHead(core: string): Promise<RecordedAuditHead | null> {
    return this.op('getAuditHead', () =>
      this.one('SELECT * FROM audit_heads WHERE core = ?', [core], (r) => ({
        seq: num(r.seq),
        hash: str(r.hash),
        at: num(r.at),
        receivedAt: num(r.received_at),
      })),
    );
  }

  /**
   * Records a Core's audit head unless a higher one is on file. A head
   * below the recorded one is refused (the evidence is kept) and reported:
   * the Core's audit log lost rows since (truncated, or restored from an
   * older copy). The same seq with another hash is a rewritten row.
   */
  putAuditHead(
    core: string,
    head: AuditHead,
    at: number,
    receivedAt: number,
  ): Promise<{ recorded: boolean; previous: RecordedAuditHead | null }> {
    return this.op('putAuditHead', async () => {
      const previous = await this.one('SELECT * FROM audit_heads WHERE core = ?', [core], (r) => ({
        seq: num(r.seq),
        hash: str(r.hash),
        at: num(r.at),
        receivedAt: num(r.received_at),
      }));
      if (previous !== null && (head.seq < previous.seq || (head.seq === previous.seq && head.hash !== previous.hash)))
        return { recorded: false, previous };
      await this.db.run(
        `INSERT INTO audit_heads (core, seq, hash, at, received_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (core) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, at = excluded.at, received_at = excluded.received_at`,
        [core, head.seq, head.hash, at, receivedAt],
      );
      return { recorded: true, previous };
    });
  }
}

/**
 * What the Registry and the CMK Server do with a fresh manifest's audit
 * head: record it, or, when it goes backwards, keep the one on file and
 * say so loudly (the Core's audit log is not what it was).
 */
export async function recordAuditHead(
  tx: ManifestTx,
  core: string,
  head: AuditHead | undefined,
  at: number,
  receivedAt: number,
  logger: Logger,
  name: string,
): Promise<void> {
  if (head === undefined) return;
  const r = await tx.putAuditHead(core, head, at, receivedAt);
  if (!r.recorded) {
    logger.error(
      { core, published: head, recorded: r.previous === null ? null : { seq: r.previous.seq, hash: r.previous.hash } },
      `${name}: the audit head ${core} published is behind the one on file: its audit log was truncated or rewritten (the recorded head is kept)`,
    );
  }
}
