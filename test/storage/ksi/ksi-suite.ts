import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAudit, verifyAuditChain } from '../../../src/storage/ksi/audit-hash.js';
import type { AuditRow, IvkRow, Ksi, KsiTx, L2Row, L3Row, ScopeRow, TenantRow } from '../../../src/storage/ksi/ksi.js';

/**
 * The behavioural suite every KSI engine must pass. Each test gets a fresh,
 * initialized store from makeKsi and hands it to destroy afterwards.
 * rawExec runs one SQL statement on the same store over a separate
 * connection, around the KSI, as an attacker or a careless operator would.
 */
export interface KsiSuiteHooks {
  rawExec(ksi: Ksi, sql: string): Promise<void>;
  /** Statements that remove the append-only triggers of the audit table. */
  dropAuditTriggers: string[];
}

const internal: unknown = expect.objectContaining({ name: 'KryptonError', code: 'INTERNAL' });
const T0 = 1_700_000_000_000;

export const ivk = (version: number, state: IvkRow['state'] = 'ACTIVE', extra: Partial<IvkRow> = {}): IvkRow => ({
  version,
  state,
  createdAt: T0 + version,
  graceUntil: state === 'GRACE' ? T0 + 86_400_000 : null,
  hardExpiry: T0 + 365 * 86_400_000,
  wrapped: randomBytes(60),
  mac: randomBytes(32),
  wrapCount: 0,
  ...extra,
});
export const tenant = (name: string, extra: Partial<TenantRow> = {}): TenantRow => ({
  tenant: name,
  state: 'ACTIVE',
  l1Provider: null,
  l1Ref: null,
  createdAt: T0,
  updatedAt: T0,
  ...extra,
});
export const l2 = (t: string, version: number, ivkVersion = 1, extra: Partial<L2Row> = {}): L2Row => ({
  tenant: t,
  version,
  ivkVersion,
  wrappedActive: randomBytes(60),
  wrappedSovereign: null,
  createdAt: T0 + version,
  ...extra,
});
export const scope = (t: string, service: string, extra: Partial<ScopeRow> = {}): ScopeRow => ({
  tenant: t,
  service,
  rotateAfterSeconds: null,
  createdAt: T0,
  deleted: false,
  ...extra,
});
export const l3 = (t: string, service: string, version: number, state: L3Row['state'] = 'ACTIVE'): L3Row => ({
  tenant: t,
  service,
  version,
  state,
  l2Version: 1,
  wrapped: randomBytes(60),
  createdAt: T0 + version,
  updatedAt: T0 + version,
});

/** IVK 1, tenant `acme` with L2 1, scope acme/billing: what L3 rows need to exist. */
export async function seed(tx: KsiTx): Promise<void> {
  await tx.insertIvk(ivk(1));
  await tx.putTenant(tenant('acme'));
  await tx.insertL2(l2('acme', 1));
  await tx.putScope(scope('acme', 'billing'));
}

/** Everything in the store, for "nothing changed" comparisons. */
async function snapshot(ksi: Ksi) {
  return ksi.read(async (tx) => ({
    master: await tx.getMaster(),
    ivks: await tx.listIvks(),
    tenants: await tx.listTenants(),
    l2: await tx.listL2('acme'),
    scopes: await tx.listScopes(),
    l3: await tx.listL3('acme', 'billing'),
    events: await tx.eventsSince(0, 1000),
    audit: await tx.auditSince(0, 1000),
  }));
}

