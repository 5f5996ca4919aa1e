import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAudit } from '../../src/storage/ksi/audit-hash.js';
import type { Ksi } from '../../src/storage/ksi/ksi.js';
import { PostgresKsi } from '../../src/storage/ksi/postgres-ksi.js';
import { defineKsiSuite, ivk } from './ksi/ksi-suite.js';

/**
 * Runs the KSI suite against a real PostgreSQL. Unreachable PostgreSQL is a
 * failure (beforeAll throws), not a skip, unless KRYPTON_SKIP_PG=1. Every
 * store lives in its own fresh schema, dropped afterwards.
 */
const URL = process.env.KRYPTON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SKIP = process.env.KRYPTON_SKIP_PG === '1';

const schemas = new WeakMap<Ksi, string>();
const created = new Set<string>();

async function admin<T>(fn: (c: pg.Client) => Promise<T>, schema?: string): Promise<T> {
  const c = new pg.Client({
    connectionString: URL,
    connectionTimeoutMillis: 5000,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function makeKsi(schema = `ksi_test_${randomBytes(6).toString('hex')}`): Promise<PostgresKsi> {
  created.add(schema);
  const ksi = new PostgresKsi({ connectionString: URL, schema });
  schemas.set(ksi, schema);
  await ksi.init();
  return ksi;
}

async function destroy(ksi: Ksi): Promise<void> {
  await ksi.close();
  const schema = schemas.get(ksi);
  if (schema) {
    await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
    created.delete(schema);
  }
}

(SKIP ? describe.skip : describe)('PostgresKsi', () => {
  beforeAll(async () => {
    // Fails the file, loudly, when PostgreSQL is not there.
    await admin((c) => c.query('SELECT 1'));
  });
  afterAll(async () => {
    for (const schema of created) await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
  });

  defineKsiSuite('postgres', makeKsi, destroy, {
    rawExec: async (ksi, sql) => {
      await admin((c) => c.query(sql), schemas.get(ksi));
    },
    dropAuditTriggers: ['DROP TRIGGER audit_no_update_delete ON audit', 'DROP TRIGGER audit_no_truncate ON audit'],
  });

  describe('PostgreSQL specifics', () => {
    it('refuses TRUNCATE of the audit table', async () => {
      const ksi = await makeKsi();
      try {
        await ksi.tx((tx) => tx.appendAudit({ actor: 'admin', action: 'a', target: 't', outcome: 'ok' }));
        await expect(admin((c) => c.query('TRUNCATE audit'), schemas.get(ksi))).rejects.toThrow(/append-only/);
        expect(await verifyAudit(ksi)).toMatchObject({ ok: true, count: 1 });
      } finally {
        await destroy(ksi);
      }
    });

    it('stores blobs as BYTEA and times as BIGINT', async () => {
      const ksi = await makeKsi();
      try {
        const types = await admin(
          (c) =>
            c.query<{ column_name: string; data_type: string }>(
              `SELECT column_name, data_type FROM information_schema.columns
               WHERE table_schema = $1 AND table_name = 'ivk_versions' ORDER BY column_name`,
              [schemas.get(ksi)],
            ),
          schemas.get(ksi),
        );
        const byName = Object.fromEntries(types.rows.map((r) => [r.column_name, r.data_type]));
        expect(byName).toMatchObject({ wrapped: 'bytea', mac: 'bytea', created_at: 'bigint', hard_expiry: 'bigint' });
      } finally {
        await destroy(ksi);
      }
    });

    it('two stores on one database (two Cores) retry serialization failures and lose no increment', async () => {
      const a = await makeKsi();
      const schema = schemas.get(a)!;
      const b = new PostgresKsi({ connectionString: URL, schema });
      await b.init(); // a second init on an existing schema is harmless
      try {
        await a.tx((tx) => tx.insertIvk(ivk(1)));
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? a : b).tx(async (tx) => {
              const row = (await tx.getIvk(1))!;
              await new Promise((r) => setTimeout(r, Math.random() * 5));
              await tx.updateIvk({ ...row, wrapCount: row.wrapCount + 1 });
              await tx.appendAudit({ actor: 'system', action: 'ivk.wrap', target: 'ivk@1', outcome: 'ok' });
              await tx.appendEvent({
                type: 'e',
                tenant: null,
                service: null,
                version: null,
                payload: '{}',
                createdAt: 1,
              });
            }),
          ),
        );
        expect((await a.read((tx) => tx.getIvk(1)))?.wrapCount).toBe(20);
        expect(await verifyAudit(b)).toMatchObject({ ok: true, count: 20 });
        expect((await b.read((tx) => tx.eventsSince(0, 100))).map((e) => e.epoch)).toEqual(
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
      } finally {
        await b.close();
        await destroy(a);
      }
    });

    it('a store whose server is unreachable fails with INTERNAL and ping is false', async () => {
      const ksi = new PostgresKsi({
        connectionString: 'postgres://postgres@127.0.0.1:1/postgres',
        connectionTimeoutMs: 1000,
      });
      try {
        expect(await ksi.ping()).toBe(false);
        await expect(ksi.init()).rejects.toMatchObject({ code: 'INTERNAL' });
      } finally {
        await ksi.close();
      }
    });
  });
});
