/**
 * The Core as an Orbital actor: it consumes the Registry's and the CMK
 * Server's events (idempotently: the handled id is checked before and kept
 * after the reaction, and a per-subject mark drops news older than what was
 * applied), emits its State.Manifest through the outbox in its KSI, and
 * runs the deadman switch on the CMK Server's heartbeats. Every event it
 * sees was authenticated by the mesh (signature, signer's role, date); a
 * replay of a genuine one changes nothing: a handled id is a duplicate, an
 * event older than the subject's mark is stale, and a heartbeat not newer
 * than the last one accepted from its CMK Server does not count.
 *
 * It consumes only while unsealed: a sealed Core cannot build keys, and a
 * handler that failed for that reason would burn the event's attempts and
 * dead-letter it. Events wait in the Core's durable queue meanwhile.
 */
import type { Logger } from 'pino';
import type { Envelope, EventType, OrbitalEvent } from '../../protocol/orbital-events.js';
import { makeEvent } from '../../protocol/orbital-events.js';
import type { Mesh, Subscription } from '../../mesh/mesh.js';
import { Outbox } from '../../mesh/outbox.js';
import { startRetention } from '../../mesh/retention.js';
import type { Counter, Registry } from '../../metrics/registry.js';
import type { KsiTx } from '../../storage/ksi/ksi.js';
import type { Core } from '../core.js';
import { DEFAULT_SOVEREIGN_TTL_SECONDS, SovereignDeadman } from './deadman.js';
import { buildManifest } from './manifest.js';
import { CoreReactions } from './reactions.js';

export interface CoreOrbitalOptions {
  /** The Core's actor id: its queue's name and the manifest's `core`. */
  id: string;
  mesh: Mesh;
  logger: Logger;
  /** How often the manifest goes out (default 60 s). */
  manifestSeconds?: number;
  /** Strict Sovereign TTL (default 24 h). */
  sovereignTtlSeconds?: number;
  metrics?: Registry;
}

export const CORE_CONSUMES: readonly EventType[] = [
  'Tenant.Define',
  'Key.Define',
  'L1.Reference',
  'Sovereign.Heartbeat',
  'Key.Purge',
  'L1.Revoke',
];

const LAST_HEARD_MARK = 'deadman:last-heard';
/** Per CMK Server: the signed time of the newest heartbeat accepted from it. */
const lastBeatMark = (cmk: string) => `deadman:last-beat:${cmk}`;
/** Persisting the time last heard at most this often: heartbeats come every few seconds. */
const PERSIST_EVERY_MS = 10_000;

/** The subject whose newest applied event time orders the events about it. */
function subjectOf(e: OrbitalEvent): string | null {
  switch (e.type) {
    case 'Tenant.Define':
      return `registry:tenant:${e.payload.tenant}`;
    case 'Key.Define':
    case 'Key.Purge':
      return `registry:scope:${e.payload.tenant}/${e.payload.service}`;
    case 'L1.Reference':
    case 'L1.Revoke':
      return `cmk:tenant:${e.payload.tenant}`;
    default:
      return null;
  }
}

export class CoreOrbital {
  readonly outbox: Outbox<KsiTx>;
  private readonly reactions: CoreReactions;
  private subscription: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;
  private persistedAt = 0;
  private readonly lastBeat = new Map<string, number>();
  private stopped = false;
  private readonly counts = new Map<string, number>();
  private lastManifestAt: number | null = null;
  private pendingCache = 0;
  private refresh: NodeJS.Timeout | null = null;
  private watch: NodeJS.Timeout | null = null;
  private stopRetention: () => void = () => undefined;
  private eventsTotal: Counter | null = null;

  private constructor(
    private readonly core: Core,
    readonly deadman: SovereignDeadman,
    private readonly opts: CoreOrbitalOptions,
  ) {
    this.outbox = new Outbox(core.ksi, { mesh: opts.mesh, logger: opts.logger, now: () => core.clock.now() });
    this.reactions = new CoreReactions(core, opts.logger);
  }

