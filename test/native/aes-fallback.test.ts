import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadVectors } from '../helpers/vectors.js';

const release = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release');
// The test build of the addon: the only one that reads KRYPTON_TEST_DISABLE_AESNI.
const addonPath = join(release, 'krypton_test.node');
const xaes = loadVectors<{
  vectors: {
    key: string;
    nonce_ascii: string;
    plaintext_ascii: string;
    aad_ascii: string;
    ciphertext_and_tag: string;
  }[];
}>('xaes-256-gcm.json');

// A child loads the raw addon as if the CPU had no AES-NI
// (KRYPTON_TEST_DISABLE_AESNI) and runs the C2SP vectors.
function runChild(env: Record<string, string>, addon = addonPath) {
  const script = `
    const a = require(${JSON.stringify(addon)});
    const out = [];
    for (const v of ${JSON.stringify(xaes.vectors)}) {
      const pt = Buffer.from(v.plaintext_ascii), ct = Buffer.alloc(pt.length + 16);
      a.katXaesSeal(Buffer.from(v.key, 'hex'), Buffer.from(v.nonce_ascii), Buffer.from(v.aad_ascii), pt, ct);
      out.push(ct.toString('hex') === v.ciphertext_and_tag);
    }
    console.log(JSON.stringify({ caps: a.capabilities(), vectors: out }));`;
  return spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('a CPU without AES-NI', () => {
  it('the addon refuses to load, saying why and naming the development flag', () => {
    const r = runChild({ KRYPTON_TEST_DISABLE_AESNI: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('REFUSING TO START: this CPU has no AES-NI');
    expect(r.stderr).toContain('KRYPTON_ALLOW_SOFTWARE_AES=1');
  });

  it('with the development flag it derives subkeys with OpenSSL, reports it, and still meets the XAES vectors', () => {
    const r = runChild({ KRYPTON_TEST_DISABLE_AESNI: '1', KRYPTON_ALLOW_SOFTWARE_AES: '1' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { caps: { aesNi: boolean; softwareAes: boolean }; vectors: boolean[] };
    expect(out.caps).toEqual({ aesNi: false, softwareAes: true });
    expect(out.vectors).toEqual(xaes.vectors.map(() => true));
  });
});

describe('the test switches in the addon every process loads', () => {
  it('are not there: KRYPTON_TEST_DISABLE_AESNI and KRYPTON_TEST_DUMPABLE_ARENA change nothing in build/Release/krypton.node', () => {
    const r = runChild(
      { KRYPTON_TEST_DISABLE_AESNI: '1', KRYPTON_TEST_DUMPABLE_ARENA: '1' },
      join(release, 'krypton.node'),
    );
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ caps: { aesNi: true, softwareAes: false } });
    expect(r.stderr).not.toContain('KRYPTON_TEST');
    const arena = spawnSync(
      process.execPath,
      [
        '-e',
        `console.log(JSON.stringify(require(${JSON.stringify(join(release, 'krypton.node'))}).arenaInfo(), (k, v) => typeof v === 'bigint' ? String(v) : v))`,
      ],
      {
        env: { ...process.env, KRYPTON_TEST_DUMPABLE_ARENA: '1' },
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(arena.stdout)).toMatchObject({ dontDump: true, locked: true });
    expect(arena.stderr).not.toContain('KRYPTON_TEST_DUMPABLE_ARENA');
  });
});
