/**
 * The development PKI under `.krypton/dev/pki/` (docs/design.md section 1): one
 * CA, server certificates for the Core, the Registry and the CMK Server, and
 * client certificates for the Gateway and the admin, and an Ed25519 signing
 * key pair for each actor that signs (the Core, the Registry, the CMK
 * Server). Running it again reuses the CA, every certificate that is still
 * right and every signing key, so running actors keep trusting each other.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCa, issueCert, type CertUsage, type PemPair } from './ca.js';
import { CERT_MODE, ensureDir, KEY_MODE, writeAtomic } from './files.js';
import { spiffeUrisOf } from './spiffe.js';

export const DEFAULT_PKI_DIR = '.krypton/dev/pki';
export const DEFAULT_TRUST_DOMAIN = 'krypton.dev';
// A leaf closer than this to expiry is reissued rather than reused.
const RENEW_BEFORE_MS = 7 * 86_400_000;

export interface DevPkiOptions {
  trustDomain?: string;
}

export interface LeafSpec {
  name: string;
  spiffePath: string;
  usage: CertUsage;
  dnsNames?: string[];
  ipAddresses?: string[];
}

export const DEV_LEAVES: readonly LeafSpec[] = [
  { name: 'core', spiffePath: '/core', usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
  { name: 'registry', spiffePath: '/registry', usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
  { name: 'cmk', spiffePath: '/cmk', usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
  { name: 'gateway', spiffePath: '/gateway/default', usage: 'client' },
  { name: 'admin', spiffePath: '/admin', usage: 'client' },
];

/** The actors that sign (Orbital events, and the Core's leases): each gets an Ed25519 key pair. */
export const SIGNERS = ['core', 'registry', 'cmk'] as const;
export type Signer = (typeof SIGNERS)[number];

/** `<name>-sign.key`: the PKCS#8 PEM private key (0600), loaded into the addon's arena by the actor. */
export function signingKeyPath(dir: string, name: string): string {
  return join(dir, `${name}-sign.key`);
}

/** `<name>-sign.pub`: the SPKI PEM public key that receivers (and Gateways, for the Core) pin. */
export function signingPublicKeyPath(dir: string, name: string): string {
  return join(dir, `${name}-sign.pub`);
}

/** Makes an actor's signing key pair unless both files are there. */
async function ensureSigningKey(dir: string, name: string): Promise<string[]> {
  const keyFile = signingKeyPath(dir, name);
  const pubFile = signingPublicKeyPath(dir, name);
  if (existsSync(keyFile) && existsSync(pubFile)) return [];
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  await writeAtomic(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, KEY_MODE);
  await writeAtomic(pubFile, publicKey.export({ format: 'pem', type: 'spki' }) as string, CERT_MODE);
  return [keyFile, pubFile];
}

export interface DevPki {
  dir: string;
  ca: PemPair;
  /** Certificate and key per leaf name (core, gateway, admin). */
  leaves: Record<string, PemPair>;
  /** Files written by this call (empty when everything was reused). */
  written: string[];
}

export function certPath(dir: string, name: string): string {
  return join(dir, `${name}.pem`);
}

export function keyPath(dir: string, name: string): string {
  return join(dir, `${name}-key.pem`);
}

async function readPair(dir: string, name: string): Promise<PemPair | undefined> {
  try {
    const [certPem, keyPem] = await Promise.all([
      readFile(certPath(dir, name), 'utf8'),
      readFile(keyPath(dir, name), 'utf8'),
    ]);
    return { certPem, keyPem };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function writePair(dir: string, name: string, pair: PemPair): Promise<string[]> {
  const files = [keyPath(dir, name), certPath(dir, name)];
  // Key first: a certificate on disk always has its key beside it.
  await writeAtomic(files[0]!, pair.keyPem, KEY_MODE);
  await writeAtomic(files[1]!, pair.certPem, CERT_MODE);
  return files;
}

/** Loads the CA from `dir` (ca.pem and ca-key.pem), or undefined when absent. */
export function loadCa(dir: string): Promise<PemPair | undefined> {
  return readPair(dir, 'ca');
}

/** A leaf is reused when it chains to this CA, carries the wanted ID and is not near expiry. */
function stillGood(leaf: PemPair, ca: PemPair, spiffeId: string): boolean {
  try {
    const cert = new X509Certificate(leaf.certPem);
    const caCert = new X509Certificate(ca.certPem);
    if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) return false;
    if (Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) return false;
    const ids = spiffeUrisOf(leaf.certPem);
    return ids.length === 1 && ids[0] === spiffeId;
  } catch {
    return false;
  }
}

export async function initDevPki(dir: string, opts: DevPkiOptions = {}): Promise<DevPki> {
  const trustDomain = opts.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  await ensureDir(dir);
  const written: string[] = [];

  let ca = await loadCa(dir);
  if (!ca) {
    ca = await createCa({ commonName: `Krypton development CA (${trustDomain})` });
    written.push(...(await writePair(dir, 'ca', ca)));
  }

  const leaves: Record<string, PemPair> = {};
  for (const spec of DEV_LEAVES) {
    const spiffeId = `spiffe://${trustDomain}${spec.spiffePath}`;
    const existing = await readPair(dir, spec.name);
    if (existing && stillGood(existing, ca, spiffeId)) {
      leaves[spec.name] = existing;
      continue;
    }
    const pair = await issueCert(ca, {
      commonName: `krypton ${spec.name}`,
      spiffeIds: [spiffeId],
      dnsNames: spec.dnsNames,
      ipAddresses: spec.ipAddresses,
      usage: spec.usage,
    });
    written.push(...(await writePair(dir, spec.name, pair)));
    leaves[spec.name] = pair;
  }
  for (const name of SIGNERS) written.push(...(await ensureSigningKey(dir, name)));
  return { dir, ca, leaves, written };
}
