import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPkcs11L1Key,
  destroyPkcs11L1Key,
  openL1Provider,
  PKCS11_WRAPPED_BYTES,
} from '../../../src/core/l1/index.js';
import type { L1Provider } from '../../../src/core/l1/index.js';
import { pkcs11js } from '../../../src/core/l1/pkcs11-module.js';
import { resolveTarget, TokenSession } from '../../../src/core/l1/pkcs11-token.js';
import { destroyKey, generateKey, openWithKey, sealWithKey } from '../../../src/native/index.js';
import { missing, PIN, skip, SoftHsm } from './softhsm.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
const aad = Buffer.from('tenant=acme;l2=v1');
const TOKEN = 'krypton-l1';

(skip ? describe.skip : describe)('pkcs11 L1 against SoftHSM2', () => {
  let hsm: SoftHsm;
  let n = 0;
  const open: L1Provider[] = [];
  /** Links a fresh key (new label) and returns its URI with the PIN. */
  const link = async () => {
    const label = `l1-${n++}`;
    const ref = await createPkcs11L1Key(hsm.uri(TOKEN, 'ignored'), label);
    expect(ref).not.toContain(PIN);
    return { label, ref, uri: hsm.uri(TOKEN, label) };
  };
  const provider = async (uri: string, opts = {}) => {
    const p = await openL1Provider('pkcs11', uri, opts);
    open.push(p);
    return p;
  };

  beforeAll(() => {
    // Fail, do not skip, when SoftHSM2 is missing: the pkcs11 path would go untested silently.
    if (missing !== undefined) throw new Error(missing);
    hsm = new SoftHsm();
    hsm.initToken(TOKEN);
  });
  afterAll(async () => {
    for (const p of open) await p.close();
    hsm?.remove();
  });

  it('links a key, binds a fresh L2 and recovers it into the store (seal/open proof)', async () => {
    const { ref, label } = await link();
    expect(ref).toBe(`pkcs11:token=${TOKEN};object=${label};type=secret-key?module-path=${hsm.module}`);
    const l1 = await provider(ref, { pin: PIN }); // the stored ref has no PIN: it comes from the caller
    expect(l1.kind).toBe('pkcs11');
    expect(l1.ref).toBe(ref);
    const { handle, wrapped } = await l1.generateWrapped(aad);
    expect(wrapped.length).toBe(PKCS11_WRAPPED_BYTES);
    const sealed = sealWithKey(handle, Buffer.from('hello L2'));
    await l1.close();

    const again = await provider(ref, { pin: PIN });
    const recovered = await again.unwrap(wrapped, aad);
    expect(recovered).not.toBe(handle);
    expect(openWithKey(recovered, sealed).toString()).toBe('hello L2');
    // Two bindings of the same kind of L2 never share an IV.
    const second = await again.generateWrapped(aad);
    expect(second.wrapped.subarray(0, 12).equals(wrapped.subarray(0, 12))).toBe(false);
    [handle, recovered, second.handle].forEach(destroyKey);
    await again.check();
  });

  it('creates the key in the token as sensitive and never extractable', async () => {
    const { uri } = await link();
    const target = resolveTarget(uri);
    const token = TokenSession.open(target, PIN);
    try {
      const key = token.findKey(target);
      const attrs = token.module.lib.C_GetAttributeValue(token.session, key, [
        { type: pkcs11js.CKA_TOKEN },
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_VALUE_LEN },
      ]);
      // CK_BBOOL is one byte, CK_ULONG is native-endian (little-endian on CI).
      expect(attrs.map((a) => a.value[0])).toEqual([1, 1, 0, 32]);
      expect(() => token.module.lib.C_GetAttributeValue(token.session, key, [{ type: pkcs11js.CKA_VALUE }])).toThrow(
        /CKR_ATTRIBUTE_SENSITIVE/,
      );
    } finally {
      token.close();
    }
    await expect(createPkcs11L1Key(uri, target.object)).rejects.toThrow(code('BAD_REQUEST'));
  });

  it('refuses wrap of an L2 already in the store: a pkcs11 L1 binds at creation', async () => {
    const l1 = await provider((await link()).uri);
    const l2 = generateKey();
    await expect(l1.wrap(l2, aad)).rejects.toThrow(/use generateWrapped/);
    await expect(l1.wrap(l2, aad)).rejects.toThrow(code('BAD_REQUEST'));
    destroyKey(l2);
  });

  it('wrong AAD, tampered or truncated bindings and another L1: INVALID_BLOB', async () => {
    const l1 = await provider((await link()).uri);
    const other = await provider((await link()).uri);
    const { handle, wrapped } = await l1.generateWrapped(aad);
    destroyKey(handle);
    await expect(l1.unwrap(wrapped, Buffer.from('tenant=evil;l2=v1'))).rejects.toThrow(code('INVALID_BLOB'));
    await expect(l1.unwrap(wrapped, new Uint8Array(0))).rejects.toThrow(code('INVALID_BLOB'));
    for (const i of [0, 11, 12, 43, 44, wrapped.length - 1]) {
      const t = Buffer.from(wrapped);
      t[i] = (t[i] ?? 0) ^ 0x80;
      await expect(l1.unwrap(t, aad)).rejects.toThrow(code('INVALID_BLOB'));
    }
    await expect(l1.unwrap(wrapped.subarray(0, wrapped.length - 1), aad)).rejects.toThrow(code('INVALID_BLOB'));
    await expect(l1.unwrap(Buffer.concat([wrapped, Buffer.alloc(1)]), aad)).rejects.toThrow(code('INVALID_BLOB'));
    await expect(other.unwrap(wrapped, aad)).rejects.toThrow(code('INVALID_BLOB'));
    // The session survives failed decryptions.
    const again = await l1.unwrap(wrapped, aad);
    destroyKey(again);
  });

  it('unlink (key destroyed in the token): unwrap, check and open fail with KEY_UNAVAILABLE', async () => {
    const { uri } = await link();
    const l1 = await provider(uri);
    const { handle, wrapped } = await l1.generateWrapped(aad);
    destroyKey(handle);
    await destroyPkcs11L1Key(uri);
    await expect(l1.unwrap(wrapped, aad)).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await expect(l1.generateWrapped(aad)).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await expect(l1.check()).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await expect(openL1Provider('pkcs11', uri)).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await expect(destroyPkcs11L1Key(uri)).rejects.toThrow(code('KEY_UNAVAILABLE'));
  });

  it('unlink (token deleted): open fails with KEY_UNAVAILABLE', async () => {
    // SoftHSM2 scans its token directory at C_Initialize: close every provider so the
    // module is finalized, and the next open re-initialises and sees the token changes.
    for (const p of open.splice(0)) await p.close();
    const label = 'doomed';
    hsm.initToken(label);
    const ref = await createPkcs11L1Key(hsm.uri(label, 'x'), 'l1');
    const l1 = await openL1Provider('pkcs11', ref, { pin: PIN });
    const { handle, wrapped } = await l1.generateWrapped(aad);
    destroyKey(handle);
    await l1.close();
    hsm.deleteToken(label);
    await expect(openL1Provider('pkcs11', ref, { pin: PIN })).rejects.toThrow(code('KEY_UNAVAILABLE'));
    // The binding is now unrecoverable: no token can ever decrypt it again.
    expect(wrapped.length).toBe(PKCS11_WRAPPED_BYTES);
  });

  it('wrong PIN: KEY_UNAVAILABLE (first login, and beside a session already logged in), PIN in no message', async () => {
    for (const p of open.splice(0)) await p.close(); // first case: nobody logged in to the token
    const { ref } = await link();
    const tryWrong = async () => {
      const err = await openL1Provider('pkcs11', ref, { pin: 'wrong-pin-9876' }).catch((e: unknown) => e);
      expect(err).toEqual(code('KEY_UNAVAILABLE'));
      expect(String((err as Error).message)).not.toContain('wrong-pin-9876');
    };
    await tryWrong();
    // Second case: the token is logged in for this process, where C_Login would accept any PIN.
    const right = await provider(ref, { pin: PIN });
    await tryWrong();
    const { handle } = await right.generateWrapped(aad);
    destroyKey(handle);
    await expect(openL1Provider('pkcs11', ref)).rejects.toThrow(code('BAD_REQUEST')); // no PIN at all
  });

  it('reads the PIN from pin-source', async () => {
    const { ref } = await link();
    const pinFile = join(hsm.dir, 'pin');
    writeFileSync(pinFile, `${PIN}\n`, { mode: 0o600 });
    const l1 = await provider(`${ref}&pin-source=file:${pinFile}`);
    expect(l1.ref).toContain('pin-source=file:');
    const { handle } = await l1.generateWrapped(aad);
    destroyKey(handle);
  });

  it('closing one provider does not log the other out of the shared token', async () => {
    const a = await provider((await link()).uri);
    const b = await openL1Provider('pkcs11', (await link()).uri);
    await b.close();
    await b.close(); // idempotent
    const { handle, wrapped } = await a.generateWrapped(aad);
    destroyKey(handle);
    destroyKey(await a.unwrap(wrapped, aad));
    await expect(b.generateWrapped(aad)).rejects.toThrow(code('KEY_UNAVAILABLE'));
  });

  it('bad targets: unknown token or key, unloadable module -> KEY_UNAVAILABLE; bad URI -> BAD_REQUEST', async () => {
    await expect(openL1Provider('pkcs11', hsm.uri('no-such-token', 'x'))).rejects.toThrow(code('KEY_UNAVAILABLE'));
    await expect(openL1Provider('pkcs11', hsm.uri(TOKEN, 'no-such-key'))).rejects.toThrow(code('KEY_UNAVAILABLE'));
    const noModule = `pkcs11:token=${TOKEN};object=x?module-path=/nonexistent/libnope.so&pin-value=1`;
    await expect(openL1Provider('pkcs11', noModule)).rejects.toThrow(code('KEY_UNAVAILABLE'));
    for (const bad of [
      `pkcs11:token=${TOKEN};object=x?module-path=libsofthsm2.so&pin-value=1`, // relative module path
      `pkcs11:token=${TOKEN};object=x?module-name=softhsm2&pin-value=1`,
      `pkcs11:token=${TOKEN};object=x;type=private?module-path=${hsm.module}&pin-value=1`,
      `pkcs11:token=${TOKEN}?module-path=${hsm.module}&pin-value=1`, // no object
      `pkcs11:object=x?module-path=${hsm.module}&pin-value=1`, // no token
      `pkcs11:token=${TOKEN};object=x;x-vendor=1?module-path=${hsm.module}&pin-value=1`,
      'not-a-uri',
    ]) {
      await expect(openL1Provider('pkcs11', bad)).rejects.toThrow(code('BAD_REQUEST'));
    }
  });
});