export function defineKsiSuite(
  name: string,
  makeKsi: () => Promise<Ksi>,
  destroy: (ksi: Ksi) => Promise<void> = (ksi) => ksi.close(),
  hooks?: KsiSuiteHooks,
): void {
  describe(`KSI contract: ${name}`, () => {
    let ksi: Ksi;
    beforeEach(async () => {
      ksi = await makeKsi();
    });
    afterEach(async () => {
      await destroy(ksi);
    });

    describe('round trips', () => {
      it('init is idempotent and a fresh store is empty', async () => {
        await ksi.init();
        const s = await snapshot(ksi);
        expect(s).toEqual({ master: null, ivks: [], tenants: [], l2: [], scopes: [], l3: [], events: [], audit: [] });
        expect(await ksi.read((tx) => tx.lastEpoch())).toBe(0);
        expect(await ksi.ping()).toBe(true);
      });

      it('master row round-trips with its kcv bytes and put replaces it', async () => {
        const kcv = Buffer.from([0, 1, 2, 0xff, 0, 0x80]);
        await ksi.tx((tx) => tx.putMaster({ kcv, threshold: 3, shares: 5, createdAt: T0 }));
        expect(await ksi.read((tx) => tx.getMaster())).toEqual({ kcv, threshold: 3, shares: 5, createdAt: T0 });
        const kcv2 = randomBytes(8);
        await ksi.tx((tx) => tx.putMaster({ kcv: kcv2, threshold: 2, shares: 3, createdAt: T0 + 1 }));
        const got = await ksi.read((tx) => tx.getMaster());
        expect(got?.kcv.equals(kcv2)).toBe(true);
        expect(Buffer.isBuffer(got?.kcv)).toBe(true);
        expect(got?.threshold).toBe(2);
      });

      it('IVK rows round-trip, list in version order, and update replaces the row', async () => {
        const rows = [ivk(3, 'GRACE'), ivk(1, 'REVOKED'), ivk(2, 'ACTIVE', { wrapCount: 2 ** 40 })];
        await ksi.tx(async (tx) => {
          for (const r of rows) await tx.insertIvk(r);
        });
        const listed = await ksi.read((tx) => tx.listIvks());
        expect(listed).toEqual([rows[1], rows[2], rows[0]]);
        for (const r of listed) expect(Buffer.isBuffer(r.wrapped) && Buffer.isBuffer(r.mac)).toBe(true);
        expect(await ksi.read((tx) => tx.getIvk(4))).toBeNull();
        const updated = {
          ...rows[0],
          state: 'DEPRECATED' as const,
          graceUntil: null,
          mac: randomBytes(32),
          wrapCount: 7,
        };
        await ksi.tx((tx) => tx.updateIvk(updated));
        expect(await ksi.read((tx) => tx.getIvk(3))).toEqual(updated);
      });

      it('tenant rows round-trip, put upserts, and list is ordered by name', async () => {
        await ksi.tx(async (tx) => {
          await tx.putTenant(tenant('zeta'));
          await tx.putTenant(tenant('acme', { l1Provider: 'pkcs11', l1Ref: 'pkcs11:token=t;object=k' }));
        });
        await ksi.tx((tx) => tx.putTenant(tenant('zeta', { state: 'OFFBOARDED', updatedAt: T0 + 5 })));
        const listed = await ksi.read((tx) => tx.listTenants());
        expect(listed.map((t) => t.tenant)).toEqual(['acme', 'zeta']);
        expect(listed[0]).toEqual(tenant('acme', { l1Provider: 'pkcs11', l1Ref: 'pkcs11:token=t;object=k' }));
        expect(await ksi.read((tx) => tx.getTenant('zeta'))).toEqual(
          tenant('zeta', { state: 'OFFBOARDED', updatedAt: T0 + 5 }),
        );
        expect(await ksi.read((tx) => tx.getTenant('nope'))).toBeNull();
      });

      it('L2 rows round-trip with both bindings, list ascending, and update replaces one', async () => {
        const sovereign = randomBytes(70);
        const a = l2('acme', 2, 1, { wrappedSovereign: sovereign });
        const b = l2('acme', 1);
        await ksi.tx(async (tx) => {
          await tx.insertIvk(ivk(1));
          await tx.insertIvk(ivk(2, 'GRACE'));
          await tx.putTenant(tenant('acme'));
          await tx.putTenant(tenant('other'));
          await tx.insertL2(a);
          await tx.insertL2(b);
          await tx.insertL2(l2('other', 1));
        });
        expect(await ksi.read((tx) => tx.listL2('acme'))).toEqual([b, a]);
        const rewrapped = { ...b, ivkVersion: 2, wrappedActive: randomBytes(60), wrappedSovereign: randomBytes(70) };
        await ksi.tx((tx) => tx.updateL2(rewrapped));
        expect(await ksi.read((tx) => tx.listL2('acme'))).toEqual([rewrapped, a]);
        expect(await ksi.read((tx) => tx.listL2('nobody'))).toEqual([]);
      });

      it('scope rows round-trip with their deleted flag and list by tenant or all', async () => {
        await ksi.tx(async (tx) => {
          await tx.putTenant(tenant('acme'));
          await tx.putTenant(tenant('beta'));
          await tx.putScope(scope('beta', 'x'));
          await tx.putScope(scope('acme', 'orders', { rotateAfterSeconds: 86_400 }));
          await tx.putScope(scope('acme', 'billing'));
        });
        await ksi.tx((tx) => tx.putScope(scope('acme', 'billing', { deleted: true })));
        expect(await ksi.read((tx) => tx.getScope('acme', 'billing'))).toEqual(
          scope('acme', 'billing', { deleted: true }),
        );
        expect(await ksi.read((tx) => tx.getScope('acme', 'orders'))).toEqual(
          scope('acme', 'orders', { rotateAfterSeconds: 86_400 }),
        );
        expect((await ksi.read((tx) => tx.listScopes())).map((s) => `${s.tenant}/${s.service}`)).toEqual([
          'acme/billing',
          'acme/orders',
          'beta/x',
        ]);
        expect((await ksi.read((tx) => tx.listScopes('beta'))).map((s) => s.service)).toEqual(['x']);
        expect(await ksi.read((tx) => tx.getScope('acme', 'nope'))).toBeNull();
      });

      it('L3 rows round-trip, list ascending, and update replaces one', async () => {
        const v1 = l3('acme', 'billing', 1, 'DECRYPT_ONLY');
        const v2 = l3('acme', 'billing', 2, 'ACTIVE');
        await ksi.tx(async (tx) => {
          await seed(tx);
          await tx.insertL3(v2);
          await tx.insertL3(v1);
        });
        expect(await ksi.read((tx) => tx.listL3('acme', 'billing'))).toEqual([v1, v2]);
        const revoked = { ...v1, state: 'REVOKED' as const, updatedAt: T0 + 99 };
        await ksi.tx((tx) => tx.updateL3(revoked));
        expect(await ksi.read((tx) => tx.listL3('acme', 'billing'))).toEqual([revoked, v2]);
      });

      it('replacing a row that does not exist fails and changes nothing', async () => {
        await ksi.tx(seed);
        const before = await snapshot(ksi);
        await expect(ksi.tx((tx) => tx.updateIvk(ivk(9, 'GRACE')))).rejects.toEqual(internal);
        await expect(ksi.tx((tx) => tx.updateL2(l2('acme', 9)))).rejects.toEqual(internal);
        await expect(ksi.tx((tx) => tx.updateL3(l3('acme', 'billing', 9)))).rejects.toEqual(internal);
        expect(await snapshot(ksi)).toEqual(before);
      });
    });

    describe('transactions', () => {
      it('a tx that throws is rolled back entirely and its error passes through unchanged', async () => {
        const boom = new Error('caller failure');
        await expect(
          ksi.tx(async (tx) => {
            await seed(tx);
            await tx.insertL3(l3('acme', 'billing', 1));
            await tx.appendEvent({
              type: 'x',
              tenant: null,
              service: null,
              version: null,
              payload: '{}',
              createdAt: T0,
            });
            await tx.appendAudit({ actor: 'admin', action: 'a', target: 't', outcome: 'ok' });
            throw boom;
          }),
        ).rejects.toBe(boom);
        const s = await snapshot(ksi);
        expect(s).toEqual({ master: null, ivks: [], tenants: [], l2: [], scopes: [], l3: [], events: [], audit: [] });
      });

      it('a tx that swallows a failed statement is still rolled back', async () => {
        await ksi.tx((tx) => tx.insertIvk(ivk(1)));
        await expect(
          ksi.tx(async (tx) => {
            await tx.putTenant(tenant('acme'));
            await tx.insertIvk(ivk(1)).catch(() => undefined); // duplicate key, ignored by a careless caller
            return 'done';
          }),
        ).rejects.toEqual(internal);
        expect(await ksi.read((tx) => tx.listTenants())).toEqual([]);
      });

      it('a tx object used after its transaction ended is refused', async () => {
        let leaked: KsiTx | undefined;
        await ksi.tx(async (tx) => {
          leaked = tx;
        });
        await expect(leaked!.putTenant(tenant('late'))).rejects.toEqual(internal);
        expect(await ksi.read((tx) => tx.listTenants())).toEqual([]);
      });

      it('a tx started inside another tx of the same store fails instead of deadlocking', async () => {
        await expect(ksi.tx(async () => ksi.tx(async () => 1))).rejects.toEqual(internal);
        expect(await ksi.tx(async () => 2)).toBe(2);
      });

      it('read refuses writes', async () => {
        await expect(ksi.read((tx) => tx.putTenant(tenant('acme')))).rejects.toEqual(internal);
        expect(await ksi.read((tx) => tx.listTenants())).toEqual([]);
        await ksi.tx((tx) => tx.putTenant(tenant('acme'))); // and the store still takes writes afterwards
        expect(await ksi.read((tx) => tx.listTenants())).toHaveLength(1);
      });

      it('20 concurrent read-modify-write increments of wrapCount serialize without losing one', async () => {
        await ksi.tx((tx) => tx.insertIvk(ivk(1)));
        const results = await Promise.all(
          Array.from({ length: 20 }, () =>
            ksi.tx(async (tx) => {
              const row = (await tx.getIvk(1))!;
              await new Promise((r) => setTimeout(r, Math.random() * 3)); // invite interleaving
              await tx.updateIvk({ ...row, wrapCount: row.wrapCount + 1 });
              return row.wrapCount + 1;
            }),
          ),
        );
        expect((await ksi.read((tx) => tx.getIvk(1)))?.wrapCount).toBe(20);
        expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      });

      it('storage errors are INTERNAL and never quote the key bytes', async () => {
        const row = ivk(1);
        await ksi.tx((tx) => tx.insertIvk(row));
        const err = await ksi
          .tx((tx) => tx.insertIvk(row))
          .then(
            () => new Error('no error'),
            (e: unknown) => e as Error,
          );
        expect(err).toEqual(internal);
        for (const enc of ['hex', 'base64'] as const) {
          expect(err.message).not.toContain(row.wrapped.toString(enc).slice(0, 16));
          expect(err.message).not.toContain(row.mac.toString(enc).slice(0, 16));
        }
      });
    });

    describe('schema invariants', () => {
      it('refuses a second ACTIVE IVK and the whole tx changes nothing', async () => {
        await ksi.tx((tx) => tx.insertIvk(ivk(1)));
        const before = await snapshot(ksi);
        await expect(
          ksi.tx(async (tx) => {
            await tx.putTenant(tenant('acme'));
            await tx.insertIvk(ivk(2, 'ACTIVE'));
          }),
        ).rejects.toEqual(internal);
        expect(await snapshot(ksi)).toEqual(before);
        // Promoting an existing version while another is ACTIVE is refused too.
        await ksi.tx((tx) => tx.insertIvk(ivk(2, 'GRACE')));
        await expect(ksi.tx((tx) => tx.updateIvk(ivk(2, 'ACTIVE')))).rejects.toEqual(internal);
        expect((await ksi.read((tx) => tx.listIvks())).filter((r) => r.state === 'ACTIVE')).toHaveLength(1);
      });

      it('refuses a second ACTIVE L3 version in a scope but allows one per scope', async () => {
        await ksi.tx(async (tx) => {
          await seed(tx);
          await tx.putScope(scope('acme', 'orders'));
          await tx.insertL3(l3('acme', 'billing', 1));
          await tx.insertL3(l3('acme', 'orders', 1));
        });
        const before = await snapshot(ksi);
        await expect(ksi.tx((tx) => tx.insertL3(l3('acme', 'billing', 2, 'ACTIVE')))).rejects.toEqual(internal);
        expect(await snapshot(ksi)).toEqual(before);
        // Any number of DECRYPT_ONLY and REVOKED versions may coexist.
        await ksi.tx(async (tx) => {
          await tx.insertL3(l3('acme', 'billing', 2, 'DECRYPT_ONLY'));
          await tx.insertL3(l3('acme', 'billing', 3, 'DECRYPT_ONLY'));
          await tx.insertL3(l3('acme', 'billing', 4, 'REVOKED'));
        });
        expect(await ksi.read((tx) => tx.listL3('acme', 'billing'))).toHaveLength(4);
      });

      it('rotates in one tx: old ACTIVE becomes DECRYPT_ONLY and the new version is ACTIVE', async () => {
        const v1 = l3('acme', 'billing', 1);
        await ksi.tx(async (tx) => {
          await seed(tx);
          await tx.insertL3(v1);
        });
        const v2 = l3('acme', 'billing', 2);
        await ksi.tx(async (tx) => {
          const active = (await tx.listL3('acme', 'billing')).find((r) => r.state === 'ACTIVE')!;
          await tx.updateL3({ ...active, state: 'DECRYPT_ONLY', updatedAt: T0 + 10 });
          await tx.insertL3(v2);
          await tx.appendEvent({
            type: 'l3.rotate',
            tenant: 'acme',
            service: 'billing',
            version: 2,
            payload: '{}',
            createdAt: T0,
          });
        });
        expect(await ksi.read((tx) => tx.listL3('acme', 'billing'))).toEqual([
          { ...v1, state: 'DECRYPT_ONLY', updatedAt: T0 + 10 },
          v2,
        ]);
        // The same for the IVK.
        await ksi.tx(async (tx) => {
          const old = (await tx.getIvk(1))!;
          await tx.updateIvk({ ...old, state: 'GRACE', graceUntil: T0 + 1000 });
          await tx.insertIvk(ivk(2));
        });
        expect((await ksi.read((tx) => tx.listIvks())).map((r) => r.state)).toEqual(['GRACE', 'ACTIVE']);
      });

      it('refuses unknown state values', async () => {
        await expect(ksi.tx((tx) => tx.insertIvk(ivk(1, 'BOGUS' as IvkRow['state'])))).rejects.toEqual(internal);
        await expect(
          ksi.tx((tx) => tx.putTenant(tenant('a', { state: 'BOGUS' as TenantRow['state'] }))),
        ).rejects.toEqual(internal);
        await ksi.tx(seed);
        await expect(ksi.tx((tx) => tx.insertL3(l3('acme', 'billing', 1, 'BOGUS' as L3Row['state'])))).rejects.toEqual(
          internal,
        );
        await expect(
          ksi.tx((tx) =>
            tx.appendAudit({ actor: 'a', action: 'b', target: 'c', outcome: 'maybe' as AuditRow['outcome'] }),
          ),
        ).rejects.toEqual(internal);
      });

      it('refuses rows whose references do not exist, checked at commit so order within a tx is free', async () => {
        await expect(ksi.tx((tx) => tx.insertL2(l2('ghost', 1)))).rejects.toEqual(internal);
        await expect(
          ksi.tx(async (tx) => {
            await tx.putTenant(tenant('acme'));
            await tx.putScope(scope('acme', 'billing'));
            await tx.insertL3(l3('acme', 'billing', 1)); // its L2 1 never comes
          }),
        ).rejects.toEqual(internal);
        expect(await snapshot(ksi)).toMatchObject({ tenants: [], scopes: [], l3: [] });
        // Children before parents, in one tx, is fine.
        await ksi.tx(async (tx) => {
          await tx.insertL3(l3('acme', 'billing', 1));
          await tx.putScope(scope('acme', 'billing'));
          await tx.insertL2(l2('acme', 1));
          await tx.putTenant(tenant('acme'));
          await tx.insertIvk(ivk(1));
        });
        expect(await ksi.read((tx) => tx.listL3('acme', 'billing'))).toHaveLength(1);
      });
    });

    describe('events', () => {
      const ev = (i: number) => ({
        type: i % 2 ? 'l3.rotate' : 'l3.revoke',
        tenant: i % 3 ? 'acme' : null,
        service: i % 3 ? 'billing' : null,
        version: i % 3 ? i : null,
        payload: JSON.stringify({ i, note: 'ü\u0001' }),
        createdAt: T0 + i,
      });

      it('get monotonic epochs from 1, with no gap left by a rolled-back append', async () => {
        expect(await ksi.tx((tx) => tx.appendEvent(ev(1)))).toBe(1);
        await expect(
          ksi.tx(async (tx) => {
            await tx.appendEvent(ev(2));
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        const epochs = await ksi.tx(async (tx) => [await tx.appendEvent(ev(3)), await tx.appendEvent(ev(4))]);
        expect(epochs).toEqual([2, 3]);
        expect(await ksi.read((tx) => tx.lastEpoch())).toBe(3);
        const all = await ksi.read((tx) => tx.eventsSince(0, 10));
        expect(all).toEqual([
          { epoch: 1, ...ev(1) },
          { epoch: 2, ...ev(3) },
          { epoch: 3, ...ev(4) },
        ]);
      });

      it('eventsSince pages through every event exactly once, in order', async () => {
        await ksi.tx(async (tx) => {
          for (let i = 1; i <= 25; i++) await tx.appendEvent(ev(i));
        });
        const seen: number[] = [];
        let since = 0;
        for (;;) {
          const page = await ksi.read((tx) => tx.eventsSince(since, 7));
          if (page.length === 0) break;
          expect(page.length).toBeLessThanOrEqual(7);
          seen.push(...page.map((e) => e.epoch));
          since = page[page.length - 1].epoch;
        }
        expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
        expect(await ksi.read((tx) => tx.eventsSince(25, 7))).toEqual([]);
        expect(await ksi.read((tx) => tx.eventsSince(10, 0))).toEqual([]);
        expect((await ksi.read((tx) => tx.eventsSince(24, 100))).map((e) => e.payload)).toEqual([ev(25).payload]);
      });
    });

    describe('Orbital tables', () => {
      const row = (i: number, type = 'Key.Define') => ({ id: `e${i}`, type, body: `{"i":${i}}`, createdAt: T0 + i });

      it('keep the outbox in order; a rolled-back enqueue leaves nothing; sent rows are marked once', async () => {
        await ksi.tx(async (tx) => {
          await tx.enqueueOutbox(row(1));
          await tx.enqueueOutbox(row(2, 'State.Manifest'));
        });
        await expect(
          ksi.tx(async (tx) => {
            await tx.enqueueOutbox(row(3));
            throw new Error('abort');
          }),
        ).rejects.toThrow('abort');
        await ksi.tx((tx) => tx.enqueueOutbox(row(4, 'State.Manifest')));
        expect(await ksi.read((tx) => tx.unsentOutbox(10))).toEqual([
          { id: 'e1', body: '{"i":1}' },
          { id: 'e2', body: '{"i":2}' },
          { id: 'e4', body: '{"i":4}' },
        ]);
        await expect(ksi.tx((tx) => tx.enqueueOutbox(row(1)))).rejects.toMatchObject({ code: 'INTERNAL' });
        expect(await ksi.tx((tx) => tx.markOutboxSent('e1', T0 + 10))).toBe(true);
        expect(await ksi.tx((tx) => tx.markOutboxSent('e1', T0 + 11))).toBe(false);
        expect(await ksi.tx((tx) => tx.discardUnsentOutbox('State.Manifest'))).toBe(2);
        expect(await ksi.read((tx) => tx.countUnsentOutbox())).toBe(0);
        expect(await ksi.read((tx) => tx.listOutbox(10))).toEqual([
          { id: 'e1', type: 'Key.Define', createdAt: T0 + 1, sentAt: T0 + 10 },
        ]);
        expect(await ksi.tx((tx) => tx.pruneOutbox(T0 + 11))).toBe(1);
      });

      it('remember handled event ids per consumer, and named marks', async () => {
        expect(await ksi.tx((tx) => tx.markProcessed('core', 'e1', T0))).toBe(true);
        expect(await ksi.tx((tx) => tx.markProcessed('core', 'e1', T0 + 1))).toBe(false);
        expect(await ksi.tx((tx) => tx.markProcessed('registry', 'e1', T0))).toBe(true);
        expect(await ksi.read((tx) => tx.hasProcessed('core', 'e1'))).toBe(true);
        expect(await ksi.read((tx) => tx.hasProcessed('core', 'e2'))).toBe(false);
        expect(await ksi.tx((tx) => tx.pruneProcessed(T0 + 1))).toBe(2);
        expect(await ksi.read((tx) => tx.getMark('deadman'))).toBeNull();
        await ksi.tx((tx) => tx.putMark('deadman', T0 * 2));
        await ksi.tx((tx) => tx.putMark('deadman', T0 * 3));
        expect(await ksi.read((tx) => tx.getMark('deadman'))).toBe(T0 * 3);
      });
    });

    describe('audit log', () => {
      const entry = (i: number) => ({
        actor: i % 2 ? 'spiffe://krypton/gw' : 'admin',
        action: 'l3.rotate',
        target: `acme/billing@${i}`,
        outcome: 'ok' as const,
        ...(i % 3 ? { details: { i, nested: { z: 1, a: [1, 'two', null] }, when: new Date(T0) } } : {}),
      });

      it('chains rows: seq from 1, each prevHash is the previous hash, and the chain verifies', async () => {
        const appended: AuditRow[] = [];
        for (let i = 1; i <= 12; i++) appended.push(await ksi.tx((tx) => tx.appendAudit(entry(i), T0 + i)));
        expect(appended.map((r) => r.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
        expect(appended[0].prevHash).toBe('');
        for (let i = 1; i < 12; i++) expect(appended[i].prevHash).toBe(appended[i - 1].hash);
        const stored = await ksi.read((tx) => tx.auditSince(0, 100));
        expect(stored).toEqual(appended); // what append returned is what reads back
        expect(stored[1].details).toEqual({
          i: 2,
          nested: { z: 1, a: [1, 'two', null] },
          when: new Date(T0).toISOString(),
        });
        expect(stored[2]).not.toHaveProperty('details');
        expect(verifyAuditChain(stored)).toMatchObject({ ok: true, count: 12 });
        expect(await verifyAudit(ksi, 5)).toMatchObject({ ok: true, count: 12 });
        expect(await ksi.read((tx) => tx.auditSince(10, 100))).toEqual(appended.slice(10));
      });

      it('detects a tampered copy at the tampered seq', async () => {
        await ksi.tx(async (tx) => {
          for (let i = 1; i <= 6; i++) await tx.appendAudit(entry(i), T0 + i);
        });
        const rows = await ksi.read((tx) => tx.auditSince(0, 100));
        const copy = (): AuditRow[] => rows.map((r) => structuredClone(r));

        const edited = copy();
        edited[3].outcome = 'denied';
        expect(verifyAuditChain(edited)).toMatchObject({ ok: false, brokenAt: 4 });

        const rehashed = copy(); // a forger who recomputes the edited row's hash breaks the next link
        rehashed[3].target = 'evil';
        const { auditHash } = await import('../../../src/storage/ksi/audit-hash.js');
        rehashed[3].hash = auditHash(rehashed[3].prevHash, rehashed[3]);
        expect(verifyAuditChain(rehashed)).toMatchObject({ ok: false, brokenAt: 5 });

        const dropped = copy();
        dropped.splice(2, 1);
        expect(verifyAuditChain(dropped)).toMatchObject({ ok: false, brokenAt: 4 });

        const detailEdit = copy();
        detailEdit[0].details = { i: 999 };
        expect(verifyAuditChain(detailEdit)).toMatchObject({ ok: false, brokenAt: 1 });
      });

      it('appends from concurrent transactions form one unbroken chain', async () => {
        await Promise.all(Array.from({ length: 15 }, (_, i) => ksi.tx((tx) => tx.appendAudit(entry(i)))));
        expect(await verifyAudit(ksi)).toMatchObject({ ok: true, count: 15 });
      });

      if (hooks) {
        it('refuses UPDATE and DELETE of audit rows, even from raw SQL', async () => {
          await ksi.tx(async (tx) => {
            await tx.appendAudit(entry(1));
            await tx.appendAudit(entry(2));
          });
          const before = await ksi.read((tx) => tx.auditSince(0, 10));
          await expect(hooks.rawExec(ksi, `UPDATE audit SET outcome = 'denied' WHERE seq = 1`)).rejects.toThrow(
            /append-only/,
          );
          await expect(hooks.rawExec(ksi, `DELETE FROM audit WHERE seq = 2`)).rejects.toThrow(/append-only/);
          await expect(hooks.rawExec(ksi, `DELETE FROM audit`)).rejects.toThrow(/append-only/);
          expect(await ksi.read((tx) => tx.auditSince(0, 10))).toEqual(before);
        });

        it('detects a row tampered with raw SQL (triggers dropped) at its seq', async () => {
          await ksi.tx(async (tx) => {
            for (let i = 1; i <= 5; i++) await tx.appendAudit(entry(i), T0 + i);
          });
          expect(await verifyAudit(ksi, 2)).toMatchObject({ ok: true, count: 5 });
          for (const sql of hooks.dropAuditTriggers) await hooks.rawExec(ksi, sql);
          await hooks.rawExec(ksi, `UPDATE audit SET actor = 'someone-else' WHERE seq = 3`);
          expect(await verifyAudit(ksi, 2)).toMatchObject({ ok: false, brokenAt: 3 });
          await hooks.rawExec(ksi, `UPDATE audit SET actor = 'spiffe://krypton/gw' WHERE seq = 3`);
          await hooks.rawExec(ksi, `DELETE FROM audit WHERE seq = 4`);
          expect(await verifyAudit(ksi, 2)).toMatchObject({ ok: false, brokenAt: 5 });
        });
      }
    });

    describe('lifecycle', () => {
      it('after close, ping is false and transactions are refused', async () => {
        await ksi.tx((tx) => tx.putTenant(tenant('acme')));
        await ksi.close();
        expect(await ksi.ping()).toBe(false);
        await expect(ksi.tx((tx) => tx.listTenants())).rejects.toEqual(internal);
        await ksi.close(); // idempotent, so destroy may close again
      });
    });
  });
}
