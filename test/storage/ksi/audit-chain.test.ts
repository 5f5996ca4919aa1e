/**
 * The keyed audit chain at the storage level (review L4): what each kind of
 * link needs to be checked, and the rules a verifier holds a chain to.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyKey, generateKey, type KeyHandle } from '../../../src/native/index.js';
import { coreLinker, verifyAudit, verifyAuditChain } from '../../../src/storage/ksi/audit-hash.js';
import type { AuditRow, Ksi } from '../../../src/storage/ksi/ksi.js';
import { openKsi } from '../../../src/storage/ksi/open.js';
import { freshKey } from '../../mesh/keyring.js';
import { stringMatching } from '../../helpers/matchers.js';

describe('audit links', () => {
  const dir = mkdtempSync(join(tmpdir(), 'krypton-audit-links-'));
  const signer = freshKey();
  let key: KeyHandle;
  let unsealed = true;
  let ksi: Ksi;
  let rows: AuditRow[];

  beforeAll(async () => {
    key = generateKey(32);
    ksi = await openKsi(
      `sqlite:${join(dir, 'ksi.db')}`,
      coreLinker({ auditKey: () => (unsealed ? key : null), signer: () => signer }),
    );
    const entry = (i: number) => ({ actor: 'system', action: `a${i}`, target: 't', outcome: 'ok' as const });
    for (let i = 1; i <= 3; i++) await ksi.tx((tx) => tx.appendAudit(entry(i)));
    unsealed = false;
    await ksi.tx((tx) => tx.appendAudit(entry(4)));
    unsealed = true;
    for (let i = 5; i <= 7; i++) await ksi.tx((tx) => tx.appendAudit(entry(i)));
    rows = await ksi.read((tx) => tx.auditSince(0, 100));
  });
  afterAll(async () => {
    await ksi.close();
    destroyKey(key);
    signer.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('links keyed while the key is there, signed while it is not; the head is the last row', async () => {
    expect(rows.map((r) => r.hash.slice(0, 3))).toEqual(['m1:', 'm1:', 'm1:', 's1:', 'm1:', 'm1:', 'm1:']);
    expect(await ksi.read((tx) => tx.lastAudit())).toEqual({ seq: 7, hash: rows[6].hash });
    expect(await verifyAudit(ksi, { macKey: key, publicKey: signer.publicKey, pageSize: 2 })).toEqual({
      ok: true,
      count: 7,
      head: { seq: 7, hash: rows[6].hash },
      links: { keyed: 6, signed: 1, unkeyed: 0 },
    });
  });

  it('a keyed link needs the audit key, a signed one the right public key', async () => {
    expect(verifyAuditChain(rows)).toMatchObject({ ok: false, brokenAt: 1, reason: stringMatching(/no audit key/) });
    const other = generateKey(32);
    try {
      expect(verifyAuditChain(rows, { macKey: other, publicKey: signer.publicKey })).toMatchObject({
        ok: false,
        brokenAt: 1,
        reason: stringMatching(/keyed link does not match/),
      });
    } finally {
      destroyKey(other);
    }
    const stranger = freshKey();
    try {
      expect(verifyAuditChain(rows, { macKey: key, publicKey: stranger.publicKey })).toMatchObject({
        ok: false,
        brokenAt: 4,
        reason: stringMatching(/signed link does not verify/),
      });
    } finally {
      stranger.destroy();
    }
  });

  it('the head must be reached, with the same link', async () => {
    const keys = { macKey: key, publicKey: signer.publicKey };
    expect(await verifyAudit(ksi, { ...keys, head: { seq: 9, hash: 'm1:00' } })).toMatchObject({
      ok: false,
      brokenAt: 8,
      reason: stringMatching(/ends at seq 7, before the published head/),
    });
    expect(await verifyAudit(ksi, { ...keys, head: { seq: 5, hash: rows[5].hash } })).toMatchObject({
      ok: false,
      brokenAt: 5,
      reason: stringMatching(/not the one published/),
    });
    expect(await verifyAudit(ksi, { ...keys, head: { seq: 5, hash: rows[4].hash } })).toMatchObject({
      ok: true,
      count: 7,
    });
  });

  it('a verifier with keys refuses unkeyed links unless the chain began unkeyed, and never after a keyed one', async () => {
    const plain = await openKsi(`sqlite:${join(dir, 'plain.db')}`);
    try {
      await plain.tx((tx) => tx.appendAudit({ actor: 'system', action: 'a', target: 't', outcome: 'ok' }));
      const keys = { macKey: key, publicKey: signer.publicKey };
      expect(await verifyAudit(plain, keys)).toMatchObject({
        ok: false,
        brokenAt: 1,
        reason: stringMatching(/unkeyed link where a keyed one is required/),
      });
      expect(await verifyAudit(plain, { ...keys, allowUnkeyedPrefix: true })).toMatchObject({
        ok: true,
        links: { unkeyed: 1 },
      });
      expect(await verifyAudit(plain)).toMatchObject({ ok: true, count: 1 });
    } finally {
      await plain.close();
    }
  });
});
