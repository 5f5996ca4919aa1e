/**
 * Orbital over RabbitMQ: Key.Define events from one AmqpMesh connection to a
 * consumer on a second, every publish awaiting its publisher confirm (so each
 * event is durable before it counts), each signed on publish and checked on
 * delivery (Ed25519, as every actor does). Two runs on a throw-away namespace:
 *
 * - closed loop: windows of `window` publishes awaited together, as fast as
 *   the broker confirms; events/s is delivered events over the time to the
 *   last delivery. Its latency includes queueing behind the window.
 * - paced: a fixed rate well below saturation, so p50/p99 is the latency of
 *   one event (publish call -> handler start), not a queue.
 *
 * When the broker does not answer, the result says skipped and nothing fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makeEvent } from '../src/protocol/orbital-events.js';
import { envNumber } from './lib/args.js';
import {
  amqpUnreachable,
  benchAmqpUrl,
  openMeshPair,
  redactUrl,
  SendClock,
  type MeshPair,
} from './lib/orbital-mesh.js';
import { runSchedule } from './lib/pacer.js';
import { summarizeMs, type MsSummary } from './lib/stats.js';

export interface OrbitalBenchOptions {
  url?: string;
  /** Seconds per run (env KRYPTON_BENCH_ORBITAL_SECONDS, else KRYPTON_BENCH_SECONDS, else 3). */
  seconds?: number;
  /** Closed loop: publishes awaited together (default 64). */
  window?: number;
  /** Paced run: events per second (default 500). */
  rate?: number;
  /** Closed-loop warm-up, thrown away (default 0.5 s). */
  warmupSec?: number;
  /** The consumer's prefetch (default: the mesh's own, 16). */
  prefetch?: number;
}

export interface OrbitalRun {
  mode: 'closed' | 'paced';
  /** From the first publish to the last delivery. */
  seconds: number;
  published: number;
  /** Publishes that rejected (not confirmed). */
  failed: number;
  delivered: number;
  /** Confirmed but not delivered within the drain (should be 0). */
  lost: number;
  /** Delivered end to end per second. */
  eventsPerSec: number;
  /** Confirmed publishes per second (publish side only). */
  confirmedPerSec: number;
  window?: number;
  targetRate?: number;
  /** Publish call start -> handler start. */
  latencyMs: MsSummary;
}

export interface OrbitalBenchResult {
  /** Without credentials. */
  broker: string;
  /** Exchanges and queues used (deleted after the run). */
  namespace?: string;
  skipped?: string;
  options?: Required<Omit<OrbitalBenchOptions, 'url' | 'prefetch'>> & { prefetch: number | 'default' };
  closed?: OrbitalRun;
  paced?: OrbitalRun;
}

const CONSUMER = 'bench';
let seq = 0;
// Signed by the publisher (the Registry) and checked by the consumer (a Core), as in production.
const nextEvent = () =>
  makeEvent('Key.Define', 'registry', { tenant: 'bench', service: `s${++seq}`, action: 'define' });

/** Publishes one event timed by the clock; the promise never rejects (a failure is counted). */
function send(pair: MeshPair, clock: SendClock, counts: { published: number; failed: number }): Promise<void> {
  const e = nextEvent();
  clock.mark(e.id);
  return pair.publisher.publish(e).then(
    () => void counts.published++,
    () => {
      counts.failed++;
      clock.forget(e.id);
    },
  );
}

async function finish(
  mode: OrbitalRun['mode'],
  clock: SendClock,
  counts: { published: number; failed: number },
  t0: number,
  confirmedAt: number,
): Promise<OrbitalRun> {
  const lost = await clock.drain(10_000);
  const end = clock.lastArrival || performance.now();
  const delivered = clock.samples.length;
  return {
    mode,
    seconds: (end - t0) / 1000,
    ...counts,
    delivered,
    lost,
    eventsPerSec: delivered / ((end - t0) / 1000),
    confirmedPerSec: counts.published / ((confirmedAt - t0) / 1000),
    latencyMs: summarizeMs(clock.samples),
  };
}

