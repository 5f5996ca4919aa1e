/**
 * Envelope encryption: app data sealed with AES-256-GCM under a fresh data
 * key (DEK) from the Gateway; the DEK's blob travels inside the envelope,
 * so the envelope alone (plus the Gateway) opens it. Version 1 format, all
 * integers big-endian:
 *
 * | offset  | size | field                          |
 * | ------- | ---- | ------------------------------ |
 * | 0       | 2    | magic `0x4B 0x45` ("KE")       |
 * | 2       | 1    | format version `0x01`          |
 * | 3       | 2    | blob length B                  |
 * | 5       | B    | DEK blob (docs/design.md section 3) |
 * | 5+B     | 12   | GCM nonce                      |
 * | 17+B    | n    | ciphertext                     |
 * | 17+B+n  | 16   | GCM tag                        |
 *
 * AAD = bytes `[0, 5+B)` followed by the caller context. The header is
 * self-delimiting, so header and context cannot be confused; the context is
 * also bound into the blob itself (the Gateway checks it on decrypt).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KryptonError } from './catalogue.js';

export interface EnvelopeOptions {
  /** The service whose keys seal the DEK. */
  service: string;
  /** Caller context: the same bytes must be given to decrypt. */
  context?: Uint8Array;
}

/** What the envelope helpers need of a client. */
export interface KeySource {
  createKey(service: string, opts?: { context?: Uint8Array }): Promise<{ plaintext: Buffer; blob: Buffer }>;
  decryptKey(blob: Uint8Array, opts?: { context?: Uint8Array }): Promise<Buffer>;
}

const MAGIC = Buffer.from('KE', 'latin1');
const VERSION = 0x01;
const HEAD = 5;
const NONCE = 12;
const TAG = 16;

function aad(header: Uint8Array, context: Uint8Array | undefined): Buffer {
  return context === undefined ? Buffer.from(header) : Buffer.concat([header, context]);
}

export async function encryptEnvelope(client: KeySource, data: Uint8Array, opts: EnvelopeOptions): Promise<Buffer> {
  const dek = await client.createKey(opts.service, opts.context === undefined ? {} : { context: opts.context });
  try {
    const b = dek.blob.length;
    if (b > 0xffff) throw new KryptonError('INTERNAL', 'blob too long for an envelope');
    const header = Buffer.allocUnsafe(HEAD + b);
    MAGIC.copy(header, 0);
    header[2] = VERSION;
    header.writeUInt16BE(b, 3);
    dek.blob.copy(header, HEAD);
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', dek.plaintext, nonce);
    cipher.setAAD(aad(header, opts.context));
    const body = Buffer.concat([cipher.update(data), cipher.final()]);
    return Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
  } finally {
    dek.plaintext.fill(0); // the DEK lives only as long as this call
  }
}

export async function decryptEnvelope(
  client: KeySource,
  envelope: Uint8Array,
  opts: { context?: Uint8Array } = {},
): Promise<Buffer> {
  const env = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  const bad = () => new KryptonError('INVALID_BLOB', 'invalid envelope');
  if (env.length < HEAD || env[0] !== MAGIC[0] || env[1] !== MAGIC[1] || env[2] !== VERSION) throw bad();
  const b = env.readUInt16BE(3);
  if (env.length < HEAD + b + NONCE + TAG) throw bad();
  const header = env.subarray(0, HEAD + b);
  const nonce = env.subarray(HEAD + b, HEAD + b + NONCE);
  const body = env.subarray(HEAD + b + NONCE, env.length - TAG);
  const tag = env.subarray(env.length - TAG);
  const dek = await client.decryptKey(
    header.subarray(HEAD),
    opts.context === undefined ? {} : { context: opts.context },
  );
  try {
    const decipher = createDecipheriv('aes-256-gcm', dek, nonce, { authTagLength: TAG });
    decipher.setAAD(aad(header, opts.context));
    decipher.setAuthTag(tag);
    const out = decipher.update(body);
    try {
      return Buffer.concat([out, decipher.final()]);
    } catch {
      out.fill(0); // unauthenticated plaintext never leaves this function
      throw bad();
    }
  } finally {
    dek.fill(0);
  }
}
