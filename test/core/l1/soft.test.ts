import { chmodSync, mkdtempSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSoftL1Key, openL1Provider, SoftL1Provider } from '../../../src/core/l1/index.js';
import { destroyKey, generateKey, openWithKey, sealWithKey } from '../../../src/native/index.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
const dir = mkdtempSync(join(tmpdir(), 'krypton-l1-soft-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const newKeyFile = () => {
  const p = join(dir, `l1-${n++}.key`);
  createSoftL1Key(p);
  return p;
};
const aad = Buffer.from('tenant=acme;l2=v1');

describe('soft L1', () => {
  it('creates a 32-byte key file with mode 0600 and refuses to overwrite it', () => {
    const p = newKeyFile();
    const st = statSync(p);
    expect(st.size).toBe(32);
    expect(st.mode & 0o777).toBe(0o600);
    expect(() => createSoftL1Key(p)).toThrow(code('BAD_REQUEST'));
  });

  it('generateWrapped/unwrap round trip, proven through the native store', async () => {
    const p = newKeyFile();
    const l1 = await openL1Provider('soft', p);
    expect(l1.kind).toBe('soft');
    expect(l1.ref).toBe(p);
    const { handle, wrapped } = await l1.generateWrapped(aad);
    const sealed = sealWithKey(handle, Buffer.from('hello L2'));
    await l1.close();

    // A fresh open of the same file recovers the same L2.
    const again = await openL1Provider('soft', p);
    const recovered = await again.unwrap(wrapped, aad);
    expect(recovered).not.toBe(handle);
    expect(openWithKey(recovered, sealed).toString()).toBe('hello L2');
    destroyKey(handle);
    destroyKey(recovered);
    await again.close();
  });

  it('wraps an L2 already in the store', async () => {
    const l1 = SoftL1Provider.open(newKeyFile());
    const l2 = generateKey();
    const wrapped = await l1.wrap(l2, aad);
    const back = await l1.unwrap(wrapped, aad);
    expect(openWithKey(back, sealWithKey(l2, Buffer.from('x'))).toString()).toBe('x');
    [l2, back].forEach(destroyKey);
    await l1.close();
  });

  it('refuses a wrong AAD, a tampered wrap and another L1', async () => {
    const l1 = SoftL1Provider.open(newKeyFile());
    const other = SoftL1Provider.open(newKeyFile());
    const { handle, wrapped } = await l1.generateWrapped(aad);
    destroyKey(handle);
    await expect(l1.unwrap(wrapped, Buffer.from('tenant=evil;l2=v1'))).rejects.toThrow(code('INVALID_BLOB'));
    for (const i of [0, 30, wrapped.length - 1]) {
      const t = Buffer.from(wrapped);
      t[i] = (t[i] ?? 0) ^ 1;
      await expect(l1.unwrap(t, aad)).rejects.toThrow(code('INVALID_BLOB'));
    }
    await expect(l1.unwrap(wrapped.subarray(0, 20), aad)).rejects.toThrow(code('INVALID_BLOB'));
    await expect(other.unwrap(wrapped, aad)).rejects.toThrow(code('INVALID_BLOB'));
    await l1.close();
    await other.close();
  });

  it('missing key file: KEY_UNAVAILABLE at open, and after the file is removed', async () => {
    await expect(openL1Provider('soft', join(dir, 'nope.key'))).rejects.toThrow(code('KEY_UNAVAILABLE'));
    const p = newKeyFile();
    const l1 = await openL1Provider('soft', p);
    const { handle, wrapped } = await l1.generateWrapped(aad);
    destroyKey(handle);
    unlinkSync(p);
    await expect(l1.check()).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await expect(l1.unwrap(wrapped, aad)).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await expect(l1.generateWrapped(aad)).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await l1.close();
  });

  it('a changed key file is KEY_UNAVAILABLE; a touched but identical one is fine', async () => {
    const p = newKeyFile();
    const l1 = await openL1Provider('soft', p);
    const { handle, wrapped } = await l1.generateWrapped(aad);
    destroyKey(handle);
    chmodSync(p, 0o600); // changes ctime only: re-verified by key check value, still the same key
    await l1.check();
    unlinkSync(p);
    createSoftL1Key(p); // same path, new key
    await expect(l1.check()).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await expect(l1.unwrap(wrapped, aad)).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await l1.close();
  });

  it('refuses malformed or group-readable key files, and closed providers', async () => {
    const short = join(dir, 'short.key');
    writeFileSync(short, Buffer.alloc(16), { mode: 0o600 });
    await expect(openL1Provider('soft', short)).rejects.toThrow(code('KEY_UNAVAILABLE'));
    const loose = newKeyFile();
    chmodSync(loose, 0o644);
    await expect(openL1Provider('soft', loose)).rejects.toThrow(code('KEY_UNAVAILABLE'));
    const l1 = await openL1Provider('soft', newKeyFile());
    await l1.close();
    await l1.close(); // idempotent
    await expect(l1.generateWrapped(aad)).rejects.toThrow(code('KEY_UNAVAILABLE'));
  });

  it('unknown kinds and empty refs are BAD_REQUEST', async () => {
    await expect(openL1Provider('nope' as 'soft', 'x')).rejects.toThrow(code('BAD_REQUEST'));
    await expect(openL1Provider('soft', '')).rejects.toThrow(code('BAD_REQUEST'));
  });
});
