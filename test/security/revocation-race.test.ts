/**
 * Attack test for review H3: a tenant revoked or offboarded, or a scope
 * deleted, while one of its keys is being loaded must never be served
 * afterwards, and none of its keys may stay in the Core's caches.
 *
 * The interleaving is forced, not hoped for: a dependency of the hydration
 * (the IVK manager's unwrap, or the L2 manager's get) is wrapped so that the
 * hydration stops at that await until the test has run the revocation to
 * its end (transaction committed, evictions done), and only then goes on.
 * Every case runs on SQLite and on PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { Core } from '../../src/core/core.js';
import { createSoftL1Key } from '../../src/core/l1/index.js';
import { HpkeRecipient, scopeRef, scopes, storeStats } from '../../src/native/index.js';
import { newLeaseRequest } from '../../src/protocol/lease.js';
import { GATEWAY, openTestCore } from '../core/core-fixture.js';

const PG_URL = process.env.KRYPTON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SKIP_PG = process.env.KRYPTON_SKIP_PG === '1';
const code = (c: string): unknown => expect.objectContaining({ code: c });

/**
 * Wraps obj[name] so that its first call stops: `before` the real call, or
 * `after` it (holding its result). `reached` resolves when the call is
 * stopped there; `release()` lets it go on.
 */
function stopOnce<T extends object>(
  obj: T,
  name: keyof T & string,
  where: 'before' | 'after',
): { reached: Promise<void>; release(): void } {
  const original = (obj[name] as (...a: unknown[]) => Promise<unknown>).bind(obj);
  let reached!: () => void;
  let release!: () => void;
  const atStop = new Promise<void>((r) => (reached = r));
  const released = new Promise<void>((r) => (release = r));
  let armed = true;
  (obj as Record<string, unknown>)[name] = async (...args: unknown[]) => {
    if (!armed) return original(...args);
    armed = false;
    if (where === 'before') {
      reached();
      await released;
      return original(...args);
    }
    const result = await original(...args);
    reached();
    await released;
    return result;
  };
  return { reached: atStop, release };
}

/** The outcome of a promise, without an unhandled rejection while it is pending. */
function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

interface Backend {
  name: string;
  skip: boolean;
  /** A fresh KSI URL, or undefined for the fixture's SQLite file. */
  url(): string | undefined;
  cleanup(): Promise<void>;
}