async function closedLoop(pair: MeshPair, clock: SendClock, seconds: number, window: number): Promise<OrbitalRun> {
  clock.reset();
  const counts = { published: 0, failed: 0 };
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  while (performance.now() < deadline)
    await Promise.all(Array.from({ length: window }, () => send(pair, clock, counts)));
  return { ...(await finish('closed', clock, counts, t0, performance.now())), window };
}

async function paced(pair: MeshPair, clock: SendClock, seconds: number, rate: number): Promise<OrbitalRun> {
  clock.reset();
  const counts = { published: 0, failed: 0 };
  const inFlight: Promise<void>[] = [];
  const t0 = performance.now() + 5;
  await new Promise<void>((done) =>
    runSchedule(Math.round(seconds * rate), 1000 / rate, t0, () => void inFlight.push(send(pair, clock, counts)), done),
  );
  await Promise.all(inFlight);
  return { ...(await finish('paced', clock, counts, t0, performance.now())), targetRate: rate };
}

export async function runOrbitalBench(o: OrbitalBenchOptions = {}): Promise<OrbitalBenchResult> {
  const url = o.url ?? benchAmqpUrl();
  const broker = redactUrl(url);
  const why = await amqpUnreachable(url);
  if (why !== null) return { broker, skipped: `RabbitMQ not reachable at ${broker} (${why})` };
  const seconds = o.seconds ?? envNumber('KRYPTON_BENCH_ORBITAL_SECONDS') ?? envNumber('KRYPTON_BENCH_SECONDS') ?? 3;
  const options = {
    seconds,
    window: o.window ?? 64,
    rate: o.rate ?? 500,
    warmupSec: o.warmupSec ?? 0.5,
    prefetch: o.prefetch ?? ('default' as const),
  };
  const pair = await openMeshPair({ url, consumers: [CONSUMER], ...(o.prefetch ? { prefetch: o.prefetch } : {}) });
  try {
    const clock = new SendClock();
    await pair.consumer.subscribe(CONSUMER, ['Key.Define'], async (e) => void clock.arrive(e.id));
    if (options.warmupSec > 0) await closedLoop(pair, clock, options.warmupSec, options.window);
    const closed = await closedLoop(pair, clock, seconds, options.window);
    const pacedRun = await paced(pair, clock, seconds, options.rate);
    return { broker, namespace: pair.namespace, options, closed, paced: pacedRun };
  } finally {
    await pair.close();
  }
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '');

export function printOrbitalBench(r: OrbitalBenchResult): void {
  if (r.skipped) {
    console.log(`\nOrbital: skipped: ${r.skipped}`);
    return;
  }
  const prefetch = r.options?.prefetch === 'default' ? 'the default prefetch' : `prefetch ${r.options?.prefetch}`;
  console.log(
    `\nOrbital: Key.Define through RabbitMQ at ${r.broker}, persistent with publisher confirms, to one consumer on a second connection (${prefetch}, manual acks); latency = publish call -> handler start`,
  );
  console.table(
    [r.closed, r.paced]
      .filter((x): x is OrbitalRun => x !== undefined)
      .map((x) => ({
        run: x.mode === 'closed' ? `closed loop, ${x.window} in flight` : `paced at ${int(x.targetRate ?? 0)} ev/s`,
        'events/s': int(x.eventsPerSec),
        'confirmed/s': int(x.confirmedPerSec),
        'p50 ms': ms(x.latencyMs.p50),
        'p99 ms': ms(x.latencyMs.p99),
        'max ms': ms(x.latencyMs.max),
        events: x.delivered,
        'failed/lost': `${x.failed}/${x.lost}`,
      })),
  );
}

/** Writes orbital.json into `dir` (the shape of addon.json and core.json); returns its path. */
export function writeOrbitalResults(r: OrbitalBenchResult, dir: string, started = new Date().toISOString()): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'orbital.json');
  writeFileSync(file, JSON.stringify({ started, node: process.version, orbital: r }, null, 2));
  return file;
}
