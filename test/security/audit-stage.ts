/**
 * The stage of the audit-chain attack tests (review L4): a Core with a
 * history (rows written unsealed, and one written while sealed), on Orbital
 * so that it publishes its audit head in a State.Manifest, as a Registry
 * would record it; and an attacker with write access to the KSI (the
 * append-only triggers dropped, as the database's owner can).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { verifyCoreAudit } from '../../src/core/audit-routes.js';
import { ManualClock } from '../../src/core/clock.js';
import { Core } from '../../src/core/core.js';
import { CoreOrbital } from '../../src/core/orbital/node.js';
import { MemoryBus } from '../../src/mesh/memory-bus.js';
import type { AuditHead } from '../../src/protocol/orbital-events.js';
import type { AuditVerdict } from '../../src/storage/ksi/audit-hash.js';
import type { AuditRow } from '../../src/storage/ksi/ksi.js';
import { captureLogger } from '../mesh/helpers.js';
import { testKeyring } from '../mesh/keyring.js';

export interface AuditStage {
  core: Core;
  /** Publishes a manifest and returns the audit head it carried, as the Registry records it. */
  publishHead(): Promise<AuditHead>;
  /** The chain as the unsealed Core verifies it (its keys), against `head` if given. */
  verify(head?: AuditHead): Promise<AuditVerdict>;
  rows(): Promise<AuditRow[]>;
  /** The attacker's handle on the KSI: a plain SQLite connection, append-only triggers dropped. */
  db(): Database.Database;
  close(): Promise<void>;
}

export async function openAuditStage(): Promise<AuditStage> {
  const dir = mkdtempSync(join(tmpdir(), 'krypton-audit-chain-'));
  const { logger } = captureLogger();
  const core = await Core.open({
    ksiUrl: `sqlite:${join(dir, 'ksi.db')}`,
    tier2Dir: join(dir, 'tier2'),
    gateways: {},
    clock: new ManualClock(Date.now()),
  });
  const shares = await core.init();
  await core.onboardTenant('acme');
  await core.defineScope('acme', 'billing');
  await core.rotate('acme', 'billing');
  // A sealed Core still audits (a refused unseal, say): that row has no audit key to be linked with.
  core.seal();
  await core.ksi.tx((tx) =>
    tx.appendAudit({
      actor: 'spiffe://krypton.dev/admin',
      action: 'master.unseal',
      target: 'master',
      outcome: 'denied',
      details: { code: 'BAD_REQUEST' },
    }),
  );
  await core.unseal(shares.slice(0, 3));
  for (const s of shares) s.fill(0);
  await core.rotate('acme', 'billing');
  await core.rotate('acme', 'billing');

  const keys = testKeyring(['registry', 'cmk', 'core-a']);
  const bus = new MemoryBus({ logger });
  const heads: Array<AuditHead | undefined> = [];
  await keys.on(bus, 'registry').subscribe('registry', ['State.Manifest'], async (e) => {
    if (e.type === 'State.Manifest') heads.push(e.payload.audit);
  });
  const node = await CoreOrbital.attach(core, {
    id: 'core-a',
    mesh: keys.on(bus, 'core-a'),
    logger,
    manifestSeconds: 3600,
  });
  await bus.idle();
  await node.outbox.flush();
  await bus.idle();

  const dbs: Database.Database[] = [];
  return {
    core,
    publishHead: async () => {
      const n = heads.length;
      await node.publishManifest();
      await node.outbox.flush();
      await bus.idle();
      const head = heads[n];
      if (head === undefined) throw new Error('no audit head in the manifest');
      return head;
    },
    verify: (head) => verifyCoreAudit(core, head),
    rows: () => core.ksi.read((tx) => tx.auditSince(0, 10_000)),
    db: () => {
      const db = new Database(join(dir, 'ksi.db'));
      db.exec('DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete');
      dbs.push(db);
      return db;
    },
    close: async () => {
      for (const d of dbs) d.close();
      await node.stop();
      await bus.close();
      await core.close();
      keys.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
