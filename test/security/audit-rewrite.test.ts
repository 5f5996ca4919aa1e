/**
 * Rewriting the audit log (review L4, the chain): whoever can write the KSI
 * can change rows, delete the tail, and recompute a plain hash chain over
 * what they changed. Each link is now a MAC under a key derived from the
 * MasterKey (rows written while sealed: a signature by the Core's key), and
 * the head of the chain goes out with every State.Manifest. The unsealed
 * Core (`krypton core audit`) checks the chain with its keys against the
 * head the Registry recorded.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditHash } from '../../src/storage/ksi/audit-hash.js';
import { cli, launch, startCoreProcess } from '../core/process-fixture.js';
import type { AuditRow } from '../../src/storage/ksi/ksi.js';
import { openAuditStage, type AuditStage } from './audit-stage.js';
import { stringMatching } from '../helpers/matchers.js';

/** What an attacker without the key can do to a row: change it and give it a plain SHA-256 link. */
function relink(s: AuditStage, rows: AuditRow[], from: number, change: (r: AuditRow) => AuditRow): void {
  const db = s.db();
  const update = db.prepare('UPDATE audit SET actor = ?, action = ?, prev_hash = ?, hash = ? WHERE seq = ?');
  let prev = from === 1 ? '' : rows[from - 2].hash;
  for (const row of rows.slice(from - 1)) {
    const r = change(row);
    const hash = auditHash(prev, r);
    update.run(r.actor, r.action, prev, hash, r.seq);
    prev = hash;
  }
}

describe('rewriting the audit log', () => {
  let s: AuditStage;
  beforeEach(async () => {
    s = await openAuditStage();
  }, 30_000);
  afterEach(async () => s?.close());

  it('a clean chain verifies: keyed links while unsealed, signed ones while sealed, up to the published head', async () => {
    const head = await s.publishHead();
    const rows = await s.rows();
    expect(head).toEqual({ seq: rows.at(-1)!.seq, hash: rows.at(-1)!.hash });
    const verdict = await s.verify(head);
    expect(verdict).toMatchObject({ ok: true, count: rows.length, head });
    // master.init (before the first unseal) and the row written while sealed are signed; everything else is keyed.
    expect(verdict).toMatchObject({ links: { signed: 2, unkeyed: 0, keyed: rows.length - 2 } });
    expect(rows.every((r) => /^(m1:[0-9a-f]{64}|s1:[A-Za-z0-9+/]{86}==)$/.test(r.hash))).toBe(true);
  });

  it('rewriting a row is detected, whether its link is left as it was or recomputed without the key', async () => {
    const head = await s.publishHead();
    const rows = await s.rows();
    const db = s.db();
    // A row in the middle, its link left alone.
    db.prepare("UPDATE audit SET actor = 'someone-else' WHERE seq = 3").run();
    expect(await s.verify(head)).toMatchObject({ ok: false, brokenAt: 3 });
    db.prepare('UPDATE audit SET actor = ? WHERE seq = 3').run(rows[2].actor);
    // The last row (nothing after it links to it), its link recomputed the way anyone can: still caught.
    const last = rows.at(-1)!;
    db.prepare('UPDATE audit SET actor = ?, hash = ? WHERE seq = ?').run(
      'someone-else',
      auditHash(last.prevHash, { ...last, actor: 'someone-else' }),
      last.seq,
    );
    const verdict = await s.verify(head);
    expect(verdict).toMatchObject({ ok: false, brokenAt: last.seq });
    // Even without the head, the key alone catches it.
    expect(await s.verify()).toMatchObject({
      ok: false,
      brokenAt: last.seq,
      reason: stringMatching(/unkeyed link after keyed ones/),
    });
  });

  it('deleting the tail below the published head is detected', async () => {
    const head = await s.publishHead();
    s.db()
      .prepare('DELETE FROM audit WHERE seq > ?')
      .run(head.seq - 3);
    const verdict = await s.verify(head);
    expect(verdict).toMatchObject({
      ok: false,
      brokenAt: head.seq - 2,
      reason: stringMatching(/before the published head .* rows were deleted/),
    });
  });

  it('rewriting the tail and re-chaining it without the key is detected', async () => {
    const head = await s.publishHead();
    const rows = await s.rows();
    // From seq 4 on, every row rewritten and given a fresh plain hash chain: a consistent chain, just not a keyed one.
    relink(s, rows, 4, (r) => ({ ...r, actor: 'someone-else' }));
    expect(await s.verify(head)).toMatchObject({ ok: false, brokenAt: 4 });
    // The whole log re-chained from the first row: no keyed link left to betray it.
    relink(s, rows, 1, (r) => ({ ...r, action: `${r.action}.x` }));
    expect(await s.verify(head)).toMatchObject({
      ok: false,
      brokenAt: 1,
      reason: stringMatching(/unkeyed link where a keyed one is required/),
    });
  });
});

describe('`krypton core audit --head`', () => {
  it('asks the running Core to verify its chain against the published head; a deleted tail exits 1', async () => {
    const core = await startCoreProcess();
    let running = core;
    try {
      const admin = ['admin', '--core', core.url, '--pki', core.pki];
      cli([...admin, 'tenant', 'acme']);
      cli([...admin, 'scope', 'acme', 'billing']);
      cli([...admin, 'rotate', 'acme', 'billing']);
      cli([...admin, 'rotate', 'acme', 'billing']);
      const file = join(core.dir, 'state', 'ksi.db');
      // The head as a State.Manifest would have carried it (`krypton registry status` shows it as auditHead.arg).
      const last = (() => {
        const db = new Database(file, { readonly: true });
        try {
          return db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as {
            seq: number;
            hash: string;
          };
        } finally {
          db.close();
        }
      })();
      const head = `${last.seq}:${last.hash}`;
      const ok = cli(['core', 'audit', '--core', core.url, '--pki', core.pki, '--head', head]);
      expect(ok.status, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, head: { seq: last.seq, hash: last.hash } });

      await core.stop();
      const db = new Database(file);
      db.exec('DROP TRIGGER audit_no_delete');
      db.prepare('DELETE FROM audit WHERE seq > ?').run(last.seq - 2);
      db.close();
      running = await launch(core);
      const bad = cli(['core', 'audit', '--core', running.url, '--pki', core.pki, '--head', head]);
      expect(bad.status).toBe(1);
      // The restarted Core appended rows since (its unseal): the chain reaches the head's seq again, with other rows.
      expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, reason: stringMatching(/published head/) });
      // Without the head, a shortened chain of intact rows looks whole: the CLI says what it cannot see.
      const blind = cli(['core', 'audit', '--core', running.url, '--pki', core.pki]);
      expect(blind.status).toBe(0);
      expect(blind.stderr).toMatch(/no --head: rows deleted from the tail cannot be detected/);
      expect(cli(['core', 'audit', '--core', running.url, '--pki', core.pki, '--head', 'nonsense']).status).toBe(2);
    } finally {
      await running.stop();
      await core.cleanup();
    }
  }, 60_000);
});
