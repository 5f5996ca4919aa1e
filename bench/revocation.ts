/**
 * Revocation propagation (docs/design.md section 6): from an L1.Revoke published
 * on Orbital to the Gateway refusing the tenant's requests with KEY_REVOKED.
 * The target is a refusal within 1 s of the event being published.
 *
 * One cluster of real processes on RabbitMQ (a Core and a Gateway; the
 * bench itself plays the Registry and the CMK Server by publishing their
 * events), one tenant and one scope. Each trial:
 *
 * 1. the Gateway serves a key.create (its lease is warm);
 * 2. t0 = the publish call of L1.Revoke (its broker confirm is inside the
 *    measured time: "published" means accepted by the broker); key.create
 *    probes go back to back on one WebSocket, one in flight, until one is
 *    refused with KEY_REVOKED; the figure is t0 -> receipt of that refusal;
 * 3. the same for a relink (L1.Reference link) until a create succeeds
 *    again: the secondary figure, relink -> serving.
 *
 * When the broker does not answer, the result says skipped and nothing fails.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createSoftL1Key } from '../src/core/l1/index.js';
import { Cluster } from '../src/dev/cluster.js';
import { AmqpMesh, deleteAmqpNamespace } from '../src/mesh/amqp.js';
import { OrbitalAuth } from '../src/mesh/auth.js';
import { SigningKey } from '../src/native/signing.js';
import {
  makeEvent,
  SENDER_ROLE,
  type EventType,
  type OrbitalEvent,
  type Payloads,
} from '../src/protocol/orbital-events.js';
import { pino } from 'pino';
import { envNumber } from './lib/args.js';
import { amqpUnreachable, benchAmqpUrl, redactUrl } from './lib/orbital-mesh.js';
import { summarizeMs, type MsSummary } from './lib/stats.js';
import { GatewayProbe } from './lib/ws-probe.js';

export const REVOCATION_TARGET_MS = 1_000;
const TENANT = 'rev';
const SERVICE = 'app';
const CORE_ID = 'core-a';

export interface RevocationBenchOptions {
  url?: string;
  /** Trials (env KRYPTON_BENCH_REVOKE_TRIALS, else 100). */
  trials?: number;
  /** A phase (refusal, recovery, setup step) not done within this time ends the run as incomplete (default 15 s). */
  phaseTimeoutMs?: number;
  /** Progress lines (stderr in the bench). */
  log?: (line: string) => void;
}

export interface RevocationTrial {
  trial: number;
  /** L1.Revoke publish call -> its broker confirm. */
  revokeConfirmMs: number;
  /** L1.Revoke publish call -> receipt of the first KEY_REVOKED. */
  revokedMs: number;
  /** Creates sent after the publish call, the refused one included. */
  probesUntilRefused: number;
  /** L1.Revoke publish call -> receipt of the last reply before the refusal (NaN when the first probe was refused). */
  lastServedMs: number;
  /** L1.Reference link publish call -> receipt of the first successful create. */
  relinkMs: number;
  probesUntilServing: number;
  /** Error codes other than the awaited ones seen during the trial (code -> count); normally empty. */
  otherCodes: Record<string, number>;
}

export interface RevocationBenchResult {
  /** Without credentials. */
  broker: string;
  namespace?: string;
  skipped?: string;
  /** Trials asked for. */
  trials?: number;
  targetMs: number;
  /** Set when a phase failed or timed out: the trials before it are kept. */
  incomplete?: string;
  /** Revoke publish -> KEY_REVOKED, over completed trials. */
  revokeToRefusedMs?: MsSummary;
  /** Relink publish -> serving again, over completed trials. */
  relinkToServingMs?: MsSummary;
  /** Revoke publish -> the last key the Gateway served (the refusal then waits on the Core; see lastServedMs). */
  revokeToLastServedMs?: MsSummary;
  /** Revoke publish -> broker confirm (part of revokeToRefused). */
  revokeConfirmMs?: MsSummary;
  /** Every trial done and max revoke -> refused within the target. */
  pass?: boolean;
  samples?: RevocationTrial[];
}

