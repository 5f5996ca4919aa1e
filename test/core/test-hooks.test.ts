/**
 * No test hook can change a production process: `krypton core run` reads no
 * KRYPTON_TEST_CLOCK_FILE (a test injects a clock through its own launcher,
 * test/fixtures/core-with-clock.mjs), and the addon it loads has no test
 * switch (test/native/aes-fallback.test.ts shows that part).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin } from '../gateway/gateway-fixture.js';
import { startCoreProcess, type CoreProcess } from './process-fixture.js';

const TEN_DAYS = 10 * 86_400_000;

describe('krypton core run and the test hooks', () => {
  let dir: string;
  let core: CoreProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'krypton-hooks-'));
    const clockFile = join(dir, 'clock');
    writeFileSync(clockFile, String(TEN_DAYS));
    core = await startCoreProcess({
      env: { KRYPTON_TEST_CLOCK_FILE: clockFile, KRYPTON_TEST_DUMPABLE_ARENA: '1', KRYPTON_TEST_DISABLE_AESNI: '1' },
    });
  });
  afterAll(async () => {
    await core?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ignores KRYPTON_TEST_CLOCK_FILE: what it records is dated now, not ten days on', async () => {
    await admin(core).tenant('acme');
    await admin(core).scope('acme', 'app');
    const r = await core
      .client('admin')
      .request<{ scopes: { versions: { createdAt: number }[] }[] }>('GET', '/v1/admin/tenants/acme');
    const createdAt = r.body.scopes[0].versions[0].createdAt;
    expect(Math.abs(createdAt - Date.now())).toBeLessThan(60_000);
  });
});
