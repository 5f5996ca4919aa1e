/**
 * The Core: lease issuance per second over one HTTP/2 session (closed loop,
 * a real `krypton core` process and mTLS; each lease sealed and signed),
 * and the cold-hydration time of a
 * scope (KSI read + IVK/L2/L3 unwraps into the arena) on SQLite and, when
 * it answers, PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Core } from '../src/core/core.js';
import { prepareDevCore, spawnDevCore } from '../src/dev/core-process.js';
import { HpkeRecipient } from '../src/native/index.js';
import { newLeaseRequest } from '../src/protocol/lease.js';

export interface CoreBenchResult {
  lease: {
    concurrency: number;
    seconds: number;
    leases: number;
    perSecond: number;
    p50ms: number;
    p99ms: number;
    versionsPerLease: number;
  };
  hydration: { engine: string; versions: number; runs: number; medianMs: number; p90ms: number }[];
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function leaseThroughput(dir: string): Promise<CoreBenchResult['lease']> {
  const paths = await prepareDevCore(join(dir, 'proc'), { port: 0 });
  const core = await spawnDevCore(paths);
  try {
    const admin = core.client('admin');
    await admin.request('POST', '/v1/admin/tenants/bench');
    await admin.request('POST', '/v1/admin/tenants/bench/services/app');
    for (let i = 0; i < 2; i++) await admin.request('POST', '/v1/admin/tenants/bench/services/app/rotate');
    const gw = core.client('gateway');
    const recipient = HpkeRecipient.generate();
    // A fresh nonce per request, as a Gateway sends (the reply is signed over it).
    const body = () => newLeaseRequest('bench', 'app', recipient.publicKey);
    const opts = { contentType: 'application/msgpack' as const };
    let versionsPerLease = 0;
    for (let i = 0; i < 50; i++)
      versionsPerLease = (await gw.request<{ versions: unknown[] }>('POST', '/v1/leases', body(), opts)).body.versions
        .length;
    const concurrency = 16;
    const seconds = 3;
    const latencies: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          await gw.request('POST', '/v1/leases', body(), opts);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    recipient.destroy();
    return {
      concurrency,
      seconds: elapsed,
      leases: latencies.length,
      perSecond: latencies.length / elapsed,
      p50ms: pct(latencies, 0.5),
      p99ms: pct(latencies, 0.99),
      versionsPerLease,
    };
  } finally {
    await core.stop();
  }
}

async function coldHydration(
  engine: string,
  ksiUrl: string,
  dir: string,
): Promise<CoreBenchResult['hydration'][number]> {
  const core = await Core.open({ ksiUrl, tier2Dir: join(dir, `tier2-${engine}`), gateways: {} });
  try {
    await core.init();
    await core.onboardTenant('bench');
    await core.defineScope('bench', 'app');
    for (let i = 0; i < 4; i++) await core.rotate('bench', 'app');
    const times: number[] = [];
    for (let i = 0; i < 60; i++) {
      core.l3.evict('bench');
      core.l2.evict('bench');
      const t0 = performance.now();
      await core.l3.versions('bench', 'app');
      times.push(performance.now() - t0);
    }
    times.splice(0, 10); // warm-up
    times.sort((a, b) => a - b);
    return { engine, versions: 5, runs: times.length, medianMs: pct(times, 0.5), p90ms: pct(times, 0.9) };
  } finally {
    await core.close();
  }
}

export async function runCoreBench(): Promise<CoreBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'krypton-bench-core-'));
  try {
    const lease = await leaseThroughput(dir);
    const hydration = [await coldHydration('SQLite', `sqlite:${join(dir, 'hydrate.db')}`, dir)];
    const pg = process.env.KRYPTON_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    const schema = `krypton_bench_${process.pid}`;
    try {
      hydration.push(await coldHydration('PostgreSQL', `${pg}?schema=${schema}`, dir));
    } catch (err) {
      console.log(`(PostgreSQL hydration skipped: ${(err as Error).message})`);
    } finally {
      await dropSchema(pg, schema).catch(() => undefined);
    }
    return { lease, hydration };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await c.end();
  }
}
