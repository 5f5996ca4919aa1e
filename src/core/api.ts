/**
 * The Core's HTTP/2 routes (docs/design.md sections 1 and 5). Gateways lease and
 * follow events; admin identities unseal, rotate, revoke and onboard. While
 * sealed only unseal, status and health answer; everything else is SEALED.
 */
import { errors, KryptonError } from '../errors.js';
import { RawBody, type RefusedRequest, type RequestContext, type Route, type StreamWriter } from '../http/index.js';
import { requireId } from '../native/ids.js';
import { PROMETHEUS_CONTENT_TYPE, type Registry } from '../metrics/registry.js';
import type { Core } from './core.js';
import { SINCE_NOW, type CoreEvent } from '../protocol/core-events.js';
import type { L1Link } from './tenants.js';
import { auditRoutes } from './audit-routes.js';
import { PROBE_PATHS } from '../http/health-listener.js';

export interface CoreApiOptions {
  admins: ReadonlySet<string>;
  metrics: Registry;
  /** The Core's Orbital side, whose state joins the admin status. */
  orbital?: { status(): Record<string, unknown> };
}

const str = (body: unknown, name: string): string => {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  if (typeof v !== 'string') throw errors.badRequest(`${name} must be a string`);
  return v;
};

function l1Link(body: unknown): L1Link | null {
  const l1 = (body as { l1?: unknown } | undefined)?.l1;
  if (l1 === undefined || l1 === null) return null;
  const kind = str(l1, 'kind');
  if (kind !== 'soft' && kind !== 'pkcs11') throw errors.badRequest('l1.kind must be soft or pkcs11');
  return { kind, ref: str(l1, 'ref') };
}

function version(v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff) throw errors.badRequest('version must be a positive integer');
  return n;
}

type Handler = (ctx: RequestContext) => Promise<unknown>;

/** What every route group is built from: the Core, the options and the two handler wrappers. */
interface RouteKit {
  core: Core;
  opts: CoreApiOptions;
  admin: (id: string) => boolean;
  /** Checks every id in the path and that the Core is unsealed, then runs fn. */
  unsealed: <T>(fn: (ctx: RequestContext) => Promise<T>) => (ctx: RequestContext) => Promise<T>;
  /** Runs fn and records its latency and outcome under this route name. */
  timed: (route: string, fn: Handler) => Handler;
}

export function coreRoutes(core: Core, opts: CoreApiOptions): Route[] {
  const kit = routeKit(core, opts);
  return [
    ...auditRoutes(core, opts.admins),
    ...gatewayRoutes(kit),
    ...sealRoutes(kit),
    ...tenantRoutes(kit),
    ...scopeRoutes(kit),
    ...probeRoutes(kit),
  ];
}

function routeKit(core: Core, opts: CoreApiOptions): RouteKit {
  const admin = (id: string) => opts.admins.has(id);
  const requests = opts.metrics.histogram('krypton_core_request_duration_seconds', 'Core request latency', [
    'route',
    'outcome',
  ]);
  const unsealed =
    <T>(fn: (ctx: RequestContext) => Promise<T>) =>
    async (ctx: RequestContext) => {
      // Every id in the path is checked before anything else (review L7).
      if (ctx.params.tenant !== undefined) requireId(ctx.params.tenant, 'tenant');
      if (ctx.params.service !== undefined) requireId(ctx.params.service, 'service');
      core.requireUnsealed();
      return fn(ctx);
    };
  const timed = (route: string, fn: (ctx: RequestContext) => Promise<unknown>) => async (ctx: RequestContext) => {
    const t0 = process.hrtime.bigint();
    let outcome = 'ok';
    try {
      return await fn(ctx);
    } catch (err) {
      outcome = err instanceof KryptonError ? err.code : 'INTERNAL';
      throw err;
    } finally {
      requests.observe(Number(process.hrtime.bigint() - t0) / 1e9, { route, outcome });
    }
  };
  return { core, opts, admin, unsealed, timed };
}

/** What the Gateways use: leases and the event stream. */
function gatewayRoutes({ core, admin, timed, unsealed }: RouteKit): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/leases',
      bytes: ['recipientKey', 'nonce'],
      // The request and the signed reply: src/protocol/lease.ts.
      handler: timed(
        'lease',
        unsealed(async (ctx) => core.issueLease(ctx.identity, ctx.body)),
      ),
    },
    {
      method: 'GET',
      path: '/v1/events',
      stream: true,
      // A Gateway hears only of the tenants it may lease (and of events that concern no tenant); admins hear all
      // (review L6).
      handler: async (ctx: RequestContext, writer: StreamWriter) =>
        streamEvents(
          core,
          ctx,
          writer,
          admin(ctx.identity)
            ? () => true
            : (e) => e.tenant === null || core.gatewayPolicy.allows(ctx.identity, e.tenant),
        ),
    },
  ];
}

