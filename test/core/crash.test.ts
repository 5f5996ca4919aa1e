import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Core } from '../../src/core/core.js';
import { HpkeRecipient } from '../../src/native/index.js';
import type { L3Row } from '../../src/storage/ksi/ksi.js';
import { GATEWAY } from './core-fixture.js';
import { newLeaseRequest } from '../../src/protocol/lease.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CORE_MODULE = join(root, 'dist', 'src', 'core', 'core.js');
const CHILD = join(root, 'test', 'fixtures', 'core-rotate-child.mjs');
const PG_URL = process.env.KRYPTON_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const T = 'acme';
const S = 'billing';

function runChild(
  env: Record<string, string>,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--secure-heap=65536', CHILD], {
      env: { ...process.env, ...env, CORE_MODULE },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

interface Engine {
  name: string;
  url: () => Promise<string>;
  cleanup: () => Promise<void>;
}

const dirs: string[] = [];
const schemas: string[] = [];
const engines: Engine[] = [
  {
    name: 'SQLite',
    url: async () => {
      const d = mkdtempSync(join(tmpdir(), 'krypton-crash-'));
      dirs.push(d);
      return `sqlite:${join(d, 'ksi.db')}`;
    },
    cleanup: async () => {},
  },
  {
    name: 'PostgreSQL',
    url: async () => {
      const schema = `krypton_crash_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return `${PG_URL}?schema=${schema}`;
    },
    cleanup: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await c.end();
    },
  },
];

afterAll(async () => {
  for (const e of engines) await e.cleanup().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const snapshot = (rows: L3Row[]) => rows.map((r) => ({ version: r.version, wrapped: r.wrapped.toString('hex') }));

for (const engine of engines) {
  describe(`a Core killed mid-rotation (${engine.name})`, () => {
    for (const point of ['rotate:before-tx', 'rotate:in-tx', 'rotate:after-tx'] as const) {
      it(`killed at ${point}: restarts with exactly one ACTIVE version and every earlier version intact`, async () => {
        const ksiUrl = await engine.url();
        const tier2Dir = mkdtempSync(join(tmpdir(), 'krypton-tier2-'));
        dirs.push(tier2Dir);
        const setup = await Core.open({ ksiUrl, tier2Dir, gateways: { [GATEWAY]: ['*'] } });
        const shares = await setup.init();
        await setup.onboardTenant(T);
        await setup.defineScope(T, S);
        await setup.rotate(T, S);
        await setup.rotate(T, S);
        const before = await setup.ksi.read((tx) => tx.listL3(T, S));
        await setup.close();

        const r = await runChild({
          KSI_URL: ksiUrl,
          TIER2_DIR: tier2Dir,
          SHARES: JSON.stringify(shares.slice(0, 3).map((s) => s.toString('base64'))),
          CRASH_AT: point,
          TENANT: T,
          SERVICE: S,
        });
        expect(r.signal, r.stderr).toBe('SIGKILL');

        const core = await Core.open({ ksiUrl, tier2Dir, gateways: { [GATEWAY]: ['*'] } });
        try {
          await core.unseal(shares.slice(2, 5));
          const after = await core.ksi.read((tx) => tx.listL3(T, S));
          expect(after.filter((v) => v.state === 'ACTIVE')).toHaveLength(1);
          expect(snapshot(after.slice(0, 3))).toEqual(snapshot(before));
          expect(after).toHaveLength(point === 'rotate:after-tx' ? 4 : 3);
          expect(after.at(-1)!.state).toBe('ACTIVE');
          // Every version still unwraps: a lease carries them all, and rotation goes on.
          const lease = await core.issueLease(GATEWAY, newLeaseRequest(T, S, HpkeRecipient.generate().publicKey));
          expect(lease.versions).toHaveLength(after.length);
          expect(await core.rotate(T, S)).toBe(after.length + 1);
        } finally {
          await core.close();
        }
      });
    }
  });
}
