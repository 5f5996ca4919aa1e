import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadVectors } from '../helpers/vectors.js';

const addonPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'Release', 'krypton.node');
const xaes = loadVectors<{ vectors: { key: string; nonce_ascii: string; plaintext_ascii: string; aad_ascii: string; ciphertext_and_tag: string }[] }>(
  'xaes-256-gcm.json',
);

// A child loads the raw addon as if the CPU had no AES-NI
// (KRYPTON_TEST_DISABLE_AESNI) and runs the C2SP vectors.
function runChild(env: Record<string, string>) {
  const script = `
    const a = require(${JSON.stringify(addonPath)});
    const out = [];
    for (const v of ${JSON.stringify(xaes.vectors)}) {
      const pt = Buffer.from(v.plaintext_ascii), ct = Buffer.alloc(pt.length + 16);
      a.katXaesSeal(Buffer.from(v.key, 'hex'), Buffer.from(v.nonce_ascii), Buffer.from(v.aad_ascii), pt, ct);
      out.push(ct.toString('hex') === v.ciphertext_and_tag);
    }
    console.log(JSON.stringify({ caps: a.capabilities(), vectors: out }));`;
  return spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
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
