/**
 * The memory proof of the foundation, repeated on a running Core: a gcore
 * dump of a live, hardened `krypton core run` process that has unsealed,
 * hydrated and leased holds no MasterKey, IVK, L2 or L3 key, nor the XAES
 * K1 of any of them. Every needle is derived independently of the addon:
 * the MasterKey from the unseal shares (a JS Shamir reference), and each
 * key below it by unwrapping its KSI row with node:crypto XAES.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { deriveK1, xaesOpenNode } from '../../bench/lib/xaes-node.js';
import { HpkeRecipient } from '../../src/native/index.js';
import { newLeaseRequest } from '../../src/protocol/lease.js';
import { openKsi } from '../../src/storage/ksi/open.js';
import { describeWithTool, gcoreFinds } from '../helpers/core-dump.js';
import { referenceCombine } from '../helpers/shamir-ref.js';
import { cli, startCoreProcess, type CoreProcess } from './process-fixture.js';

const WRAP_LABEL = Buffer.from('krypton:wrap:v1\0');

function unwrap(kek: Buffer, wrapped: Buffer, aad: string): Buffer {
  return xaesOpenNode(
    kek,
    wrapped.subarray(0, 24),
    wrapped.subarray(24),
    Buffer.concat([WRAP_LABEL, Buffer.from(aad)]),
  );
}

describeWithTool('gcore', 'a running Core in a core dump', (gcore) => {
  let core: CoreProcess;
  const needles: Record<string, Buffer> = {};

  beforeAll(async () => {
    core = await startCoreProcess();
    const admin = ['admin', '--core', core.url, '--pki', core.pki];
    for (const args of [
      ['tenant', 'acme'],
      ['scope', 'acme', 'billing'],
      ['rotate', 'acme', 'billing'],
      ['rotate-ivk'],
    ]) {
      const r = cli([...admin, ...args]);
      expect(r.status, r.stderr).toBe(0);
    }
    const lease = await core
      .client('gateway')
      .request('POST', '/v1/leases', newLeaseRequest('acme', 'billing', HpkeRecipient.generate().publicKey));
    expect(lease.status).toBe(200);

    const { shares } = JSON.parse(readFileSync(core.unsealFile, 'utf8')) as { shares: string[] };
    const master = referenceCombine(shares.slice(1, 4).map((s) => Buffer.from(s, 'base64')));
    needles.master = master;
    needles['master K1'] = deriveK1(master);
    needles['IVK header MAC key'] = createHmac('sha256', master).update('krypton:derive:v1\0ivk-header-mac').digest();
    const ksi = await openKsi(`sqlite:${join(core.dir, 'state', 'ksi.db')}`);
    try {
      const ivks = new Map<number, Buffer>();
      for (const row of await ksi.read((tx) => tx.listIvks())) {
        ivks.set(row.version, unwrap(master, row.wrapped, `krypton:ivk:${row.version}`));
        needles[`IVK ${row.version}`] = ivks.get(row.version)!;
        needles[`IVK ${row.version} K1`] = deriveK1(ivks.get(row.version)!);
      }
      const [l2row] = await ksi.read((tx) => tx.listL2('acme'));
      const l2 = unwrap(ivks.get(l2row.ivkVersion)!, l2row.wrappedActive, `krypton:l2:acme@${l2row.version}`);
      needles.L2 = l2;
      needles['L2 K1'] = deriveK1(l2);
      for (const row of await ksi.read((tx) => tx.listL3('acme', 'billing'))) {
        const l3 = unwrap(l2, row.wrapped, `krypton:l3:acme/billing@${row.version}`);
        needles[`L3 v${row.version}`] = l3;
        needles[`L3 v${row.version} K1`] = deriveK1(l3);
      }
    } finally {
      await ksi.close();
    }
    expect(Object.keys(needles).length).toBeGreaterThanOrEqual(11);
  });
  afterAll(async () => core?.cleanup());

  it('holds no MasterKey, IVK, L2 or L3 bytes (nor their XAES K1), while the dump does hold its heap (control)', () => {
    const control = Buffer.from('spiffe://krypton.dev/gateway/default');
    const found = gcoreFinds(gcore, core.child.pid!, core.dir, { ...needles, control });
    expect(found).toEqual(['control']);
  });
});
