import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openKsi } from '../../src/storage/ksi/open.js';

const dir = mkdtempSync(join(tmpdir(), 'krypton-ksi-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PG_URL = process.env.KRYPTON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

describe('openKsi', () => {
  it('opens and initializes SQLite from sqlite:<path>, a bare path, and sqlite::memory:', async () => {
    for (const url of [`sqlite:${join(dir, 'a.db')}`, join(dir, 'b.db'), 'sqlite::memory:']) {
      const ksi = await openKsi(url);
      expect(ksi.kind).toBe('sqlite');
      expect(await ksi.read((tx) => tx.lastEpoch())).toBe(0);
      await ksi.close();
    }
  });

  (process.env.KRYPTON_SKIP_PG === '1' ? it.skip : it)(
    'opens PostgreSQL from postgres:// with a schema parameter, creating the schema',
    async () => {
      const schema = `ksi_open_${randomBytes(6).toString('hex')}`;
      const url = new URL(PG_URL);
      url.searchParams.set('schema', schema);
      const ksi = await openKsi(url.toString().replace(/^postgres:/, 'postgresql:'));
      try {
        expect(ksi.kind).toBe('postgres');
        await ksi.tx((tx) =>
          tx.appendEvent({ type: 'e', tenant: null, service: null, version: null, payload: '{}', createdAt: 1 }),
        );
        expect(await ksi.read((tx) => tx.lastEpoch())).toBe(1);
      } finally {
        await ksi.close();
        const c = new pg.Client({ connectionString: PG_URL });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      }
    },
  );

  it('refuses other URLs with BAD_REQUEST', async () => {
    for (const url of ['', 'mysql://x/y', 'sqlite:', 'postgres://h/db?schema=Bad-Name']) {
      await expect(openKsi(url)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    }
  });
});
