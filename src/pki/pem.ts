/**
 * PEM and key helpers for the development PKI. Keys are ECDSA P-256 made by
 * WebCrypto and exported as PKCS#8, the one format node:tls, OpenSSL and
 * @peculiar/x509 all read without options.
 */
import { webcrypto } from 'node:crypto';
import { x509 } from './x509.js';

export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  // Extractable, because the private key is written out as PKCS#8 PEM.
  return await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']);
}

export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Imports a PKCS#8 PEM P-256 key for signing (the CA key). */
export async function importSigningKey(pem: string): Promise<CryptoKey> {
  const ders = x509.PemConverter.decode(pem);
  const der = ders[0];
  if (!der || ders.length !== 1) throw new Error('expected exactly one PEM block in the private key');
  return webcrypto.subtle.importKey('pkcs8', der, EC_ALGORITHM, false, ['sign']);
}

/** Random positive serial of 16 bytes (RFC 5280 allows up to 20). */
export function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01; // positive and no leading zero byte
  return Buffer.from(bytes).toString('hex');
}