/** Unseal, seal and the admin status. */
function sealRoutes({ core, opts, admin, timed }: RouteKit): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/admin/unseal',
      allow: admin,
      // msgpack only, and the body (with every share decoded from it) is zeroed after the handler (review M5).
      secret: true,
      handler: timed('unseal', async (ctx) => {
        const shares = (ctx.body as { shares?: unknown } | undefined)?.shares;
        try {
          if (!Array.isArray(shares) || shares.length === 0 || shares.length > 255)
            throw errors.badRequest('shares must be a list of 1 to 255 byte strings');
          if (!shares.every((s): s is Uint8Array => s instanceof Uint8Array))
            throw errors.badRequest('each share must be bytes (msgpack bin)');
          return await core.unseal(shares, ctx.identity);
        } finally {
          // Views of the body, wiped with it; wiped here too, so no path depends on that.
          if (Array.isArray(shares)) for (const s of shares) if (s instanceof Uint8Array) s.fill(0);
        }
      }),
    },
    {
      method: 'POST',
      path: '/v1/admin/seal',
      allow: admin,
      handler: timed('seal', async (ctx) => {
        await core.sealBy(ctx.identity);
        return core.sealStatus();
      }),
    },
    {
      method: 'GET',
      path: '/v1/admin/status',
      allow: admin,
      handler: timed('status', async () => ({
        ...(await core.status()),
        ...(opts.orbital !== undefined ? { orbital: opts.orbital.status() } : {}),
      })),
    },
  ];
}

/** Onboarding a tenant, reading it, linking and unlinking its L1. */
function tenantRoutes({ core, admin, timed, unsealed }: RouteKit): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/admin/tenants/:tenant',
      allow: admin,
      handler: timed(
        'onboard',
        unsealed(async (ctx) => {
          await core.onboardTenant(ctx.params.tenant!, l1Link(ctx.body), ctx.identity);
          return { tenant: ctx.params.tenant };
        }),
      ),
    },
    {
      method: 'GET',
      path: '/v1/admin/tenants/:tenant',
      allow: admin,
      handler: timed(
        'tenant',
        unsealed(async (ctx) => {
          const t = await core.tenants.get(ctx.params.tenant!);
          if (t === null) throw errors.badRequest(`unknown tenant ${ctx.params.tenant}`);
          const scopes = await core.ksi.read(async (tx) => {
            const out = [];
            for (const s of await tx.listScopes(t.tenant)) {
              out.push({
                service: s.service,
                deleted: s.deleted,
                rotateAfterSeconds: s.rotateAfterSeconds,
                versions: (await tx.listL3(t.tenant, s.service)).map((v) => ({
                  version: v.version,
                  state: v.state,
                  createdAt: v.createdAt,
                })),
              });
            }
            return out;
          });
          return { tenant: t.tenant, state: t.state, l1: t.l1Provider, scopes };
        }),
      ),
    },
    {
      method: 'POST',
      path: '/v1/admin/tenants/:tenant/l1',
      allow: admin,
      handler: timed(
        'l1.link',
        unsealed(async (ctx) => {
          const link = l1Link({ l1: ctx.body });
          if (link === null) throw errors.badRequest('kind and ref are required');
          await core.tenants.linkL1(ctx.params.tenant!, link, ctx.identity);
        }),
      ),
    },
    {
      method: 'DELETE',
      path: '/v1/admin/tenants/:tenant/l1',
      allow: admin,
      handler: timed(
        'l1.unlink',
        unsealed((ctx) => core.tenants.unlinkL1(ctx.params.tenant!, ctx.identity)),
      ),
    },
  ];
}

/** Scopes and their L3 versions (define, rotate, revoke), and the IVK's rotation. */
function scopeRoutes({ core, admin, timed, unsealed }: RouteKit): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/admin/tenants/:tenant/services/:service',
      allow: admin,
      handler: timed(
        'scope.define',
        unsealed(async (ctx) => {
          const r = (ctx.body as { rotateAfterSeconds?: unknown } | undefined)?.rotateAfterSeconds ?? null;
          if (r !== null && (!Number.isInteger(r) || (r as number) < 60))
            throw errors.badRequest('rotateAfterSeconds must be an integer >= 60');
          await core.defineScope(ctx.params.tenant!, ctx.params.service!, r as number | null, ctx.identity);
          return { tenant: ctx.params.tenant, service: ctx.params.service };
        }),
      ),
    },
    {
      method: 'POST',
      path: '/v1/admin/tenants/:tenant/services/:service/rotate',
      allow: admin,
      handler: timed(
        'rotate',
        unsealed(async (ctx) => ({
          version: await core.rotate(ctx.params.tenant!, ctx.params.service!, ctx.identity),
        })),
      ),
    },
    {
      method: 'POST',
      path: '/v1/admin/tenants/:tenant/services/:service/versions/:version/revoke',
      allow: admin,
      handler: timed(
        'revoke',
        unsealed(async (ctx) => {
          await core.revoke(ctx.params.tenant!, ctx.params.service!, version(ctx.params.version), ctx.identity);
          return { revoked: version(ctx.params.version) };
        }),
      ),
    },
    {
      method: 'POST',
      path: '/v1/admin/ivk/rotate',
      allow: admin,
      handler: timed(
        'ivk.rotate',
        unsealed(async () => ({ version: await core.ivk.rotate('admin') })),
      ),
    },
  ];
}

