import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { Ksi } from '../../src/storage/ksi/ksi.js';
import { SqliteKsi } from '../../src/storage/ksi/sqlite-ksi.js';
import { defineKsiSuite, ivk, l2, l3, scope, tenant } from './ksi/ksi-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'krypton-ksi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = () => join(dir, `ksi-${++n}.db`);

async function makeKsi(): Promise<Ksi> {
  const ksi = new SqliteKsi(freshPath());
  await ksi.init();
  return ksi;
}

/** A second connection to the same file, as an operator with the sqlite3 shell would have. */
async function rawExec(ksi: Ksi, sql: string): Promise<void> {
  const db = new Database((ksi as SqliteKsi).path);
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

defineKsiSuite('sqlite (file)', makeKsi, (ksi) => ksi.close(), {
  rawExec,
  dropAuditTriggers: ['DROP TRIGGER audit_no_update', 'DROP TRIGGER audit_no_delete'],
});

defineKsiSuite('sqlite (:memory:)', async () => {
  const ksi = new SqliteKsi(':memory:');
  await ksi.init();
  return ksi;
});

describe('SqliteKsi durability', () => {
  it('runs with WAL, synchronous=FULL and foreign keys on', async () => {
    const ksi = await makeKsi();
    const db = (ksi as unknown as { db: Database.Database }).db;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
    await ksi.close();
  });

  it('a reopened file keeps every committed row and none of a rolled-back tx', async () => {
    const path = freshPath();
    const first = new SqliteKsi(path);
    await first.init();
    const wrapped = Buffer.from([0, 0xff, 0, 1, 2, 3]);
    await first.tx(async (tx) => {
      await tx.insertIvk({ ...ivk(1), wrapped });
      await tx.putTenant(tenant('acme'));
      await tx.insertL2(l2('acme', 1));
      await tx.putScope(scope('acme', 'billing'));
      await tx.insertL3(l3('acme', 'billing', 1));
      await tx.appendEvent({ type: 'e', tenant: null, service: null, version: null, payload: '{}', createdAt: 1 });
      await tx.appendAudit({ actor: 'admin', action: 'init', target: 'acme', outcome: 'ok' });
    });
    await first
      .tx(async (tx) => {
        await tx.putTenant(tenant('ghost'));
        throw new Error('abort');
      })
      .catch(() => undefined);
    await first.close();

    const again = new SqliteKsi(path);
    await again.init();
    const state = await again.read(async (tx) => ({
      ivk: await tx.getIvk(1),
      tenants: (await tx.listTenants()).map((t) => t.tenant),
      l3: await tx.listL3('acme', 'billing'),
      epoch: await tx.lastEpoch(),
      audit: await tx.auditSince(0, 10),
    }));
    expect(state.ivk?.wrapped.equals(wrapped)).toBe(true);
    expect(state.tenants).toEqual(['acme']);
    expect(state.l3).toHaveLength(1);
    expect(state.epoch).toBe(1);
    expect(state.audit).toHaveLength(1);
    await again.close();
  });

  it('two stores on one file (two processes) take turns through the file lock', async () => {
    const path = freshPath();
    const a = new SqliteKsi(path);
    await a.init();
    const b = new SqliteKsi(path);
    await b.init();
    await a.tx((tx) => tx.insertIvk(ivk(1)));
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).tx(async (tx) => {
          const row = (await tx.getIvk(1))!;
          await tx.updateIvk({ ...row, wrapCount: row.wrapCount + 1 });
        }),
      ),
    );
    expect((await b.read((tx) => tx.getIvk(1)))?.wrapCount).toBe(10);
    await a.close();
    await b.close();
  });
});
