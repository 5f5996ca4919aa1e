/**
 * Attack tests on the Core's API:
 * - review L6: a Gateway's SPIFFE identity hears, on /v1/events, only of the
 *   tenants it may lease (and of events that concern no tenant), live and
 *   on replay; a second Gateway certificate made with `krypton pki issue`;
 * - review L7: every id in an admin path (:tenant, :service) is checked
 *   first: an invalid one is BAD_REQUEST and nothing is written.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coreRoutes } from '../../src/core/api.js';
import type { Core } from '../../src/core/core.js';
import type { RequestContext, StreamRoute, StreamWriter } from '../../src/http/index.js';
import { Registry } from '../../src/metrics/registry.js';
import { pino } from 'pino';
import { openTestCore } from '../core/core-fixture.js';
import { cli, startCoreProcess, type CoreProcess } from '../core/process-fixture.js';

const GW_ACME = 'spiffe://krypton.dev/gateway/default';
const GW_GLOBEX = 'spiffe://krypton.dev/gateway/globex';
const code = (c: string): unknown => expect.objectContaining({ code: c });

interface Frame {
  type: string;
  epoch: number;
  tenant?: string | null;
}

const open = new Set<{ close(): void }>();

/** Follows /v1/events as a client, keeping every frame. */
function follow(core: CoreProcess, who: string, since: number | 'now' = 0) {
  const frames: Frame[] = [];
  const waiters: { test: (f: Frame[]) => boolean; resolve: () => void }[] = [];
  const handle = core.client(who).stream(`/v1/events?since=${since}`, (f) => {
    frames.push(f as Frame);
    for (const w of [...waiters]) {
      if (w.test(frames)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  open.add(handle);
  return {
    frames,
    events: () => frames.filter((f) => f.type !== 'caught-up' && f.type !== 'heartbeat'),
    until: (test: (f: Frame[]) => boolean) =>
      test(frames) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ test, resolve })),
    close: () => {
      handle.close();
      open.delete(handle);
    },
  };
}

describe('event stream scoped to the Gateway identity (L6) and ids checked on the admin API (L7)', () => {
  let core: CoreProcess;
  const admin = (args: string[]) => {
    const r = cli(['admin', '--core', core.url, '--pki', core.pki, ...args]);
    expect(r.status, r.stderr).toBe(0);
  };

  beforeAll(async () => {
    core = await startCoreProcess({ gateways: { [GW_ACME]: ['acme'], [GW_GLOBEX]: ['globex'] } });
    const issued = cli([
      'pki',
      'issue',
      '--dir',
      core.pki,
      '--name',
      'gateway-globex',
      '--spiffe',
      GW_GLOBEX,
      '--client',
    ]);
    expect(issued.status, issued.stderr).toBe(0);
    for (const t of ['acme', 'globex']) {
      admin(['tenant', t]);
      admin(['scope', t, 'app']);
    }
  });
  afterAll(async () => {
    for (const h of open) h.close(); // an open stream would hold the client's session, and the stop, forever
    await core?.cleanup();
  });

  it('a Gateway allowed only acme never receives globex events, live or replayed, and the other way round', async () => {
    const a = follow(core, 'gateway');
    const b = follow(core, 'gateway-globex');
    const caught = (f: Frame[]) => f.some((x) => x.type === 'caught-up');
    await Promise.all([a.until(caught), b.until(caught)]);

    admin(['rotate', 'acme', 'app']);
    admin(['rotate', 'globex', 'app']);
    admin(['revoke', 'globex', 'app', '1']);
    // tenant.revoked
    expect((await core.client('admin').request('DELETE', '/v1/admin/tenants/globex/l1')).status).toBe(204);
    // The last event is acme's: once A has it, every earlier event was sent or skipped (the stream is in epoch order).
    admin(['rotate', 'acme', 'app']);
    await a.until((f) => f.filter((x) => x.type === 'rotation' && x.tenant === 'acme').length === 2);
    await b.until((f) => f.some((x) => x.type === 'tenant.revoked'));

    expect(a.events().map((e) => [e.type, e.tenant])).toEqual([
      ['rotation', 'acme'],
      ['rotation', 'acme'],
    ]);
    expect(b.events().map((e) => [e.type, e.tenant])).toEqual([
      ['rotation', 'globex'],
      ['revocation', 'globex'],
      ['tenant.revoked', 'globex'],
    ]);
    a.close();
    b.close();

    // Replayed from the start: the same filter.
    const again = follow(core, 'gateway', 0);
    await again.until(caught);
    again.close();
    expect(again.events().every((e) => e.tenant === 'acme')).toBe(true);
    expect(again.events().length).toBe(2);
    // The caught-up epoch still moves past what was skipped, so a reconnect does not replay it again.
    const last = again.frames.find((f) => f.type === 'caught-up')!.epoch;
    expect(last).toBeGreaterThanOrEqual(Math.max(...b.events().map((e) => e.epoch)));
  });

  it.each([
    ['POST', '/v1/admin/tenants/bad%20id', {}],
    ['POST', `/v1/admin/tenants/${'x'.repeat(65)}`, {}],
    ['GET', '/v1/admin/tenants/%C3%A9t%C3%A9', undefined],
    ['POST', '/v1/admin/tenants/acme/services/not%2Fan-id', {}],
    ['POST', '/v1/admin/tenants/acme/services/caf%C3%A9', { rotateAfterSeconds: 3600 }],
    ['POST', '/v1/admin/tenants/acme/services/a%3Bb/rotate', undefined],
    ['POST', '/v1/admin/tenants/acme/services/a%20b/versions/1/revoke', undefined],
    ['POST', '/v1/admin/tenants/ac%2Fme/l1', { kind: 'soft', ref: '/tmp/x' }],
    ['DELETE', '/v1/admin/tenants/acme%00/l1', undefined],
  ] as const)('%s %s: BAD_REQUEST, nothing written', async (method, path, body) => {
    const dbPath = join(core.dir, 'state', 'ksi.db');
    const snapshot = () => {
      const db = new Database(dbPath, { readonly: true });
      try {
        return {
          tenants: db.prepare('SELECT tenant, state FROM tenants ORDER BY tenant').all(),
          scopes: db
            .prepare('SELECT tenant, service, rotate_after_seconds, deleted FROM scopes ORDER BY tenant, service')
            .all(),
          l3: db.prepare('SELECT COUNT(*) AS n FROM l3_versions').get(),
          events: db.prepare('SELECT COUNT(*) AS n FROM events').get(),
        };
      } finally {
        db.close();
      }
    };
    const before = snapshot();
    await expect(core.client('admin').request(method, path, body)).rejects.toThrow(code('BAD_REQUEST'));
    expect(snapshot()).toEqual(before);
  });
});

describe('event filter, in process: events of no tenant go to every Gateway', () => {
  let t: Awaited<ReturnType<typeof openTestCore>>;
  beforeAll(async () => {
    t = await openTestCore({ gateways: { [GW_ACME]: ['acme'], [GW_GLOBEX]: ['*'] } });
    await t.core.init();
  });
  afterAll(async () => t?.cleanup());

  async function replay(core: Core, identity: string): Promise<Frame[]> {
    const route = coreRoutes(core, { admins: new Set(['spiffe://krypton.dev/admin']), metrics: new Registry() }).find(
      (r) => r.path === '/v1/events',
    ) as StreamRoute;
    const frames: Frame[] = [];
    const controller = new AbortController();
    const writer: StreamWriter = {
      send: async (f) => {
        frames.push(f as Frame);
        if ((f as Frame).type === 'caught-up') controller.abort();
      },
      get closed() {
        return controller.signal.aborted;
      },
      signal: controller.signal,
    };
    const ctx = {
      method: 'GET',
      path: '/v1/events',
      params: {},
      query: { since: '0' },
      identity,
      body: undefined,
      headers: {},
      signal: controller.signal,
      log: pino({ level: 'silent' }),
    } satisfies RequestContext;
    await route.handler(ctx, writer);
    return frames.filter((f) => f.type !== 'caught-up');
  }

  it("serving.paused and serving.resumed reach a Gateway of one tenant; other tenants' events do not; `*` and admins hear all", async () => {
    const { core, clock } = t;
    const at = clock.now();
    const appended = await core.ksi.tx(async (tx) => [
      await core.events.append(tx, { type: 'serving.paused', at, details: { reason: 'test' } }),
      await core.events.append(tx, { type: 'rotation', tenant: 'globex', service: 'app', version: 2, at }),
      await core.events.append(tx, { type: 'rotation', tenant: 'acme', service: 'app', version: 2, at }),
      await core.events.append(tx, { type: 'serving.resumed', at }),
    ]);
    core.events.publish(appended);
    expect((await replay(core, GW_ACME)).map((e) => [e.type, e.tenant])).toEqual([
      ['serving.paused', null],
      ['rotation', 'acme'],
      ['serving.resumed', null],
    ]);
    expect((await replay(core, GW_GLOBEX)).length).toBe(4);
    expect((await replay(core, 'spiffe://krypton.dev/admin')).length).toBe(4);
  });
});