  static async attach(core: Core, opts: CoreOrbitalOptions): Promise<CoreOrbital> {
    const ttlMs = (opts.sovereignTtlSeconds ?? DEFAULT_SOVEREIGN_TTL_SECONDS) * 1000;
    const now = core.clock.now();
    let last = await core.ksi.read((tx) => tx.getMark(LAST_HEARD_MARK));
    if (last === null) {
      last = now;
      await core.ksi.tx((tx) => tx.putMark(LAST_HEARD_MARK, now));
    }
    const node = new CoreOrbital(core, new SovereignDeadman(core.clock, ttlMs, last), opts);
    core.setServingGate(node.deadman);
    // Declared at once, so events published while the Core is sealed wait for it.
    await opts.mesh
      .declare(opts.id, CORE_CONSUMES)
      .catch((err: unknown) =>
        opts.logger.warn({ err: (err as Error).message }, 'orbital: cannot declare the Core queue yet'),
      );
    node.outbox.start();
    node.stopRetention = startRetention(core.ksi, node.outbox, () => core.clock.now(), opts.logger, 'core');
    node.watchDeadman();
    core.onUnsealed(() => void node.resume());
    core.onSealed(() => void node.pause());
    if (!core.sealStatus().sealed) await node.resume();
    node.registerMetrics();
    return node;
  }

  /** Builds the manifest now and hands it to the outbox (an unsent older one is replaced). */
  async publishManifest(): Promise<void> {
    if (this.core.sealStatus().sealed) return;
    const at = this.core.clock.now();
    const payload = await buildManifest(this.core.ksi, this.opts.id, at);
    await this.outbox.transact(async (tx) => {
      await tx.discardUnsentOutbox('State.Manifest');
      return { result: undefined, events: [makeEvent('State.Manifest', this.opts.id, payload, { at })] };
    });
    this.lastManifestAt = at;
  }

  status(): Record<string, unknown> {
    const d = this.deadman.state();
    return {
      id: this.opts.id,
      mesh: this.opts.mesh.status(),
      consuming: this.subscription !== null,
      lastManifestAt: this.lastManifestAt,
      events: Object.fromEntries(this.counts),
      sovereignty: {
        serving: d.serving,
        reason: d.reason,
        cmk: d.cmk,
        lastHeardAt: d.lastHeardAt,
        silentSeconds: Math.floor(d.silentMs / 1000),
        ttlSeconds: d.ttlMs / 1000,
      },
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.refresh) clearInterval(this.refresh);
    if (this.watch) clearInterval(this.watch);
    this.stopRetention();
    await this.pause();
    await this.outbox.stop();
    this.core.setServingGate(null);
  }

  /**
   * Turns the deadman's verdict into events: when key serving pauses, the
   * event log says so and Gateways drop every lease at once (instead of
   * serving until their leases expire); when it resumes, it says so too.
   */
  private watchDeadman(): void {
    let serving = this.deadman.state().serving;
    this.watch = setInterval(() => {
      const s = this.deadman.state();
      if (s.serving === serving || this.core.sealStatus().sealed) return;
      serving = s.serving;
      if (!s.serving) this.opts.logger.error({ reason: s.reason }, 'sovereign deadman: key serving paused');
      const at = this.core.clock.now();
      const type = s.serving ? 'serving.resumed' : 'serving.paused';
      this.core.ksi
        .tx((tx) => this.core.events.append(tx, { type, at, details: s.serving ? {} : { reason: s.reason } }))
        .then((e) => this.core.events.publish([e]))
        .catch((err: unknown) => this.opts.logger.error({ err }, `sovereign deadman: ${type} not recorded`));
    }, 1000);
    this.watch.unref();
  }

  private async resume(): Promise<void> {
    if (this.stopped || this.subscription !== null) return;
    this.subscription = await this.opts.mesh.subscribe(this.opts.id, CORE_CONSUMES, (e) => this.handle(e));
    const every = (this.opts.manifestSeconds ?? 60) * 1000;
    const tick = () =>
      this.publishManifest().catch((err: unknown) =>
        this.opts.logger.warn({ err: (err as Error).message }, 'orbital: manifest not built'),
      );
    void tick();
    this.timer = setInterval(() => void tick(), every);
    this.timer.unref();
  }

  private async pause(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const sub = this.subscription;
    this.subscription = null;
    await sub?.cancel();
  }