const pgSchemas: string[] = [];
const backends: Backend[] = [
  { name: 'SQLite', skip: false, url: () => undefined, cleanup: async () => undefined },
  {
    name: 'PostgreSQL',
    skip: SKIP_PG,
    url: () => {
      const schema = `krypton_race_${randomBytes(6).toString('hex')}`;
      pgSchemas.push(schema);
      return `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
    },
    cleanup: async () => {
      if (pgSchemas.length === 0) return;
      const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 });
      await c.connect();
      try {
        for (const s of pgSchemas.splice(0)) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      } finally {
        await c.end();
      }
    },
  },
];

for (const backend of backends) {
  (backend.skip ? describe.skip : describe)(`revocation racing a cold load (H3), ${backend.name}`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const c of cleanups.splice(0)) await c();
      await backend.cleanup();
    });

    let n = 0;
    /** An initialized Core with tenant T (soft L1 if asked) and scope S, its shares, and fresh names. */
    async function stage(opts: { l1?: boolean } = {}) {
      const url = backend.url();
      const t = await openTestCore(url !== undefined ? { ksiUrl: url } : {});
      cleanups.push(t.cleanup);
      const { core, dir } = t;
      const T = `race-${backend.name.toLowerCase()}-${++n}`;
      const S = 'ledger';
      const shares = await core.init();
      let link = null;
      if (opts.l1) {
        const ref = join(dir, `${T}.l1`);
        createSoftL1Key(ref);
        link = { kind: 'soft' as const, ref };
      }
      await core.onboardTenant(T, link);
      await core.defineScope(T, S);
      const recipient = HpkeRecipient.generate();
      cleanups.push(async () => recipient.destroy());
      const lease = () => core.issueLease(GATEWAY, newLeaseRequest(T, S, recipient.publicKey));
      return { core, T, S, shares, lease };
    }

    /**
     * The review's repro: the L2 sits under an older IVK (IVK rotation, then
     * seal and unseal so nothing is hot), so a cold lease unwraps it, then
     * re-wraps it onto the newest IVK in two transactions.
     */
    async function underOlderIvk(core: Core, shares: Buffer[], lease: () => Promise<unknown>): Promise<void> {
      await lease(); // hydrate once under IVK v1
      await core.ivk.rotate('test');
      core.seal();
      await core.unseal(shares.slice(0, 3));
    }

    function expectNothingCached(core: Core, T: string, S: string): void {
      expect(core.l2.isHot(T)).toBe(false);
      expect(core.l3.isHydrated(T, S)).toBe(false);
      expect(scopeRef(T, S)).toBeNull();
      expect(scopes.list(T, S).filter((v) => v.state !== 'REVOKED')).toEqual([]);
    }

    it('an unlink that commits at the first await of the L2 load: the tenant is never served again, nothing stays cached, the shred holds', async () => {
      const { core, T, S, shares, lease } = await stage({ l1: true });
      await underOlderIvk(core, shares, lease);
      const [before] = await core.ksi.read((tx) => tx.listL2(T));
      expect(before.ivkVersion).not.toBe(core.ivk.active);

      const stop = stopOnce(core.ivk, 'unwrap', 'before');
      const racing = settle(lease());
      await stop.reached; // inside L2.hydrate, after its tenant-state check
      await core.tenants.unlinkL1(T); // committed and evicted (nothing was cached yet)
      stop.release();
      const outcome = await racing;

      expect(outcome).toEqual({ ok: false, error: code('KEY_REVOKED') });
      await expect(lease()).rejects.toThrow(code('KEY_REVOKED'));
      expectNothingCached(core, T, S);
      // The load's lazy re-wrap did not write back the IVK-side binding the unlink destroyed.
      const [after] = await core.ksi.read((tx) => tx.listL2(T));
      expect(after.wrappedActive.length).toBe(0);
      expect((await core.tenants.get(T))!.state).toBe('REVOKED');
    });

    it('an offboard that commits while the L2 load waits: never served again, nothing cached', async () => {
      const { core, T, S, shares, lease } = await stage();
      await underOlderIvk(core, shares, lease);

      const stop = stopOnce(core.ivk, 'unwrap', 'after'); // the L2 is already in the store, not yet cached
      const racing = settle(lease());
      await stop.reached;
      expect(await core.tenants.offboard(T)).toBe(true);
      stop.release();
      const outcome = await racing;

      expect(outcome).toEqual({ ok: false, error: code('KEY_REVOKED') });
      await expect(lease()).rejects.toThrow(code('KEY_REVOKED'));
      expectNothingCached(core, T, S);
    });

    it('a seal while the L2 load waits: nothing is cached after the wipe', async () => {
      const { core, T, S, shares, lease } = await stage();
      await lease();
      core.seal();
      await core.unseal(shares.slice(0, 3)); // L2 under the ACTIVE IVK: no re-wrap, one await

      const stop = stopOnce(core.ivk, 'unwrap', 'after');
      const racing = settle(lease());
      await stop.reached;
      core.seal();
      const keysSealed = storeStats().keys;
      stop.release();
      const outcome = await racing;

      expect(outcome.ok).toBe(false);
      expectNothingCached(core, T, S);
      // The seal wiped every cached key; the L2 the stopped load held was destroyed too, not left behind.
      expect(storeStats().keys).toBe(keysSealed - 1);
    });

    it('a scope deleted while its L3 load waits for a cold L2: the scope is not cached, and no lease is served for it', async () => {
      const { core, T, S, shares, lease } = await stage();
      await underOlderIvk(core, shares, lease);

      const stop = stopOnce(core.ivk, 'unwrap', 'before');
      const racing = settle(lease());
      await stop.reached; // L3.hydrate has read the scope's rows and waits for the L2
      expect(await core.l3.remove(T, S, { purge: false })).toBe(true);
      stop.release();
      const outcome = await racing;

      expect(outcome).toEqual({ ok: false, error: code('UNKNOWN_SERVICE') });
      await expect(lease()).rejects.toThrow(code('UNKNOWN_SERVICE'));
      expect(core.l3.isHydrated(T, S)).toBe(false);
      expect(scopeRef(T, S)).toBeNull();
      expect(scopes.list(T, S)).toEqual([]);
    });

    it('a scope deleted between the L2 handing over its key and the L3 binding: nothing bound, no lease served', async () => {
      const { core, T, S, lease } = await stage();
      await lease(); // L2 hot
      core.l3.evict(T, S); // scope cold again, as after a restart of the scope

      const stop = stopOnce(core.l2, 'get', 'after');
      const racing = settle(lease());
      await stop.reached; // L3.hydrate holds its rows and the L2, and has bound nothing yet
      expect(await core.l3.remove(T, S, { purge: false })).toBe(true);
      stop.release();
      const outcome = await racing;

      expect(outcome).toEqual({ ok: false, error: code('UNKNOWN_SERVICE') });
      await expect(lease()).rejects.toThrow(code('UNKNOWN_SERVICE'));
      expect(core.l3.isHydrated(T, S)).toBe(false);
      expect(scopeRef(T, S)).toBeNull();
      // Redefining it serves it again (the race left no stale state behind).
      await core.defineScope(T, S);
      expect((await lease()).versions.length).toBeGreaterThan(0);
    });

    it('a purge while the L3 load waits: the revoked versions are never bound', async () => {
      const { core, T, S, lease } = await stage();
      await lease();
      core.l3.evict(T, S);

      const stop = stopOnce(core.l2, 'get', 'after');
      const racing = settle(lease());
      await stop.reached;
      expect(await core.l3.remove(T, S, { purge: true })).toBe(true);
      stop.release();
      const outcome = await racing;

      expect(outcome).toEqual({ ok: false, error: code('UNKNOWN_SERVICE') });
      await expect(lease()).rejects.toThrow(code('UNKNOWN_SERVICE'));
      expect(core.l3.isHydrated(T, S)).toBe(false);
      expect(scopes.list(T, S).filter((v) => v.state !== 'REVOKED')).toEqual([]);
    });

    it('control: the same cold load with no revocation racing it is served', async () => {
      const { core, shares, lease } = await stage({ l1: true });
      await underOlderIvk(core, shares, lease);
      expect((await lease()).versions.length).toBe(1);
    });
  });
}
