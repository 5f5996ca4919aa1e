/** KryptonClient against the real local stack (Core and Gateway processes). */
import { describe, expect, it } from 'vitest';
import { KryptonClient, KryptonConnectionError, KryptonError } from '@krypton/client';
import { refusedWith, useStackClient } from './stack.js';

const t = useStackClient();

describe('keys', () => {
  it('creates a key and decrypts its blob back to the same key', async () => {
    const k = await t.client.createKey('app');
    expect(k.plaintext.length).toBe(32);
    expect(Buffer.isBuffer(k.blob)).toBe(true);
    expect((await t.client.decryptKey(k.blob)).equals(k.plaintext)).toBe(true);
    expect(await t.client.info(k.blob)).toEqual({ tenant: 'demo', service: 'app', version: 1, state: 'ACTIVE' });
    await t.client.ping();
  });

  it('creates and decrypts many keys per call, splitting lists too large for one frame', async () => {
    const keys = await t.client.createKeys('app', 1500);
    expect(keys).toHaveLength(1500);
    expect(new Set(keys.map((k) => k.plaintext.toString('hex'))).size).toBe(1500);
    const before = t.client.stats();
    const plain = await t.client.decryptKeys(keys.map((k) => k.blob));
    // ~140 KB of blobs: several requests
    expect(t.client.stats().requestsSent - before.requestsSent).toBeGreaterThan(1);
    plain.forEach((p, i) => expect(p.equals(keys[i].plaintext)).toBe(true));
    expect(await t.client.decryptKeys([])).toEqual([]);
  });

  it('sends a burst of 1,000 concurrent creates in a few frames, and all succeed', async () => {
    const before = t.client.stats();
    const keys = await Promise.all(Array.from({ length: 1000 }, () => t.client.createKey('app')));
    const after = t.client.stats();
    expect(after.requestsSent - before.requestsSent).toBe(1000);
    const frames = after.framesSent - before.framesSent;
    expect(frames).toBeLessThanOrEqual(8); // 256 per frame: 4
    expect(new Set(keys.map((k) => k.plaintext.toString('hex'))).size).toBe(1000);
    // And back, again batched.
    const plain = await Promise.all(keys.map((k) => t.client.decryptKey(k.blob)));
    plain.forEach((p, i) => expect(p.equals(keys[i].plaintext)).toBe(true));
    expect(t.client.stats().framesSent - after.framesSent).toBeLessThanOrEqual(8);
  });

  it('pipelines: many frames in flight on one socket, replies matched by id', async () => {
    const keys = await t.client.createKeys('app', 50);
    const one = await KryptonClient.connect({
      url: t.stack.gatewayUrl,
      token: t.stack.token,
      batch: { maxRequests: 1 },
    });
    try {
      const calls = keys.map((k) => one.decryptKey(k.blob));
      // Every call went out at once, in its own frame, before any reply was read.
      expect(one.stats()).toMatchObject({ framesSent: 50, requestsSent: 50, inflight: 50 });
      const plain = await Promise.all(calls);
      plain.forEach((p, i) => expect(p.equals(keys[i].plaintext)).toBe(true));
      expect(one.stats().inflight).toBe(0);
    } finally {
      await one.close();
    }
  });
});

describe('typed errors', () => {
  it('a tampered blob is INVALID_BLOB', async () => {
    const { blob } = await t.client.createKey('app');
    const bad = Buffer.from(blob);
    bad[bad.length - 1] ^= 1;
    expect(await refusedWith(t.client.decryptKey(bad))).toBe('INVALID_BLOB');
    expect(await refusedWith(t.client.decryptKey(Buffer.from('not a blob')))).toBe('INVALID_BLOB');
  });

  it('a service that is not defined is UNKNOWN_SERVICE (a service the token may not use is FORBIDDEN: reconnect.test.ts)', async () => {
    expect(await refusedWith(t.client.createKey('no-such-service'))).toBe('UNKNOWN_SERVICE');
  });

  it('count 5000 is BAD_REQUEST, and does not fail the requests batched with it', async () => {
    const [bad, good] = await Promise.allSettled([t.client.createKeys('app', 5000), t.client.createKey('app')]);
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).toMatchObject({ code: 'BAD_REQUEST', status: 400 });
    expect(good.status).toBe('fulfilled');
  });

  it('a request larger than a frame is refused locally as FRAME_TOO_LARGE', async () => {
    expect(await refusedWith(t.client.createKey('app', { context: Buffer.alloc(70 * 1024) }))).toBe('FRAME_TOO_LARGE');
  });

  it('a token the Gateway does not accept is UNAUTHENTICATED at connect', async () => {
    const err = await KryptonClient.connect({ url: t.stack.gatewayUrl, token: 'kt_nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KryptonError);
    expect(err).not.toBeInstanceOf(KryptonConnectionError);
    expect((err as KryptonError).code).toBe('UNAUTHENTICATED');
  });
});

describe('context binding', () => {
  it('a blob made with a context opens only with the same context', async () => {
    const context = Buffer.from('tenant-row:42');
    const k = await t.client.createKey('app', { context });
    expect((await t.client.decryptKey(k.blob, { context })).equals(k.plaintext)).toBe(true);
    expect(await refusedWith(t.client.decryptKey(k.blob))).toBe('INVALID_BLOB');
    expect(await refusedWith(t.client.decryptKey(k.blob, { context: Buffer.from('tenant-row:43') }))).toBe(
      'INVALID_BLOB',
    );
    const many = await t.client.createKeys('app', 3, { context });
    const plain = await t.client.decryptKeys(
      many.map((m) => m.blob),
      { context },
    );
    plain.forEach((p, i) => expect(p.equals(many[i].plaintext)).toBe(true));
  });
});

describe('rotation', () => {
  it('rewrap after a rotation seals the same key under the new version', async () => {
    const context = Buffer.from('ctx');
    const k = await t.client.createKey('app', { context });
    const old = (await t.client.info(k.blob)).version;
    const version = await t.stack.rotate('app');
    expect(version).toBeGreaterThan(old);
    // The Gateway learns of the rotation from the Core's event stream: give it a moment.
    let blob = await t.client.rewrapKey(k.blob, { context });
    for (let i = 0; i < 50 && (await t.client.info(blob)).version !== version; i++) {
      await new Promise((r) => setTimeout(r, 100));
      blob = await t.client.rewrapKey(k.blob, { context });
    }
    expect(await t.client.info(blob)).toMatchObject({ tenant: 'demo', service: 'app', version, state: 'ACTIVE' });
    expect((await t.client.decryptKey(blob, { context })).equals(k.plaintext)).toBe(true);
    expect((await t.client.decryptKey(k.blob, { context })).equals(k.plaintext)).toBe(true); // the old one still opens
    const [again] = await t.client.rewrapKeys([k.blob], { context });
    expect((await t.client.info(again)).version).toBe(version);
  });
});
