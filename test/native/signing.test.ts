import { createPrivateKey, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publicKeyFromPem, SigningKey, storeStats, verifySignature } from '../../src/native/index.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });

// RFC 8032 section 7.1, TESTs 1 to 3.
const RFC8032 = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pub: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

describe('Ed25519 signing keys in the arena', () => {
  it('signs the RFC 8032 vectors exactly, and node:crypto agrees on them', () => {
    for (const v of RFC8032) {
      const seed = Buffer.from(v.seed, 'hex');
      const msg = Buffer.from(v.msg, 'hex');
      const node = nodeSign(
        null,
        msg,
        createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }),
      );
      expect(node.toString('hex')).toBe(v.sig);
      const key = SigningKey.fromSeed(seed);
      expect(key.publicKey.toString('hex')).toBe(v.pub);
      expect(key.sign(msg).toString('hex')).toBe(v.sig);
      expect(verifySignature(key.publicKey, msg, Buffer.from(v.sig, 'hex'))).toBe(true);
      key.destroy();
    }
  });

  it('loads a PKCS#8 PEM key file into the arena (a stored key); its public key matches the .pub PEM', () => {
    const dir = mkdtempSync(join(tmpdir(), 'krypton-sign-'));
    try {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      const pem = Buffer.from(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
      writeFileSync(join(dir, 'k.key'), pem);
      const before = storeStats().keys;
      const key = SigningKey.load(join(dir, 'k.key'));
      expect(storeStats().keys).toBe(before + 1); // the seed is a stored key
      const fromPem = SigningKey.fromPem(Buffer.from(pem));
      expect(key.publicKey.equals(publicKeyFromPem(publicKey.export({ format: 'pem', type: 'spki' }) as string))).toBe(
        true,
      );
      const msg = Buffer.from('an event');
      expect(verifySignature(key.publicKey, msg, key.sign(msg))).toBe(true);
      expect(verifySignature(key.publicKey, msg, fromPem.sign(msg))).toBe(true);
      key.destroy();
      fromPem.destroy();
      expect(storeStats().keys).toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a wrong signature, message or key does not verify; a destroyed key does not sign', () => {
    const key = SigningKey.fromSeed(Buffer.alloc(32, 7));
    const other = SigningKey.fromSeed(Buffer.alloc(32, 8));
    const msg = Buffer.from('lease');
    const sig = key.sign(msg);
    const bad = Buffer.from(sig);
    bad[5] ^= 1;
    expect(verifySignature(key.publicKey, msg, bad)).toBe(false);
    expect(verifySignature(key.publicKey, Buffer.from('lease!'), sig)).toBe(false);
    expect(verifySignature(other.publicKey, msg, sig)).toBe(false);
    expect(verifySignature(key.publicKey.subarray(1), msg, sig)).toBe(false);
    expect(verifySignature(key.publicKey, msg, sig.subarray(1))).toBe(false);
    key.destroy();
    expect(() => key.sign(msg)).toThrow(code('KEY_UNAVAILABLE'));
    other.destroy();
  });

  it('refuses what is not an Ed25519 PKCS#8 key, or a seed of the wrong size', () => {
    const { privateKey } = generateKeyPairSync('x25519');
    expect(() =>
      SigningKey.fromPem(Buffer.from(privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)),
    ).toThrow(code('BAD_REQUEST'));
    expect(() =>
      SigningKey.fromPem(Buffer.from('-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n')),
    ).toThrow(code('BAD_REQUEST'));
    expect(() => SigningKey.fromPem(Buffer.from('no pem here'))).toThrow(code('BAD_REQUEST'));
    expect(() => SigningKey.fromSeed(Buffer.alloc(31))).toThrow(code('BAD_REQUEST'));
  });
});
