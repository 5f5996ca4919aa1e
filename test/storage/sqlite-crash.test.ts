import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { SQLITE_DIALECT } from '../../src/storage/dialect.js';
import { SQLITE_AUDIT_TRIGGERS, schemaStatements } from '../../src/storage/ksi/schema.js';
import { SqliteKsi } from '../../src/storage/ksi/sqlite-ksi.js';

/**
 * kill -9 in the middle of a rotation. The child cannot import the
 * TypeScript module, so it drives better-sqlite3 directly with the same
 * schema and pragmas and the same BEGIN IMMEDIATE / COMMIT pattern; the
 * parent then reopens the file through SqliteKsi.
 */
const dir = mkdtempSync(join(tmpdir(), 'krypton-ksi-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CHILD = String.raw`
const Database = require('better-sqlite3');
const { path, ddl } = JSON.parse(process.env.KSI_CRASH);
const db = new Database(path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
for (const sql of ddl) db.exec(sql);
const T = 1700000000000;
db.exec('BEGIN IMMEDIATE');
db.prepare("INSERT INTO ivk_versions VALUES (1, 'ACTIVE', ?, NULL, ?, ?, ?, 0)").run(T, T + 1e9, Buffer.alloc(60, 1), Buffer.alloc(32, 2));
db.prepare("INSERT INTO tenants VALUES ('acme', 'ACTIVE', NULL, NULL, ?, ?)").run(T, T);
db.prepare("INSERT INTO l2_keys VALUES ('acme', 1, 1, ?, NULL, ?)").run(Buffer.alloc(60, 3), T);
db.prepare("INSERT INTO scopes VALUES ('acme', 'billing', NULL, ?, 0)").run(T);
db.prepare("INSERT INTO l3_versions VALUES ('acme', 'billing', 1, 'ACTIVE', 1, ?, ?, ?)").run(Buffer.alloc(60, 1), T, T);
db.exec('COMMIT');
const demote = db.prepare("UPDATE l3_versions SET state = 'DECRYPT_ONLY' WHERE tenant = 'acme' AND service = 'billing' AND state = 'ACTIVE'");
const insert = db.prepare("INSERT INTO l3_versions VALUES ('acme', 'billing', ?, 'ACTIVE', 1, ?, ?, ?)");
const event = db.prepare("INSERT INTO events VALUES ((SELECT COALESCE(MAX(epoch), 0) + 1 FROM events), 'l3.rotate', 'acme', 'billing', ?, '{}', ?)");
for (let v = 2; v <= 30; v++) {
  db.exec('BEGIN IMMEDIATE');
  demote.run();
  insert.run(v, Buffer.alloc(60, v), T, T);
  event.run(v, T);
  db.exec('COMMIT');
}
// Mid-rotation: demoted, new version not yet inserted. Report, then wait to be killed.
db.exec('BEGIN IMMEDIATE');
demote.run();
process.stdout.write('mid-rotation\n');
setInterval(() => {}, 1000);
`;

it('a process killed mid-rotation leaves every committed rotation and exactly one ACTIVE version', async () => {
  const path = join(dir, 'crash.db');
  const ddl = [...schemaStatements(SQLITE_DIALECT), ...SQLITE_AUDIT_TRIGGERS];
  const child = spawn(process.execPath, ['-e', CHILD], {
    cwd: process.cwd(),
    env: { ...process.env, KSI_CRASH: JSON.stringify({ path, ddl }) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('mid-rotation')) resolve();
    });
  });
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');

  const ksi = new SqliteKsi(path);
  await ksi.init();
  const { versions, epoch } = await ksi.read(async (tx) => ({
    versions: await tx.listL3('acme', 'billing'),
    epoch: await tx.lastEpoch(),
  }));
  expect(versions.map((v) => v.version)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  expect(versions.filter((v) => v.state === 'ACTIVE').map((v) => v.version)).toEqual([30]);
  expect(versions[29].wrapped.equals(Buffer.alloc(60, 30))).toBe(true);
  expect(epoch).toBe(29);
  await ksi.close();
});
