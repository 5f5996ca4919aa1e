import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { MSGPACK_TYPE } from '../../src/http/index.js';
import { HpkeRecipient } from '../../src/native/index.js';
import { newLeaseRequest } from '../../src/protocol/lease.js';
import type { AuditRow } from '../../src/storage/ksi/ksi.js';
import { GATEWAY, openTestCore } from './core-fixture.js';
import { cli, launch, startCoreProcess, type CoreProcess } from './process-fixture.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });

describe('audit log', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('a request that cannot be audited fails, and changes nothing', async () => {
    const t = await openTestCore();
    cleanups.push(t.cleanup);
    const { core, dir } = t;
    await core.init();
    await core.onboardTenant('acme');
    await core.defineScope('acme', 'billing');
    // Make the audit table refuse every insert, as a full disk or a revoked grant would.
    const db = new Database(join(dir, 'ksi.db'));
    db.exec("CREATE TRIGGER audit_refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'no audit'); END");
    db.close();
    const recipientKey = HpkeRecipient.generate().publicKey;
    await expect(core.issueLease(GATEWAY, newLeaseRequest('acme', 'billing', recipientKey))).rejects.toThrow(
      code('INTERNAL'),
    );
    await expect(core.rotate('acme', 'billing')).rejects.toThrow(code('INTERNAL'));
    const versions = await core.ksi.read((tx) => tx.listL3('acme', 'billing'));
    expect(versions.map((v) => [v.version, v.state])).toEqual([[1, 'ACTIVE']]);
    expect(await core.events.lastEpoch()).toBe(0);
  });

  it('`krypton core audit` verifies the chain, and names the first row that was tampered with', async () => {
    const core = await startCoreProcess();
    cleanups.push(core.cleanup);
    const admin = ['admin', '--core', core.url, '--pki', core.pki];
    cli([...admin, 'tenant', 'acme']);
    cli([...admin, 'scope', 'acme', 'billing']);
    cli([...admin, 'rotate', 'acme', 'billing']);
    // Through the running, unsealed Core: the keyed links need its audit key, which never leaves it.
    const ok = cli(['core', 'audit', '--core', core.url, '--pki', core.pki]);
    expect(ok.status, ok.stderr).toBe(0);
    const verdict = JSON.parse(ok.stdout) as { ok: boolean; count: number };
    expect(verdict.ok).toBe(true);
    expect(verdict.count).toBeGreaterThanOrEqual(6);

    await core.stop();
    const db = new Database(join(core.dir, 'state', 'ksi.db'));
    db.exec('DROP TRIGGER audit_no_update');
    db.prepare("UPDATE audit SET actor = 'someone-else' WHERE seq = 3").run();
    db.close();
    const again = await launch(core);
    cleanups.push(again.stop);
    const bad = cli(['core', 'audit', '--core', again.url, '--pki', core.pki]);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, brokenAt: 3 });
  });
});

/** The audit rows a Core process wrote so far (read from its SQLite KSI beside it). */
function auditRows(
  core: CoreProcess,
): (Pick<AuditRow, 'actor' | 'action' | 'target' | 'outcome'> & { details: Record<string, unknown> })[] {
  const db = new Database(join(core.dir, 'state', 'ksi.db'), { readonly: true });
  try {
    const rows = db.prepare('SELECT actor, action, target, outcome, details FROM audit ORDER BY seq').all() as {
      actor: string;
      action: string;
      target: string;
      outcome: AuditRow['outcome'];
      details: string | null;
    }[];
    return rows.map((r) => ({
      ...r,
      details: r.details === null ? {} : (JSON.parse(r.details) as Record<string, unknown>),
    }));
  } finally {
    db.close();
  }
}

const ADMIN = 'spiffe://krypton.dev/admin';

