import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey, createKeys, destroyKey, generateKey, openBlob, openWithKey, scopeRef, scopes } from '../../src/native/index.js';

// Worker threads run the compiled surface (`npm test` builds it first).
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const surface = join(root, 'dist', 'src', 'native', 'index.js');
const bulkTask = join(root, 'dist', 'src', 'native', 'bulk-task.js');

const T = 'threads-tenant';
const S = 'svc';

beforeAll(() => {
  if (!existsSync(surface) || !existsSync(bulkTask)) throw new Error('run `npm run build` first (npm test does)');
  scopes.bind(T, S, 3, 'ACTIVE', generateKey());
});
afterAll(() => {
  scopes.evict(T, S);
});

describe('one key store for every thread', () => {
  it('a worker thread opens blobs made in the main thread, and the reverse, and shares handles', async () => {
    const mine = createKey(scopeRef(T, S)!);
    const worker = new Worker(join(root, 'test', 'fixtures', 'store-worker.mjs'), {
      workerData: { surface: pathToFileURL(surface).href, tenant: T, service: S, blob: mine.blob },
      execArgv: [],
    });
    const reply = await new Promise<{
      opened: Uint8Array;
      created: { plaintext: Uint8Array; blob: Uint8Array };
      handle: number;
      sealed: Uint8Array;
    }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(Buffer.from(reply.opened).equals(mine.plaintext)).toBe(true);
    expect(openBlob(T, reply.created.blob).equals(Buffer.from(reply.created.plaintext))).toBe(true);
    // The worker has exited; the key it generated lives on in the store.
    expect(openWithKey(reply.handle, reply.sealed).toString()).toBe('from the worker');
    destroyKey(reply.handle);
  });

  it('a Piscina task creates, opens and rewraps with keys loaded in the main thread', async () => {
    const pool = new Piscina({ filename: bulkTask, minThreads: 1, maxThreads: 2 });
    try {
      const created = await pool.run({ op: 'create', tenant: T, service: S, count: 100 });
      expect(created.version).toBe(3);
      for (let i = 0; i < 100; i++) {
        const rec = Buffer.from(created.records.buffer, created.records.byteOffset + i * created.recordBytes, created.recordBytes);
        expect(openBlob(T, rec.subarray(32)).equals(rec.subarray(0, 32))).toBe(true);
      }
      const { keys } = createKeys(scopeRef(T, S)!, 50);
      const opened = await pool.run({ op: 'open', tenant: T, blobs: [...keys.map((k) => k.blob), Buffer.from('bad')] });
      keys.forEach((k, i) => expect(Buffer.from(opened.results[i]).equals(k.plaintext)).toBe(true));
      expect(opened.results[50]).toEqual({ code: 'INVALID_BLOB' });
      const rewrapped = await pool.run({ op: 'rewrap', tenant: T, blobs: keys.map((k) => k.blob) });
      keys.forEach((k, i) => expect(openBlob(T, Buffer.from(rewrapped.results[i])).equals(k.plaintext)).toBe(true));
    } finally {
      await pool.destroy();
    }
  });
});