  private count(type: string, outcome: string): void {
    const key = `${type}:${outcome}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    this.eventsTotal?.inc({ type, outcome });
  }

  private async handle(e: OrbitalEvent): Promise<void> {
    if (e.type === 'Sovereign.Heartbeat') {
      this.count(e.type, await this.heard(e));
      return;
    }
    const subject = subjectOf(e);
    const skip = await this.core.ksi.read(async (tx) => {
      if (await tx.hasProcessed(this.opts.id, e.id)) return 'duplicate';
      const mark = subject === null ? null : await tx.getMark(subject);
      return mark !== null && e.at < mark ? 'stale' : null;
    });
    if (skip === null) {
      try {
        await this.apply(e);
      } catch (err) {
        this.count(e.type, 'error');
        this.opts.logger.error(
          { err, event: e.id, type: e.type },
          'orbital: event not applied; it will be delivered again',
        );
        throw err;
      }
    }
    await this.core.ksi.tx(async (tx) => {
      await tx.markProcessed(this.opts.id, e.id, this.core.clock.now());
      if (skip === null && subject !== null) {
        const mark = await tx.getMark(subject);
        if (mark === null || e.at > mark) await tx.putMark(subject, e.at);
      }
    });
    this.count(e.type, skip ?? 'applied');
    this.opts.logger.info(
      { event: e.id, type: e.type, source: e.source, outcome: skip ?? 'applied' },
      'orbital: event handled',
    );
  }

  private apply(e: OrbitalEvent): Promise<void> {
    const actor = `orbital:${e.source}`;
    switch (e.type) {
      case 'Tenant.Define':
        return this.reactions.tenantDefine(e.payload, actor);
      case 'Key.Define':
        return this.reactions.keyDefine(e.payload, actor);
      case 'Key.Purge':
        return this.reactions.keyPurge(e.payload, actor);
      case 'L1.Reference':
        return this.reactions.l1Reference(e.payload, actor);
      case 'L1.Revoke':
        return this.reactions.l1Revoke(e.payload, actor);
      default:
        return Promise.resolve();
    }
  }

  /**
   * A heartbeat counts only if its signed time is after the last one
   * accepted from that CMK Server: a replayed (or reordered) beat proves
   * nothing about now, so it cannot keep the deadman switch quiet.
   */
  private async heard(e: Envelope<'Sovereign.Heartbeat'>): Promise<'applied' | 'stale'> {
    const cmk = e.payload.cmk;
    let last = this.lastBeat.get(cmk);
    if (last === undefined) last = (await this.core.ksi.read((tx) => tx.getMark(lastBeatMark(cmk)))) ?? -1;
    if (e.at <= last) {
      this.lastBeat.set(cmk, last);
      this.opts.logger.warn(
        { event: e.id, cmk, at: e.at, lastAt: last },
        'orbital: heartbeat not newer than the last one accepted (a replay?); ignored',
      );
      return 'stale';
    }
    // Kept before it counts: a failure here redelivers the beat, which must not then look like a replay.
    await this.core.ksi.tx((tx) => tx.putMark(lastBeatMark(cmk), e.at));
    this.lastBeat.set(cmk, e.at);
    await this.beat(cmk);
    return 'applied';
  }

  private async beat(cmk: string): Promise<void> {
    const now = this.core.clock.now();
    const wasServing = this.deadman.state().serving;
    this.deadman.heard(cmk, now);
    if (!wasServing)
      this.opts.logger.warn({ cmk }, 'sovereign deadman: the CMK Server is heard again; key serving resumes');
    if (now - this.persistedAt >= PERSIST_EVERY_MS) {
      this.persistedAt = now;
      await this.core.ksi.tx(async (tx) => {
        const stored = await tx.getMark(LAST_HEARD_MARK);
        if (stored === null || now > stored) await tx.putMark(LAST_HEARD_MARK, now);
      });
    }
  }

  private registerMetrics(): void {
    const m = this.opts.metrics;
    if (m === undefined) return;
    m.gauge('krypton_core_serving_paused', '1 while the sovereign deadman switch pauses key serving').set(() =>
      this.deadman.state().serving ? 0 : 1,
    );
    m.gauge('krypton_core_sovereign_silence_seconds', 'seconds since the CMK Server was last heard').set(() =>
      Math.floor(this.deadman.state().silentMs / 1000),
    );
    m.gauge('krypton_core_orbital_outbox_pending', 'events in the Core outbox not yet confirmed by the mesh').set(
      () => this.pendingCache,
    );
    this.eventsTotal = m.counter(
      'krypton_core_orbital_events_total',
      'Orbital events by type and outcome (applied, duplicate, stale, error)',
      ['type', 'outcome'],
    );
    this.refresh = setInterval(() => {
      this.outbox.pending().then(
        (n) => (this.pendingCache = n),
        () => undefined,
      );
    }, 5_000);
    this.refresh.unref();
  }
}