describe('audit rows that miss nothing (review L4)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  it('seal and unseal are audited, taken or refused, with who did it and never a share', async () => {
    const t = await openTestCore();
    cleanups.push(t.cleanup);
    const { core } = t;
    const shares = await core.init();
    const before = (await core.ksi.read((tx) => tx.auditSince(0, 1000))).length;

    await core.sealBy(ADMIN);
    const forged = Buffer.from(shares[0]);
    forged[5] ^= 1;
    await expect(core.unseal([forged, shares[1], shares[2]], ADMIN)).rejects.toThrow(/do not reconstruct/);
    await expect(core.unseal([Buffer.alloc(12)], ADMIN)).rejects.toThrow(/33 bytes/);
    expect((await core.unseal([shares[3]], ADMIN)).progress).toBe(1);
    expect((await core.unseal([shares[4], shares[1]], ADMIN)).sealed).toBe(false);

    const rows = (await core.ksi.read((tx) => tx.auditSince(0, 1000))).slice(before);
    expect(rows.map((r) => [r.actor, r.action, r.outcome, r.details?.code ?? null])).toEqual([
      [ADMIN, 'master.seal', 'ok', null],
      [ADMIN, 'master.unseal', 'denied', 'BAD_REQUEST'],
      [ADMIN, 'master.unseal', 'denied', 'BAD_REQUEST'],
      [ADMIN, 'master.unseal', 'ok', null],
      [ADMIN, 'master.unseal', 'ok', null],
    ]);
    expect(rows.at(-1)!.details).toMatchObject({ sealed: false, submitted: 2 });
    const text = JSON.stringify(rows);
    for (const s of [...shares, forged]) {
      expect(text).not.toContain(s.toString('base64'));
      expect(text).not.toContain(s.toString('hex'));
    }
  });

  it('a seal stands even when it cannot be audited, and says so; an unseal that cannot be audited does not stand', async () => {
    const t = await openTestCore();
    cleanups.push(t.cleanup);
    const { core, dir } = t;
    const shares = await core.init();
    const db = new Database(join(dir, 'ksi.db'));
    db.exec("CREATE TRIGGER audit_refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'no audit'); END");
    await expect(core.sealBy(ADMIN)).rejects.toThrow();
    expect(core.sealStatus().sealed).toBe(true);
    await expect(core.unseal(shares.slice(0, 3), ADMIN)).rejects.toThrow();
    expect(core.sealStatus().sealed).toBe(true);
    db.exec('DROP TRIGGER audit_refuse');
    db.close();
    expect((await core.unseal(shares.slice(0, 3), ADMIN)).sealed).toBe(false);
  });

  it('every redefinition of a scope is audited: its policy change, and an un-delete', async () => {
    const t = await openTestCore();
    cleanups.push(t.cleanup);
    const { core } = t;
    await core.init();
    await core.onboardTenant('acme');
    await core.defineScope('acme', 'billing', null, ADMIN);
    await core.defineScope('acme', 'billing', 3600, ADMIN); // policy change
    await core.l3.remove('acme', 'billing', { purge: false });
    await core.defineScope('acme', 'billing', 3600, ADMIN); // un-delete
    await core.l3.remove('acme', 'billing', { purge: true });
    await core.defineScope('acme', 'billing', null, ADMIN); // back after a purge, with a new version
    const rows = (await core.ksi.read((tx) => tx.auditSince(0, 1000))).filter((r) => r.action.startsWith('scope.'));
    expect(rows.map((r) => [r.action, r.target, r.details])).toEqual([
      ['scope.define', 'acme/billing', { rotateAfterSeconds: null, version: 1 }],
      [
        'scope.redefine',
        'acme/billing',
        { rotateAfterSeconds: 3600, previousRotateAfterSeconds: null, undeleted: false },
      ],
      ['scope.delete', 'acme/billing', { revoked: 0 }],
      [
        'scope.redefine',
        'acme/billing',
        { rotateAfterSeconds: 3600, previousRotateAfterSeconds: 3600, undeleted: true },
      ],
      ['scope.purge', 'acme/billing', { revoked: 1 }],
      [
        'scope.redefine',
        'acme/billing',
        { rotateAfterSeconds: null, previousRotateAfterSeconds: 3600, undeleted: true, version: 2 },
      ],
    ]);
    expect(
      rows.filter((r) => r.action !== 'scope.delete' && r.action !== 'scope.purge').every((r) => r.actor === ADMIN),
    ).toBe(true);
    const versions = await core.ksi.read((tx) => tx.listL3('acme', 'billing'));
    expect(versions.map((v) => [v.version, v.state])).toEqual([
      [1, 'REVOKED'],
      [2, 'ACTIVE'],
    ]);
  });

  it('through the API: refused admin requests (any identity, any refusal), seal and unseal are audited', async () => {
    const core = await startCoreProcess({ gateways: { 'spiffe://krypton.dev/gateway/default': ['acme'] } });
    cleanups.push(core.cleanup);
    const issued = cli([
      'pki',
      'issue',
      '--dir',
      core.pki,
      '--name',
      'stranger',
      '--spiffe',
      'spiffe://krypton.dev/stranger',
      '--client',
    ]);
    expect(issued.status, issued.stderr).toBe(0);
    const admin = core.client('admin');
    const gateway = core.client('gateway');
    const stranger = core.client('stranger');
    const refused = async (p: Promise<unknown>, c: string) =>
      expect(p).rejects.toThrow(expect.objectContaining({ code: c }));

    await refused(gateway.request('POST', '/v1/admin/tenants/acme'), 'FORBIDDEN'); // a Gateway on an admin route
    await refused(stranger.request('POST', '/v1/admin/seal'), 'FORBIDDEN'); // an identity the Core does not know
    // refused by the Core itself
    await refused(admin.request('POST', '/v1/admin/tenants/acme/services/billing/rotate'), 'UNKNOWN_SERVICE');
    await refused(admin.request('POST', '/v1/admin/tenants/acme/services/bad%20id'), 'BAD_REQUEST');
    await admin.request('POST', '/v1/admin/seal');
    await refused(admin.request('POST', '/v1/admin/tenants/acme'), 'SEALED');
    const { shares } = JSON.parse((await import('node:fs')).readFileSync(core.unsealFile, 'utf8')) as {
      shares: string[];
    };
    await admin.request(
      'POST',
      '/v1/admin/unseal',
      { shares: shares.slice(0, 3).map((s) => Buffer.from(s, 'base64')) },
      { contentType: MSGPACK_TYPE },
    );
    // Not an admin route: a Gateway's refused lease has its own row (lease.issue denied), not admin.refused.
    await refused(
      gateway.request('POST', '/v1/leases', newLeaseRequest('globex', 'app', HpkeRecipient.generate().publicKey), {
        contentType: MSGPACK_TYPE,
      }),
      'FORBIDDEN',
    );

    const rows = auditRows(core);
    const refusals = rows
      .filter((r) => r.action === 'admin.refused')
      .map((r) => [r.actor, r.target, r.outcome, r.details.code]);
    expect(refusals).toEqual([
      ['spiffe://krypton.dev/gateway/default', 'POST /v1/admin/tenants/:tenant', 'denied', 'FORBIDDEN'],
      ['spiffe://krypton.dev/stranger', 'POST /v1/admin/seal', 'denied', 'FORBIDDEN'],
      [ADMIN, 'POST /v1/admin/tenants/:tenant/services/:service/rotate', 'denied', 'UNKNOWN_SERVICE'],
      [ADMIN, 'POST /v1/admin/tenants/:tenant/services/:service', 'denied', 'BAD_REQUEST'],
      [ADMIN, 'POST /v1/admin/tenants/:tenant', 'denied', 'SEALED'],
    ]);
    expect(
      rows
        .filter((r) => r.action === 'master.seal' || r.action === 'master.unseal')
        .map((r) => [r.actor, r.action, r.outcome]),
    ).toEqual([
      ['system', 'master.unseal', 'ok'], // core run --unseal-file
      [ADMIN, 'master.seal', 'ok'],
      [ADMIN, 'master.unseal', 'ok'],
    ]);
  });
});
