import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, initDevPki, issueCert, singleSpiffeId, spiffeUrisOf, type PemPair } from '../../src/pki/index.js';
import { loadPublicKey, SigningKey } from '../../src/native/index.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

function chainsTo(leafPem: string, caPem: string): boolean {
  const leaf = new X509Certificate(leafPem);
  const ca = new X509Certificate(caPem);
  return leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
}

describe('createCa and issueCert', () => {
  let ca: PemPair;
  beforeAll(async () => {
    ca = await createCa({ commonName: 'test CA' });
  });

  it('makes a self-signed P-256 CA certificate marked as a CA, with a PKCS#8 key', () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('issues a server certificate with its SPIFFE URI SAN, DNS and IP names and only the serverAuth EKU, chained to the CA', async () => {
    const leaf = await issueCert(ca, {
      commonName: 'core',
      spiffeIds: ['spiffe://krypton.dev/core'],
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
    });
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.ca).toBe(false);
    expect(chainsTo(leaf.certPem, ca.certPem)).toBe(true);
    expect(cert.subjectAltName).toContain('URI:spiffe://krypton.dev/core');
    expect(cert.subjectAltName).toContain('DNS:localhost');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.keyUsage).toEqual([SERVER_AUTH]);
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(singleSpiffeId(leaf.certPem)).toBe('spiffe://krypton.dev/core');
  });

  it('issues client-only and dual-use certificates with the EKUs asked for', async () => {
    const client = await issueCert(ca, {
      commonName: 'gw',
      spiffeIds: ['spiffe://krypton.dev/gateway/a'],
      usage: 'client',
    });
    const both = await issueCert(ca, { commonName: 'x', spiffeIds: ['spiffe://krypton.dev/x'], usage: 'both' });
    expect(new X509Certificate(client.certPem).keyUsage).toEqual([CLIENT_AUTH]);
    expect(new X509Certificate(both.certPem).keyUsage?.sort()).toEqual([SERVER_AUTH, CLIENT_AUTH].sort());
  });

  it('carries subject and authority key identifiers, the latter equal to the CA subject key identifier', async () => {
    const leaf = await issueCert(ca, { commonName: 'gw', spiffeIds: ['spiffe://krypton.dev/gw'], usage: 'client' });
    const { x509 } = await import('../../src/pki/x509.js');
    const caSki = new x509.X509Certificate(ca.certPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    const parsed = new x509.X509Certificate(leaf.certPem);
    expect(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(caSki);
    expect(parsed.getExtension(x509.BasicConstraintsExtension)?.critical).toBe(true);
  });

  it('honours explicit validity, so tests can make expired and not-yet-valid certificates', async () => {
    const notBefore = new Date(Date.now() - 2 * 86_400_000);
    const notAfter = new Date(Date.now() - 86_400_000);
    const leaf = await issueCert(ca, {
      commonName: 'old',
      spiffeIds: ['spiffe://t/old'],
      usage: 'client',
      notBefore,
      notAfter,
    });
    const cert = new X509Certificate(leaf.certPem);
    expect(Date.parse(cert.validTo)).toBe(Math.floor(notAfter.getTime() / 1000) * 1000);
    expect(Date.parse(cert.validFrom)).toBe(Math.floor(notBefore.getTime() / 1000) * 1000);
  });

  it('can issue certificates with zero or two SPIFFE IDs, which singleSpiffeId rejects', async () => {
    const none = await issueCert(ca, { commonName: 'none', spiffeIds: [], usage: 'client' });
    const two = await issueCert(ca, {
      commonName: 'two',
      spiffeIds: ['spiffe://t/a', 'spiffe://t/b'],
      usage: 'client',
    });
    expect(spiffeUrisOf(none.certPem)).toEqual([]);
    expect(spiffeUrisOf(two.certPem)).toEqual(['spiffe://t/a', 'spiffe://t/b']);
    expect(singleSpiffeId(none.certPem)).toBeUndefined();
    expect(singleSpiffeId(two.certPem)).toBeUndefined();
  });

  it('a certificate from another CA does not chain to this one', async () => {
    const other = await createCa({ commonName: 'other CA' });
    const leaf = await issueCert(other, { commonName: 'x', spiffeIds: ['spiffe://t/x'], usage: 'client' });
    expect(chainsTo(leaf.certPem, ca.certPem)).toBe(false);
  });
});

describe('initDevPki', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krypton-pki-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const FILES = ['ca', 'core', 'registry', 'cmk', 'gateway', 'admin'];

  it('writes the docs/design.md layout: CA, core, registry and cmk servers, gateway and admin clients, keys 0600', async () => {
    const pki = await initDevPki(dir);
    for (const name of FILES) {
      expect((await stat(join(dir, `${name}-key.pem`))).mode & 0o777).toBe(0o600);
      await expect(readFile(join(dir, `${name}.pem`), 'utf8')).resolves.toMatch(/BEGIN CERTIFICATE/);
    }
    const ca = await readFile(join(dir, 'ca.pem'), 'utf8');
    const expected = {
      core: ['spiffe://krypton.dev/core', SERVER_AUTH],
      registry: ['spiffe://krypton.dev/registry', SERVER_AUTH],
      cmk: ['spiffe://krypton.dev/cmk', SERVER_AUTH],
      gateway: ['spiffe://krypton.dev/gateway/default', CLIENT_AUTH],
      admin: ['spiffe://krypton.dev/admin', CLIENT_AUTH],
    } as const;
    for (const [name, [id, eku]] of Object.entries(expected)) {
      const pem = await readFile(join(dir, `${name}.pem`), 'utf8');
      expect(chainsTo(pem, ca)).toBe(true);
      expect(spiffeUrisOf(pem)).toEqual([id]);
      expect(new X509Certificate(pem).keyUsage).toEqual([eku]);
    }
    const core = new X509Certificate(await readFile(join(dir, 'core.pem'), 'utf8'));
    expect(core.checkHost('localhost')).toBe('localhost');
    expect(core.checkIP('127.0.0.1')).toBe('127.0.0.1');
    // 6 pairs of certificate and key, and a signing key pair (0600 key, public .pub) for each actor that signs.
    for (const name of ['core', 'registry', 'cmk']) {
      expect((await stat(join(dir, `${name}-sign.key`))).mode & 0o777).toBe(0o600);
      const key = SigningKey.load(join(dir, `${name}-sign.key`));
      expect(key.publicKey.equals(loadPublicKey(join(dir, `${name}-sign.pub`)))).toBe(true);
      key.destroy();
    }
    expect(pki.written.length).toBe(18);
  });

  it('is idempotent: a second run reuses the CA and every certificate and writes nothing', async () => {
    const before = await Promise.all(FILES.map((n) => readFile(join(dir, `${n}.pem`), 'utf8')));
    const again = await initDevPki(dir);
    const after = await Promise.all(FILES.map((n) => readFile(join(dir, `${n}.pem`), 'utf8')));
    expect(again.written).toEqual([]);
    expect(after).toEqual(before);
  });

  it('reissues a missing leaf under the existing CA, and leaves for a new trust domain', async () => {
    const ca = await readFile(join(dir, 'ca.pem'), 'utf8');
    await rm(join(dir, 'gateway.pem'));
    const run = await initDevPki(dir);
    expect(run.written.map((f) => f.slice(dir.length + 1)).sort()).toEqual(['gateway-key.pem', 'gateway.pem']);
    expect(chainsTo(await readFile(join(dir, 'gateway.pem'), 'utf8'), ca)).toBe(true);

    const moved = await initDevPki(dir, { trustDomain: 'example.org' });
    expect(await readFile(join(dir, 'ca.pem'), 'utf8')).toBe(ca);
    expect(moved.written.length).toBe(10);
    expect(spiffeUrisOf(await readFile(join(dir, 'admin.pem'), 'utf8'))).toEqual(['spiffe://example.org/admin']);
  });

  it('tightens a key file that was left readable by others back to 0600 when rewriting it', async () => {
    const { chmod } = await import('node:fs/promises');
    await chmod(join(dir, 'core-key.pem'), 0o644);
    await writeFile(join(dir, 'core.pem'), 'not a certificate');
    await initDevPki(dir, { trustDomain: 'example.org' });
    expect((await stat(join(dir, 'core-key.pem'))).mode & 0o777).toBe(0o600);
  });
});