/** Event times strictly increasing: the Core drops news older than what it applied about a subject. */
function eventClock(): () => number {
  let last = 0;
  return () => (last = Math.max(Date.now(), last + 1));
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (err) {
      lastErr = err;
    }
    if (performance.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastErr instanceof Error ? `: ${lastErr.message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface TenantView {
  state?: string;
  scopes?: Array<{ service: string; deleted: boolean; versions: Array<{ state: string }> }>;
}

/**
 * Sends creates back to back until the awaited reply (a success, or a
 * KEY_REVOKED refusal); returns its receipt time, how many were sent and the
 * receipt time of the reply before it. Error codes other than KEY_REVOKED
 * are counted in `other`.
 */
async function probeUntil(
  probe: GatewayProbe,
  want: 'ok' | 'KEY_REVOKED',
  timeoutMs: number,
  other: Record<string, number>,
): Promise<{ at: number; probes: number; lastOtherAt: number }> {
  const deadline = performance.now() + timeoutMs;
  let probes = 0;
  let lastOtherAt = NaN;
  for (;;) {
    const r = await probe.create(SERVICE);
    probes++;
    if (want === 'ok' ? r.ok : r.code === want) return { at: r.at, probes, lastOtherAt };
    lastOtherAt = r.at;
    if (!r.ok && r.code !== 'KEY_REVOKED') other[r.code!] = (other[r.code!] ?? 0) + 1;
    if (r.at > deadline)
      throw new Error(
        `the Gateway did not ${want === 'ok' ? 'serve again' : 'refuse with KEY_REVOKED'} within ${timeoutMs} ms (${probes} probes)`,
      );
  }
}

export async function runRevocationBench(o: RevocationBenchOptions = {}): Promise<RevocationBenchResult> {
  const url = o.url ?? benchAmqpUrl();
  const broker = redactUrl(url);
  const targetMs = REVOCATION_TARGET_MS;
  const why = await amqpUnreachable(url);
  if (why !== null) return { broker, targetMs, skipped: `RabbitMQ not reachable at ${broker} (${why})` };
  const trials = Math.floor(o.trials ?? envNumber('KRYPTON_BENCH_REVOKE_TRIALS') ?? 100);
  const phaseMs = o.phaseTimeoutMs ?? 15_000;
  const log = o.log ?? (() => undefined);

  const dir = mkdtempSync(join(tmpdir(), 'krypton-bench-revoke-'));
  let cluster: Cluster | null = null;
  // The bench plays the Registry and the CMK Server: one connection each, signing with their keys from the cluster's
  // PKI.
  const meshes: Array<{ mesh: AmqpMesh; key: SigningKey }> = [];
  let probe: GatewayProbe | null = null;
  const samples: RevocationTrial[] = [];
  let namespace: string | undefined;
  let incomplete: string | undefined;
  try {
    cluster = await Cluster.prepare({
      dir,
      namespace: `krypton.bench.revoke.${process.pid}.${Date.now().toString(36)}`,
      brokerFor: () => url,
      tenants: [TENANT],
    });
    namespace = cluster.namespace;
    const c = cluster;
    // The Core declares its queue as it starts, so events published after this wait for it.
    await c.startCore({ id: CORE_ID });
    await c.startGateway();
    const logger = pino({ name: 'revocation-bench', level: 'warn' }, pino.destination(2));
    const actors = {} as Record<'registry' | 'cmk', AmqpMesh>;
    for (const role of ['registry', 'cmk'] as const) {
      const key = SigningKey.load(join(c.pki, `${role}-sign.key`));
      const mesh = new AmqpMesh({
        url,
        namespace,
        logger,
        confirmTimeoutMs: 10_000,
        auth: new OrbitalAuth({ id: role, role, signer: key, peers: [] }),
      });
      meshes.push({ mesh, key });
      await mesh.start(5_000);
      actors[role] = mesh;
    }
    const at = eventClock();
    const publish = <T extends EventType>(type: T, source: 'registry' | 'cmk', payload: Payloads[T]) => {
      if (SENDER_ROLE[type] !== source) throw new Error(`${source} does not send ${type}`);
      return actors[source].publish(makeEvent(type, source, payload, { at: at() }) as OrbitalEvent);
    };
    const l1 = join(dir, `${TENANT}.l1`);
    createSoftL1Key(l1);
    const link = () => publish('L1.Reference', 'cmk', { tenant: TENANT, action: 'link', kind: 'soft', ref: l1 });
    const tenantView = async () => (await c.call('core', 'GET', `/v1/admin/tenants/${TENANT}`)) as TenantView;

    // Setup the production way round: onboard, define, link; each step seen applied before the next.
    log(`revocation bench: cluster up (namespace ${namespace}); defining ${TENANT}/${SERVICE}`);
    await publish('Tenant.Define', 'registry', { tenant: TENANT, action: 'onboard' });
    await waitFor('the Core to record the tenant', phaseMs, async () =>
      (await tenantView()).state !== undefined ? true : null,
    );
    await publish('Key.Define', 'registry', { tenant: TENANT, service: SERVICE, action: 'define' });
    await waitFor('the Core to record the scope', phaseMs, async () =>
      (await tenantView()).scopes?.some((s) => s.service === SERVICE && !s.deleted) ? true : null,
    );
    await link();
    await waitFor('the Core to serve the scope', phaseMs, async () => {
      const t = await tenantView();
      return t.state === 'ACTIVE' &&
        t.scopes?.some((s) => s.service === SERVICE && s.versions.some((v) => v.state === 'ACTIVE'))
        ? true
        : null;
    });
    probe = await GatewayProbe.open(c.gatewayUrl(), c.tokens.get(TENANT)!);
    const p = probe;
    await waitFor('the Gateway to serve key.create', phaseMs, async () => ((await p.create(SERVICE)).ok ? true : null));

    for (let i = 1; i <= trials; i++) {
      try {
        const warm = await p.create(SERVICE);
        if (!warm.ok) throw new Error(`the Gateway did not serve before trial ${i} (${warm.code})`);
        const other: Record<string, number> = {};

        const t0 = performance.now();
        let confirmedAt = NaN;
        const confirm = publish('L1.Revoke', 'cmk', { tenant: TENANT, reason: `bench trial ${i}` }).then(
          () => void (confirmedAt = performance.now()),
        );
        // A failed publish must end the wait for a refusal, not leave it probing until the timeout.
        let publishFailed: Error | null = null;
        confirm.catch((err: Error) => void (publishFailed = err));
        const refused = await probeUntil(p, 'KEY_REVOKED', phaseMs, other).catch((err: Error) => {
          throw publishFailed ?? err;
        });
        await confirm;

        const t2 = performance.now();
        await link();
        const back = await probeUntil(p, 'ok', phaseMs, other);

        const trial: RevocationTrial = {
          trial: i,
          revokeConfirmMs: confirmedAt - t0,
          revokedMs: refused.at - t0,
          probesUntilRefused: refused.probes,
          lastServedMs: refused.lastOtherAt - t0,
          relinkMs: back.at - t2,
          probesUntilServing: back.probes,
          otherCodes: other,
        };
        samples.push(trial);
        if (i === 1 || i % 10 === 0 || i === trials)
          log(
            `revocation bench: trial ${i}/${trials}: revoked in ${trial.revokedMs.toFixed(1)} ms, serving again ${trial.relinkMs.toFixed(1)} ms after the relink`,
          );
      } catch (err) {
        incomplete = `trial ${i}: ${(err as Error).message}`;
        log(`revocation bench: ${incomplete}`);
        break;
      }
    }
  } catch (err) {
    incomplete = `setup: ${(err as Error).message}`;
    log(`revocation bench: ${incomplete}`);
  } finally {
    probe?.close();
    for (const { mesh, key } of meshes.splice(0)) {
      await mesh.close().catch(() => undefined);
      key.destroy();
    }
    await cluster?.stopAll().catch(() => undefined);
    // The Core's queue and the namespace's exchanges, on the broker the bench used.
    if (namespace !== undefined)
      await deleteAmqpNamespace(url, namespace, [CORE_ID]).catch((err: Error) =>
        log(`revocation bench: namespace ${namespace} not deleted: ${err.message}`),
      );
    rmSync(dir, { recursive: true, force: true });
  }
  const revokeToRefusedMs = summarizeMs(samples.map((s) => s.revokedMs));
  return {
    broker,
    ...(namespace !== undefined ? { namespace } : {}),
    trials,
    targetMs,
    ...(incomplete !== undefined ? { incomplete } : {}),
    revokeToRefusedMs,
    relinkToServingMs: summarizeMs(samples.map((s) => s.relinkMs)),
    revokeToLastServedMs: summarizeMs(samples.map((s) => s.lastServedMs).filter(Number.isFinite)),
    revokeConfirmMs: summarizeMs(samples.map((s) => s.revokeConfirmMs)),
    pass: incomplete === undefined && samples.length === trials && revokeToRefusedMs.max <= targetMs,
    samples,
  };
}

const ms = (n: number | undefined) => (n !== undefined && Number.isFinite(n) ? n.toFixed(1) : '');

export function printRevocationBench(r: RevocationBenchResult): void {
  if (r.skipped) {
    console.log(`\nRevocation: skipped: ${r.skipped}`);
    return;
  }
  const done = r.samples?.length ?? 0;
  console.log(
    `\nRevocation propagation through RabbitMQ at ${r.broker}: L1.Revoke publish call (broker confirm included) -> Gateway answers KEY_REVOKED, ` +
      `${done}/${r.trials} trials; target: refused within ${r.targetMs} ms`,
  );
  console.table([
    {
      measure: 'revoke -> refused',
      'p50 ms': ms(r.revokeToRefusedMs?.p50),
      'p99 ms': ms(r.revokeToRefusedMs?.p99),
      'max ms': ms(r.revokeToRefusedMs?.max),
      trials: done,
      verdict: r.pass ? 'PASS' : 'FAIL',
    },
    {
      measure: '(revoke -> last key served)',
      'p50 ms': ms(r.revokeToLastServedMs?.p50),
      'p99 ms': ms(r.revokeToLastServedMs?.p99),
      'max ms': ms(r.revokeToLastServedMs?.max),
      trials: r.revokeToLastServedMs?.count ?? 0,
      verdict: '',
    },
    {
      measure: 'relink -> serving',
      'p50 ms': ms(r.relinkToServingMs?.p50),
      'p99 ms': ms(r.relinkToServingMs?.p99),
      'max ms': ms(r.relinkToServingMs?.max),
      trials: done,
      verdict: '',
    },
  ]);
  if (r.incomplete) console.log(`Revocation: incomplete: ${r.incomplete}`);
}

/** Writes revocation.json into `dir` (the shape of the other modules' files); returns its path. */
export function writeRevocationResults(
  r: RevocationBenchResult,
  dir: string,
  started = new Date().toISOString(),
): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'revocation.json');
  writeFileSync(file, JSON.stringify({ started, node: process.version, revocation: r }, null, 2));
  return file;
}
