import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Piscina, transferableSymbol, valueSymbol } from 'piscina';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import runBulk, { type BulkResult, type MovedBulkResult } from '../../src/native/bulk-task.js';
import {
  createInto,
  createKey,
  createKeys,
  destroyKey,
  generateKey,
  openBlob,
  openWithKey,
  scopeRef,
  scopes,
  wipeCryptoContexts,
} from '../../src/native/index.js';

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
      const created = (await pool.run({ op: 'create', tenant: T, service: S, count: 100 })) as BulkResult & {
        op: 'create';
      };
      expect(created.op).toBe('create');
      expect(created.version).toBe(3);
      expect(created.records.byteLength).toBe(100 * created.recordBytes);
      for (let i = 0; i < 100; i++) {
        const rec = Buffer.from(
          created.records.buffer,
          created.records.byteOffset + i * created.recordBytes,
          created.recordBytes,
        );
        expect(openBlob(T, rec.subarray(32)).equals(rec.subarray(0, 32))).toBe(true);
      }
      const { keys } = createKeys(scopeRef(T, S)!, 50);
      // Copies: a view of createKeys' buffer would clone its L4s into the worker.
      const blobs = keys.map((k) => new Uint8Array(k.blob));
      const opened = (await pool.run({
        op: 'open',
        tenant: T,
        blobs: [...blobs, Buffer.from('bad')],
      })) as BulkResult & {
        op: 'open';
      };
      expect(opened.out.byteLength).toBe(51 * 32);
      expect([...opened.statuses]).toEqual([...Array<number>(50).fill(0), 1]); // 1: INVALID_BLOB
      keys.forEach((k, i) =>
        expect(Buffer.from(opened.out.subarray(i * 32, (i + 1) * 32)).equals(k.plaintext)).toBe(true),
      );
      expect(opened.out.subarray(50 * 32).every((b) => b === 0)).toBe(true);
      const rewrapped = (await pool.run({ op: 'rewrap', tenant: T, blobs })) as BulkResult & { op: 'rewrap' };
      expect([...rewrapped.statuses]).toEqual(Array<number>(50).fill(0));
      const len = blobs[0].length;
      expect(rewrapped.out.byteLength).toBe(50 * len);
      keys.forEach((k, i) =>
        expect(openBlob(T, rewrapped.out.subarray(i * len, (i + 1) * len)).equals(k.plaintext)).toBe(true),
      );
      // A refusal comes back as a value with its code (an Error crossing the thread would keep only its message).
      expect(await pool.run({ op: 'create', tenant: T, service: 'not-leased', count: 1 })).toEqual({
        op: 'failed',
        code: 'KEY_UNAVAILABLE',
        message: 'no usable key',
      });
    } finally {
      await pool.destroy();
    }
  });
});

describe('the bulk task leaves no key material behind in its worker (review L3)', () => {
  it("hands the buffer the addon filled to Piscina for transfer, not cloning, and wipes the thread's GCM contexts", () => {
    wipeCryptoContexts();
    const r = runBulk({ op: 'create', tenant: T, service: S, count: 4 }) as MovedBulkResult;
    const created = r[valueSymbol] as BulkResult & { op: 'create' };
    expect(r[transferableSymbol]).toEqual([created.records.buffer]);
    expect(created.records.buffer.byteLength).toBe(4 * created.recordBytes); // its own ArrayBuffer, not a pool slab
    expect(wipeCryptoContexts()).toBe(0); // the task's finally already did

    const blob = created.records.slice(32, created.recordBytes);
    const o = runBulk({ op: 'open', tenant: T, blobs: [blob] }) as MovedBulkResult;
    const opened = o[valueSymbol] as BulkResult & { op: 'open' };
    expect(o[transferableSymbol]).toEqual([opened.out.buffer, opened.statuses.buffer]);
    expect(Buffer.from(opened.out).equals(Buffer.from(created.records.subarray(0, 32)))).toBe(true);
    expect(wipeCryptoContexts()).toBe(0);

    // A task that throws wipes too.
    createInto(scopeRef(T, S)!, 1, undefined, new Uint8Array(scopeRef(T, S)!.recordBytes));
    // (its refusal comes back as a value: an Error crossing threads would lose its code)
    expect(runBulk({ op: 'create', tenant: T, service: S, count: 0 })).toMatchObject({
      op: 'failed',
      code: 'BAD_REQUEST',
    });
    expect(wipeCryptoContexts()).toBe(0);

    // Control: the same create outside the task leaves its context keyed.
    createInto(scopeRef(T, S)!, 1, undefined, new Uint8Array(scopeRef(T, S)!.recordBytes));
    expect(wipeCryptoContexts()).toBe(1);
  });
});

describe('scope holders across threads (review M4)', () => {
  it("a worker thread's hold and release of a scope never destroys the keys the main thread still serves", async () => {
    const held = 'held';
    const mine = scopes.newHolder();
    const id = scopes.hold(T, held, mine);
    scopes.bind(T, held, 1, 'ACTIVE', generateKey());
    const before = createKey(scopeRef(T, held)!);
    const worker = new Worker(join(root, 'test', 'fixtures', 'holder-worker.mjs'), {
      workerData: { surface: pathToFileURL(surface).href, tenant: T, service: held },
      execArgv: [],
    });
    const reply = await new Promise<{
      holder: number;
      id: number;
      holders: number;
      released: boolean;
      again: boolean;
      junk: boolean;
      lookup: number;
      blob: Uint8Array;
      plaintext: Uint8Array;
    }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    expect(reply.holder).not.toBe(mine); // holder ids are process-wide
    expect(reply.id).toBe(id);
    expect(reply.holders).toBe(2);
    expect(reply.released).toBe(false);
    expect(reply.again).toBe(false);
    expect(reply.junk).toBe(false);
    expect(reply.lookup).toBe(id);
    // The main thread still serves: old and worker-made blobs open, creates work.
    expect(scopes.lookup(T, held)).toBe(id);
    expect(scopes.holders(T, held)).toBe(1);
    expect(openBlob(T, before.blob).equals(before.plaintext)).toBe(true);
    expect(openBlob(T, Buffer.from(reply.blob)).equals(Buffer.from(reply.plaintext))).toBe(true);
    const after = createKey(scopeRef(T, held)!);
    expect(openBlob(T, after.blob).equals(after.plaintext)).toBe(true);
    expect(scopes.release(T, held, mine)).toBe(true);
    expect(scopes.lookup(T, held)).toBe(0);
  });
});
