import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerPkiCommand } from '../../src/cli/pki.js';
import { spiffeUrisOf } from '../../src/pki/index.js';

async function run(...args: string[]): Promise<string[]> {
  const program = new Command('krypton').exitOverride();
  registerPkiCommand(program);
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    await program.parseAsync(args, { from: 'user' });
  } finally {
    spy.mockRestore();
  }
  return lines;
}

describe('krypton pki', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'krypton-cli-')), 'pki');
  });
  afterAll(async () => {
    await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('init writes the development PKI for the trust domain given, and a second init reports it up to date', async () => {
    const first = await run('pki', 'init', '--dir', dir, '--trust-domain', 'acme.test');
    expect(first).toHaveLength(18); // 6 certificates and keys, 3 signing key pairs
    expect(spiffeUrisOf(await readFile(join(dir, 'core.pem'), 'utf8'))).toEqual(['spiffe://acme.test/core']);
    expect(await run('pki', 'init', '--dir', dir, '--trust-domain', 'acme.test')).toEqual([
      `pki: ${dir} is up to date`,
    ]);
  });

  it('issue makes a client certificate with every --spiffe given, from the existing CA, key 0600', async () => {
    await run('pki', 'issue', '--dir', dir, '--name', 'gw2', '--spiffe', 'spiffe://acme.test/gateway/b', '--client');
    const pem = await readFile(join(dir, 'gw2.pem'), 'utf8');
    const ca = new X509Certificate(await readFile(join(dir, 'ca.pem'), 'utf8'));
    expect(new X509Certificate(pem).checkIssued(ca)).toBe(true);
    expect(new X509Certificate(pem).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(spiffeUrisOf(pem)).toEqual(['spiffe://acme.test/gateway/b']);
    expect((await stat(join(dir, 'gw2-key.pem'))).mode & 0o777).toBe(0o600);
  });

  it('issue --server makes a serverAuth certificate with DNS names', async () => {
    await run(
      'pki',
      'issue',
      '--dir',
      dir,
      '--name',
      'core2',
      '--spiffe',
      'spiffe://acme.test/core',
      '--server',
      '--dns',
      'core.local',
    );
    const cert = new X509Certificate(await readFile(join(dir, 'core2.pem'), 'utf8'));
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(cert.checkHost('core.local')).toBe('core.local');
  });

  it('issue refuses a malformed SPIFFE ID, an existing name without --force, and a directory without a CA', async () => {
    await expect(run('pki', 'issue', '--dir', dir, '--name', 'x', '--spiffe', 'https://acme.test/x')).rejects.toThrow(
      /not a SPIFFE ID/,
    );
    await expect(
      run('pki', 'issue', '--dir', dir, '--name', 'gw2', '--spiffe', 'spiffe://acme.test/g'),
    ).rejects.toThrow(/--force/);
    await expect(
      run('pki', 'issue', '--dir', join(dir, 'nowhere'), '--name', 'x', '--spiffe', 'spiffe://acme.test/x'),
    ).rejects.toThrow(/no CA/);
  });
});
