import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startDevStack } from '../../src/dev/stack.js';
import { connect } from '../gateway/ws-fixture.js';

describe('krypton dev', () => {
  it('lays out .krypton/dev as DESIGN.md says, and a restart reuses it: blobs made before still decrypt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'krypton-devstack-'));
    try {
      const first = await startDevStack({ dir, corePort: 0, gatewayPort: 0 });
      let blob: Buffer;
      let plaintext: Buffer;
      try {
        for (const f of ['ca.pem', 'core.pem', 'core-key.pem', 'gateway.pem', 'gateway-key.pem', 'admin.pem', 'admin-key.pem']) {
          expect(existsSync(join(dir, 'pki', f)), f).toBe(true);
        }
        expect(statSync(join(dir, 'token')).mode & 0o777).toBe(0o600);
        expect(readFileSync(join(dir, 'token'), 'utf8').trim()).toBe(first.token);
        const c = await connect(first.gatewayUrl, first.token);
        const r = (await c.call([1, 'key.create', { service: 'app' }])) as [number, number, { plaintext: Buffer; blob: Buffer }];
        ({ blob, plaintext } = r[2]);
        c.close();
      } finally {
        await first.stop();
      }
      const second = await startDevStack({ dir, corePort: 0, gatewayPort: 0 });
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
});
