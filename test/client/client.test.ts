/** KryptonClient against the real local stack (Core and Gateway processes). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KryptonClient, KryptonConnectionError, KryptonError } from '../../src/client/index.js';
import { startStack, type TestStack } from './stack.js';

let stack: TestStack;
let client: KryptonClient;

beforeAll(async () => {
  stack = await startStack();
  client = await KryptonClient.connect({ url: stack.gatewayUrl, token: stack.token });
});
afterAll(async () => {
  await client?.close();
  await stack?.stop();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KryptonError);
    return (e as KryptonError).code;
  }
  throw new Error('expected a KryptonError');
}

describe('keys', () => {
  it('creates a key and decrypts its blob back to the same key', async () => {
    const k = await client.createKey('app');
    expect(k.plaintext.length).toBe(32);
    expect(Buffer.isBuffer(k.blob)).toBe(true);
    expect((await client.decryptKey(k.blob)).equals(k.plaintext)).toBe(true);
    expect(await client.info(k.blob)).toEqual({ tenant: 'demo', service: 'app', version: 1, state: 'ACTIVE' });
    await client.ping();
  });

  it('creates and decrypts many keys per call, splitting lists too large for one frame', async () => {
    const keys = await client.createKeys('app', 1500);
    expect(keys).toHaveLength(1500);
    expect(new Set(keys.map((k) => k.plaintext.toString('hex'))).size).toBe(1500);
    const before = client.stats();
    const plain = await client.decryptKeys(keys.map((k) => k.blob));
    expect(client.stats().requestsSent - before.requestsSent).toBeGreaterThan(1); // ~140 KB of blobs: several requests
    plain.forEach((p, i) => expect(p.equals(keys[i]!.plaintext)).toBe(true));
    expect(await client.decryptKeys([])).toEqual([]);
  });

  it('sends a burst of 1,000 concurrent creates in a few frames, and all succeed', async () => {
    const before = client.stats();
    const keys = await Promise.all(Array.from({ length: 1000 }, () => client.createKey('app')));
    const after = client.stats();
    expect(after.requestsSent - before.requestsSent).toBe(1000);
    const frames = after.framesSent - before.framesSent;
    expect(frames).toBeLessThanOrEqual(8); // 256 per frame: 4
    expect(new Set(keys.map((k) => k.plaintext.toString('hex'))).size).toBe(1000);
    // And back, again batched.
    const plain = await Promise.all(keys.map((k) => client.decryptKey(k.blob)));
    plain.forEach((p, i) => expect(p.equals(keys[i]!.plaintext)).toBe(true));
    expect(client.stats().framesSent - after.framesSent).toBeLessThanOrEqual(8);
  });

  it('pipelines: many frames in flight on one socket, replies matched by id', async () => {
    const keys = await client.createKeys('app', 50);
    const one = await KryptonClient.connect({ url: stack.gatewayUrl, token: stack.token, batch: { maxRequests: 1 } });
    try {
      const calls = keys.map((k) => one.decryptKey(k.blob));
      // Every call went out at once, in its own frame, before any reply was read.
      expect(one.stats()).toMatchObject({ framesSent: 50, requestsSent: 50, inflight: 50 });
      const plain = await Promise.all(calls);
      plain.forEach((p, i) => expect(p.equals(keys[i]!.plaintext)).toBe(true));
      expect(one.stats().inflight).toBe(0);
    } finally {
      await one.close();
    }
  });
});

describe('typed errors', () => {
  it('a tampered blob is INVALID_BLOB', async () => {
    const { blob } = await client.createKey('app');
    const bad = Buffer.from(blob);
    bad[bad.length - 1]! ^= 1;
    expect(await codeOf(client.decryptKey(bad))).toBe('INVALID_BLOB');
    expect(await codeOf(client.decryptKey(Buffer.from('not a blob')))).toBe('INVALID_BLOB');
  });

  it('a service that is not defined is UNKNOWN_SERVICE (a service the token may not use is FORBIDDEN: reconnect.test.ts)', async () => {
    expect(await codeOf(client.createKey('no-such-service'))).toBe('UNKNOWN_SERVICE');
  });

  it('count 5000 is BAD_REQUEST, and does not fail the requests batched with it', async () => {
    const [bad, good] = await Promise.allSettled([client.createKeys('app', 5000), client.createKey('app')]);
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason).toMatchObject({ code: 'BAD_REQUEST', status: 400 });
    expect(good.status).toBe('fulfilled');
  });

  it('a request larger than a frame is refused locally as FRAME_TOO_LARGE', async () => {
    expect(await codeOf(client.createKey('app', { context: Buffer.alloc(70 * 1024) }))).toBe('FRAME_TOO_LARGE');
  });

  it('a token the Gateway does not accept is UNAUTHENTICATED at connect', async () => {
    const err = await KryptonClient.connect({ url: stack.gatewayUrl, token: 'kt_nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KryptonError);
    expect(err).not.toBeInstanceOf(KryptonConnectionError);
    expect((err as KryptonError).code).toBe('UNAUTHENTICATED');
  });
});

describe('context binding', () => {
  it('a blob made with a context opens only with the same context', async () => {
    const context = Buffer.from('tenant-row:42');
    const k = await client.createKey('app', { context });
    expect((await client.decryptKey(k.blob, { context })).equals(k.plaintext)).toBe(true);
    expect(await codeOf(client.decryptKey(k.blob))).toBe('INVALID_BLOB');
    expect(await codeOf(client.decryptKey(k.blob, { context: Buffer.from('tenant-row:43') }))).toBe('INVALID_BLOB');
    const many = await client.createKeys('app', 3, { context });
    const plain = await client.decryptKeys(many.map((m) => m.blob), { context });
    plain.forEach((p, i) => expect(p.equals(many[i]!.plaintext)).toBe(true));
  });
});

describe('rotation', () => {
  it('rewrap after a rotation seals the same key under the new version', async () => {
    const context = Buffer.from('ctx');
    const k = await client.createKey('app', { context });
    const old = (await client.info(k.blob)).version;
    const version = await stack.rotate('app');
    expect(version).toBeGreaterThan(old);
    // The Gateway learns of the rotation from the Core's event stream: give it a moment.
    let blob = await client.rewrapKey(k.blob, { context });
    for (let i = 0; i < 50 && (await client.info(blob)).version !== version; i++) {
      await new Promise((r) => setTimeout(r, 100));
      blob = await client.rewrapKey(k.blob, { context });
    }
    expect(await client.info(blob)).toMatchObject({ tenant: 'demo', service: 'app', version, state: 'ACTIVE' });
    expect((await client.decryptKey(blob, { context })).equals(k.plaintext)).toBe(true);
    expect((await client.decryptKey(k.blob, { context })).equals(k.plaintext)).toBe(true); // the old one still opens
    const [again] = await client.rewrapKeys([k.blob], { context });
    expect((await client.info(again!)).version).toBe(version);
  });
});
