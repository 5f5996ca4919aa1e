/**
 * Review M5: unseal shares never linger in the Core. A threshold of shares
 * is the MasterKey, so after an unseal through the real route (a real,
 * hardened `krypton core run`, shares sent as msgpack by a client and by
 * `krypton admin unseal` from stdin, with a refused submission on the way)
 * a gcore dump of the Core must hold none of them: not as the 33 bytes
 * submitted, not as their 32-byte y part, not as base64 text. Shares in
 * JSON (base64 strings, which cannot be wiped) are refused.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MSGPACK_TYPE } from '../../src/http/index.js';
import { describeWithTool, gcoreFindsAny } from '../helpers/core-dump.js';
import { cli, launch, startCoreProcess, type CoreProcess } from './process-fixture.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });

interface Status {
  sealed: boolean;
  progress: number;
}

describeWithTool('gcore', 'unseal shares in a core dump of the Core (M5)', (gcore) => {
  let core: CoreProcess;
  let shares: Buffer[];
  /** Well-formed (33 bytes, x = 1) but from no MasterKey of this Core: a refused submission. */
  const wrong = Buffer.concat([Buffer.from([1]), randomBytes(32)]);

  beforeAll(async () => {
    // Made and initialized by the CLI, then restarted sealed: the shares below are the only ones it ever sees.
    const made = await startCoreProcess();
    await made.stop();
    core = await launch({
      dir: made.dir,
      pki: made.pki,
      config: made.config,
      unsealFile: made.unsealFile,
      sealed: true,
    });
    shares = (JSON.parse(readFileSync(core.unsealFile, 'utf8')) as { shares: string[] }).shares.map((s) =>
      Buffer.from(s, 'base64'),
    );
  });
  afterAll(async () => core?.cleanup());

  it('refuses shares in JSON, before they count', async () => {
    const admin = core.client('admin');
    await expect(admin.request('POST', '/v1/admin/unseal', { shares: [shares[0].toString('base64')] })).rejects.toThrow(
      code('BAD_REQUEST'),
    );
    // JSON with bytes is still JSON (base64 strings on the wire): refused as well.
    await expect(
      admin.request('POST', '/v1/admin/unseal', { shares: [shares[0]] }, { contentType: 'application/json' }),
    ).rejects.toThrow(code('BAD_REQUEST'));
    expect((await admin.request<{ seal: Status }>('GET', '/v1/admin/status')).body.seal).toMatchObject({
      sealed: true,
      progress: 0,
    });
  });

  it('after a refused submission and an unseal in two parts (client, then `krypton admin unseal` on stdin), no share is in the dump', async () => {
    const admin = core.client('admin');
    // Refused: the wrong share with two good ones do not rebuild the MasterKey (the progress resets).
    await expect(
      admin.request(
        'POST',
        '/v1/admin/unseal',
        { shares: [Buffer.from(wrong), Buffer.from(shares[1]), Buffer.from(shares[2])] },
        { contentType: MSGPACK_TYPE },
      ),
    ).rejects.toThrow(code('BAD_REQUEST'));
    const first = await admin.request<Status>(
      'POST',
      '/v1/admin/unseal',
      { shares: [Buffer.from(shares[0])] },
      { contentType: MSGPACK_TYPE, secret: true },
    );
    expect(first.body).toMatchObject({ sealed: true, progress: 1 });
    const typed = `share 4: ${shares[3].toString('base64')}\n\n${shares[4].toString('base64')}\n`;
    const r = cli(['admin', '--core', core.url, '--pki', core.pki, 'unseal'], {}, typed);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sealed: false });

    const needles: Buffer[] = [];
    for (const s of [...shares, wrong]) needles.push(s, s.subarray(1), Buffer.from(s.toString('base64')));
    // Control: in the heap of the Core for sure, so a dump that finds nothing is a dump that could have.
    const control = Buffer.from('spiffe://krypton.dev/admin');
    const found = gcoreFindsAny(gcore, core.child.pid!, core.dir, [...needles, control]);
    const names = found.map((i) =>
      i === needles.length ? 'control' : `share ${Math.floor(i / 3)} as ${['bytes', 'y', 'base64'][i % 3]}`,
    );
    expect(names).toEqual(['control']);
  });
});