/** Metrics and the liveness and readiness probes (no admin identity needed). */
function probeRoutes({ core, opts }: RouteKit): Route[] {
  return [
    {
      method: 'GET',
      path: '/metrics',
      handler: async () => new RawBody(PROMETHEUS_CONTENT_TYPE, opts.metrics.render()),
    },
    { method: 'GET', path: PROBE_PATHS.live, handler: async () => ({ ok: true }) },
    {
      method: 'GET',
      path: PROBE_PATHS.ready,
      handler: async () => {
        const notReady = await coreNotReady(core);
        if (notReady !== null) throw notReady;
        return { ok: true };
      },
    },
  ];
}

/**
 * The event stream: replays every event after `since` from the KSI, then
 * follows live events. Live events that arrive during the replay are
 * buffered and deduplicated by epoch, so none is lost or sent twice.
 */
async function streamEvents(
  core: Core,
  ctx: RequestContext,
  writer: StreamWriter,
  visible: (e: CoreEvent) => boolean,
): Promise<void> {
  core.requireUnsealed();
  // since=now: a Gateway that holds no lease yet starts at the current epoch, with nothing to replay.
  const since =
    ctx.query.since === SINCE_NOW
      ? await core.events.lastEpoch()
      : ctx.query.since === undefined
        ? 0
        : Number(ctx.query.since);
  if (!Number.isInteger(since) || since < 0) throw errors.badRequest('since must be a non-negative integer or "now"');
  let last = since;
  const pending: CoreEvent[] = [];
  let wake: (() => void) | null = null;
  const stop = core.events.subscribe((e) => {
    pending.push(e);
    wake?.();
  });
  const sendNew = async (e: CoreEvent) => {
    if (e.epoch <= last) return;
    // Not for this caller: skipped, but its epoch is passed, so caught-up and heartbeats stay current.
    if (visible(e)) await writer.send(e);
    last = e.epoch;
  };
  ctx.signal.addEventListener('abort', () => wake?.(), { once: true });
  try {
    for (let batch = await core.events.since(last, 500); batch.length > 0; batch = await core.events.since(last, 500)) {
      for (const e of batch) await sendNew(e);
    }
    await writer.send({ type: 'caught-up', epoch: last });
    while (!writer.closed && !ctx.signal.aborted) {
      while (pending.length > 0) await sendNew(pending.shift()!);
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 15_000);
        wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      wake = null;
      // A heartbeat after a quiet spell keeps idle proxies from cutting the stream.
      if (!woken && !writer.closed) await writer.send({ type: 'heartbeat', epoch: last });
    }
  } finally {
    stop();
  }
}

/** Admin routes: every refusal of a request to one of them is audited. */
const ADMIN_PREFIX = '/v1/admin/';

/**
 * The server's refusal hook for the Core (review L4): every refused request
 * to an admin route (an identity not allowed there, a bad id, SEALED, any
 * other error) leaves an audit row with who, which route and the code;
 * never the body. Other routes are left to their own audit (leases).
 */
export function auditAdminRefusals(core: Core): (r: RefusedRequest) => Promise<void> {
  return async (r) => {
    if (!r.path.startsWith(ADMIN_PREFIX)) return;
    const code = r.error instanceof KryptonError ? r.error.code : 'INTERNAL';
    await core.audit({
      actor: r.identity ?? 'unauthenticated',
      action: 'admin.refused',
      target: `${r.method.slice(0, 16)} ${r.route ?? r.path.slice(0, 256)}`,
      outcome: code === 'INTERNAL' ? 'error' : 'denied',
      details: { code, path: r.path.slice(0, 256) },
    });
  };
}

/** Why the Core cannot serve, or null when it can: the one readiness check (the mTLS /readyz and the health port). */
export async function coreNotReady(core: Core): Promise<KryptonError | null> {
  if (core.sealStatus().sealed) return new KryptonError('SEALED', 'the Core is sealed');
  if (!(await core.ksi.ping())) return errors.keyUnavailable('the KSI does not answer');
  return null;
}
