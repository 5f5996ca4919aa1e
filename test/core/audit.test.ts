import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { HpkeRecipient } from '../../src/native/index.js';
import { GATEWAY, openTestCore } from './core-fixture.js';
import { cli, startCoreProcess } from './process-fixture.js';

const code = (c: string) => expect.objectContaining({ code: c });

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
    await expect(core.issueLease(GATEWAY, { tenant: 'acme', service: 'billing', recipientKey })).rejects.toThrow(code('INTERNAL'));
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
    const ok = cli(['core', 'audit', '--config', core.config]);
    expect(ok.status, ok.stderr).toBe(0);
    const verdict = JSON.parse(ok.stdout) as { ok: boolean; count: number };
    expect(verdict.ok).toBe(true);
    expect(verdict.count).toBeGreaterThanOrEqual(6);

    await core.stop();
    const db = new Database(join(core.dir, 'state', 'ksi.db'));
    db.exec('DROP TRIGGER audit_no_update');
    db.prepare("UPDATE audit SET actor = 'someone-else' WHERE seq = 3").run();
    db.close();
    const bad = cli(['core', 'audit', '--config', core.config]);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, brokenAt: 3 });
  });
});
