/**
 * Attacks across threads (review M4): with `--threads N` every thread has
 * its own lease cache over the one process-wide key store. Whatever one
 * thread's cache lets go of (a failed cold fetch, an expired lease, a stop)
 * must not destroy keys another thread still serves.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseCache } from '../../src/gateway/lease-cache.js';
import { createKey, openBlob, scopes, type ScopeRef } from '../../src/native/index.js';
import { ROOT } from '../core/process-fixture.js';
import { coreClientFor } from '../gateway/gateway-fixture.js';
import { startTcpProxy } from '../gateway/tcp-proxy.js';
import { openStage, type Stage } from './stage.js';

type Answer = { ok: boolean; code?: string; scopeId?: number; holders?: number };

/** A worker thread running its own LeaseCache (compiled), as a `--threads` Gateway thread does. */
async function threadCache(coreUrl: string, pki: string, opts: { maxTtlSeconds?: number } = {}) {
  const worker = new Worker(join(ROOT, 'test', 'fixtures', 'lease-cache-worker.mjs'), {
    workerData: { dist: join(ROOT, 'dist'), coreUrl, pki, tenant: 'acme', ...opts },
  });
  const answers: Answer[] = [];
  let wake: (() => void) | null = null;
  worker.on('message', (m: Answer & { ready?: boolean }) => {
    if (!m.ready) answers.push(m);
    wake?.();
  });
  await new Promise<void>((resolve, reject) => {
    wake = resolve;
    worker.once('error', reject);
  });
  const ask = async (m: { do: string; service?: string }): Promise<Answer> => {
    worker.postMessage(m);
    while (answers.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return answers.shift()!;
  };
  return { ask, end: async () => (await ask({ do: 'stop' }), await worker.terminate()) };
}

/** A port nothing listens on: a Core that is down. */
async function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe('two threads, two lease caches, one key store', () => {
  let stage: Stage;
  let mine: LeaseCache;
  let client: ReturnType<typeof coreClientFor>;
  let ref: ScopeRef;

  beforeAll(async () => {
    stage = await openStage({ tenants: { acme: ['app'] }, tokens: {} });
    client = coreClientFor(stage.core);
    mine = new LeaseCache({ core: client });
    ref = await mine.scope('acme', 'app');
  });
  afterAll(async () => {
    mine?.stop();
    await client?.close();
    await stage?.stop();
  });

  const stillServes = () => {
    const k = createKey(mine.scopeSync('acme', 'app')!);
    expect(openBlob('acme', k.blob).equals(k.plaintext)).toBe(true);
    expect(scopes.lookup('acme', 'app')).toBe(ref.id);
  };

  it("another thread's cold fetch of the same scope failing (its Core unreachable) leaves this thread's keys serving", async () => {
    const other = await threadCache(`https://127.0.0.1:${await deadPort()}`, stage.core.pki);
    try {
      expect(await other.ask({ do: 'lease', service: 'app' })).toMatchObject({ ok: false, code: 'KEY_UNAVAILABLE' });
      stillServes();
    } finally {
      await other.end();
    }
    stillServes();
  });

  it('another thread that leased the same scope and then stops (lets go of it) leaves this thread serving; the keys go when the last holder goes', async () => {
    const other = await threadCache(stage.core.url, stage.core.pki);
    const leased = await other.ask({ do: 'lease', service: 'app' });
    expect(leased).toMatchObject({ ok: true, scopeId: ref.id, holders: 2 });
    await other.end();
    stillServes();
    expect(scopes.holders('acme', 'app')).toBe(1);
  });

  it("another thread's lease expiring (its Core cut off: zeroized on its side) leaves this thread serving", async () => {
    const proxy = await startTcpProxy(stage.core.port);
    const other = await threadCache(proxy.url, stage.core.pki, { maxTtlSeconds: 1 });
    try {
      expect(await other.ask({ do: 'lease', service: 'app' })).toMatchObject({ ok: true });
      expect(scopes.holders('acme', 'app')).toBe(2);
      proxy.pause();
      await expect.poll(() => scopes.holders('acme', 'app'), { timeout: 3_000, interval: 50 }).toBe(1);
      stillServes();
    } finally {
      await other.end();
      await proxy.close();
    }
  });

  it('when this thread lets go too, the scope is destroyed: no holder, no keys', async () => {
    const blob = createKey(ref).blob;
    mine.stop();
    expect(scopes.lookup('acme', 'app')).toBe(0);
    expect(() => openBlob('acme', blob)).toThrow(expect.objectContaining({ code: 'INVALID_BLOB' }));
  });
});
