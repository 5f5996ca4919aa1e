import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pkiClient } from '../../src/dev/core-process.js';
import { startDevStack } from '../../src/dev/stack.js';
import { CLI } from '../core/process-fixture.js';
import { connect } from '../gateway/ws-fixture.js';

describe('krypton dev', () => {
  it('lays out .krypton/dev as docs/design.md says, and a restart reuses it: blobs made before still decrypt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krypton-devstack-'));
    try {
      const first = await startDevStack({ dir, corePort: 0, gatewayPort: 0, registryPort: 0, cmkPort: 0 });
      let blob: Buffer;
      let plaintext: Buffer;
      try {
        for (const f of [
          'ca.pem',
          'core.pem',
          'core-key.pem',
          'registry.pem',
          'cmk.pem',
          'gateway.pem',
          'gateway-key.pem',
          'admin.pem',
          'admin-key.pem',
        ]) {
          expect(existsSync(join(dir, 'pki', f)), f).toBe(true);
        }
        for (const f of ['registry.json', 'cmk.json', 'registry/registry.db', 'cmk/cmk.db', 'core/ksi.db'])
          expect(existsSync(join(dir, f)), f).toBe(true);
        expect(statSync(join(dir, 'l1', 'demo.key')).mode & 0o777).toBe(0o600);
        // The demo was defined the production way: intent in the Registry, its L1 in the CMK Server.
        const ask = async (url: string, path: string) => {
          const c = pkiClient(join(dir, 'pki'), url, 'admin');
          try {
            return (await c.request('GET', path)).body;
          } finally {
            await c.close();
          }
        };
        expect(await ask(first.core.registryUrl, '/v1/registry/tenants')).toMatchObject({
          tenants: [
            expect.objectContaining({
              tenant: 'demo',
              state: 'ACTIVE',
              scopes: [expect.objectContaining({ service: 'app', state: 'DEFINED' })],
            }),
          ],
        });
        expect(await ask(first.core.cmkUrl, '/v1/cmk/links')).toMatchObject({
          links: [expect.objectContaining({ tenant: 'demo', kind: 'soft', state: 'LINKED' })],
        });
        expect(await ask(first.core.url, '/v1/admin/tenants/demo')).toMatchObject({ state: 'ACTIVE', l1: 'soft' });
        expect(statSync(join(dir, 'token')).mode & 0o777).toBe(0o600);
        expect(readFileSync(join(dir, 'token'), 'utf8').trim()).toBe(first.token);
        const c = await connect(first.gatewayUrl, first.token);
        const r = (await c.call([1, 'key.create', { service: 'app' }])) as [
          number,
          number,
          { plaintext: Buffer; blob: Buffer },
        ];
        ({ blob, plaintext } = r[2]);
        c.close();
      } finally {
        await first.stop();
      }
      const second = await startDevStack({ dir, corePort: 0, gatewayPort: 0, registryPort: 0, cmkPort: 0 });
      try {
        expect(second.token).toBe(first.token);
        const c = await connect(second.gatewayUrl, second.token);
        const r = (await c.call([2, 'key.decrypt', { blob }])) as [number, number, { plaintext: Buffer }];
        expect(r[1]).toBe(0);
        expect(Buffer.from(r[2].plaintext).equals(plaintext)).toBe(true);
        c.close();
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`krypton dev` (what `npm start` runs) is ready, /readyz 200, with no request made', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krypton-devcli-'));
    const child = spawn(
      process.execPath,
      [
        '--secure-heap=65536',
        CLI,
        'dev',
        '--dir',
        dir,
        '--core-port',
        '0',
        '--gateway-port',
        '0',
        '--registry-port',
        '0',
        '--cmk-port',
        '0',
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      let out = '';
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /Gateway\s+ws:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.once('exit', (code) => reject(new Error(`krypton dev exited (${code}): ${out}`)));
      });
      await expect
        .poll(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status, {
          timeout: 15_000,
          interval: 200,
        })
        .toBe(200);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
