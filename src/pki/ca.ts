/**
 * A certificate authority in code (no openssl CLI): a self-signed P-256 CA and
 * leaf certificates carrying SPIFFE IDs as URI SANs, for the Core's mTLS.
 */
import { x509 } from './x509.js';
import { generateKeyPair, importSigningKey, privateKeyToPem, randomSerial, SIGNING_ALGORITHM } from './pem.js';

export interface PemPair {
  certPem: string;
  keyPem: string;
}

export interface CaOptions {
  commonName: string;
  notBefore?: Date;
  notAfter?: Date;
}

export type CertUsage = 'server' | 'client' | 'both';

export interface IssueOptions {
  commonName: string;
  /** Zero, one or several `spiffe://` IDs; more or fewer than one is allowed so tests can prove they are refused. */
  spiffeIds: string[];
  dnsNames?: string[];
  ipAddresses?: string[];
  usage: CertUsage;
  notBefore?: Date;
  notAfter?: Date;
}

const DAY_MS = 86_400_000;
// Certificates start a little in the past so a peer whose clock lags still accepts them.
const BACKDATE_MS = 5 * 60_000;
export const CA_VALIDITY_DAYS = 3650;
export const LEAF_VALIDITY_DAYS = 365;

function subject(commonName: string): x509.JsonName {
  // The JSON form escapes whatever the common name contains.
  return [{ CN: [commonName] }];
}

export async function createCa(opts: CaOptions): Promise<PemPair> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: subject(opts.commonName),
    notBefore: opts.notBefore ?? new Date(now - BACKDATE_MS),
    notAfter: opts.notAfter ?? new Date(now + CA_VALIDITY_DAYS * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      // pathLength 0: this CA signs leaves only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyToPem(keys.privateKey) };
}

function extendedUsages(usage: CertUsage): string[] {
  switch (usage) {
    case 'server':
      return [x509.ExtendedKeyUsage.serverAuth];
    case 'client':
      return [x509.ExtendedKeyUsage.clientAuth];
    case 'both':
      return [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  }
}

export async function issueCert(ca: PemPair, opts: IssueOptions): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importSigningKey(ca.keyPem);
  const caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  if (!caKeyId) throw new Error('the CA certificate has no subject key identifier');

  const names: x509.JsonGeneralName[] = [
    ...opts.spiffeIds.map((value) => ({ type: 'url' as const, value })),
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const keys = await generateKeyPair();
  const now = Date.now();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // digitalSignature is all an ECDSA key needs for TLS 1.3 (ECDHE keys are ephemeral).
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(extendedUsages(opts.usage), false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    new x509.AuthorityKeyIdentifierExtension(caKeyId, false),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: subject(opts.commonName),
    issuer: caCert.subjectName,
    notBefore: opts.notBefore ?? new Date(now - BACKDATE_MS),
    notAfter: opts.notAfter ?? new Date(now + LEAF_VALIDITY_DAYS * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyToPem(keys.privateKey) };
}
