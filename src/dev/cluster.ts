/**
 * A distributed Krypton on one machine: every actor in its own process on
 * RabbitMQ (docs/design.md section 6) — Core, Registry, CMK Server — and a
 * Gateway, under one folder and one broker namespace. The disaster-recovery
 * tests and the revocation benchmark drive it: they start, kill and restart
 * actors, and can route each actor's broker link through a proxy they cut.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken } from '../gateway/tokens.js';
import type { MtlsClient } from '../http/index.js';
import { DEFAULT_AMQP_URL, deleteAmqpNamespace } from '../mesh/amqp.js';
import { initDevPki } from '../pki/index.js';
import { pkiClient, runCli } from './core-process.js';
import { spawnService, type Service, type SpawnOptions } from './spawn.js';

export type Actor = 'core' | 'registry' | 'cmk';

export interface ClusterOptions {
  dir: string;
  /** Broker namespace (exchanges and queues); default a random one. */
  namespace?: string;
  /** Where an actor reaches the broker (a test routes it through a proxy); default RabbitMQ on 127.0.0.1:5672. */
  brokerFor?: (actor: Actor) => string;
  /** KSI of the Core; default SQLite under dir. A postgres:// URL makes the KSI survive the Core's folder. */
  ksi?: string;
  leaseTtlSeconds?: number;
  sovereignTtlSeconds?: number;
  manifestSeconds?: number;
  heartbeatSeconds?: number;
  /** Tenants the Gateway accepts tokens for (tokens are read when it starts). */
  tenants?: string[];
  /**
   * Actor ids of the Cores that may run (default core-a, core-b, core-c):
   * the Registry and the CMK Server trust each by the PKI's Core signing key.
   */
  coreIds?: string[];
}

/** A trust entry: an actor pinned to its signing key in the cluster's PKI (paths relative to the cluster folder). */
const peer = (role: Actor) => ({ role, publicKey: `pki/${role}-sign.pub` });

export interface CoreStart {
  /** Actor id (its queue); default "core-a". */
  id?: string;
  /** Local state (tier-2 IVK files); default <dir>/core-<id>. */
  stateDir?: string;
  /**
   * Run `krypton core run` through this script instead of the CLI (a test launcher that gives the Core its own clock),
   * with this environment.
   */
  launcher?: { script: string; env?: NodeJS.ProcessEnv };
}

export class Cluster {
  readonly namespace: string;
  readonly pki: string;
  readonly tokens = new Map<string, string>();
  private readonly services = new Map<string, Service>();
  private readonly clients: MtlsClient[] = [];
  private corePort = 0;
  private readonly unsealFile: string;

  private constructor(private readonly opts: ClusterOptions) {
    this.namespace = opts.namespace ?? `krypton.cluster.${randomBytes(4).toString('hex')}`;
    this.pki = join(opts.dir, 'pki');
    this.unsealFile = join(opts.dir, 'unseal-shares.json');
  }

  /** Makes the PKI, the MasterKey (shares in a dev unseal file) and the Gateway's tokens. */
  static async prepare(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    await initDevPki(c.pki);
    const init = c.writeCoreConfig('init', { id: 'init' });
    await runCli(['core', 'init', '--config', init, '--unseal-file', c.unsealFile]);
    for (const t of opts.tenants ?? ['demo'])
      c.tokens.set(t, createToken(join(opts.dir, 'tokens.json'), t, ['*']).token);
    return c;
  }

  meshUrl(actor: Actor): string {
    const base = this.opts.brokerFor?.(actor) ?? DEFAULT_AMQP_URL;
    return `${base}${base.includes('?') ? '&' : '?'}namespace=${this.namespace}`;
  }

  async startCore(start: CoreStart = {}): Promise<Service> {
    const id = start.id ?? 'core-a';
    if (!this.coreIds.includes(id))
      throw new Error(
        `core ${id} is not among the cluster's coreIds (${this.coreIds.join(', ')}): the Registry and the CMK Server would refuse its manifests`,
      );
    const config = this.writeCoreConfig(id, start);
    const svc = await this.spawn(
      'core',
      ['core', 'run', '--config', config, '--unseal-file', this.unsealFile, '--no-harden'],
      'core.listening',
      start.launcher ?? {},
    );
    // Restarts keep the port, so a Gateway configured once keeps finding its Core.
    this.corePort = svc.port;
    return svc;
  }

  startRegistry(): Promise<Service> {
    const config = this.writeActorConfig('registry', {});
    return this.spawn('registry', ['registry', 'run', '--config', config], 'registry.listening');
  }

  startCmk(): Promise<Service> {
    const config = this.writeActorConfig('cmk', { heartbeatSeconds: this.opts.heartbeatSeconds ?? 1 });
    return this.spawn('cmk', ['cmk', 'run', '--config', config], 'cmk.listening');
  }

  async startGateway(): Promise<Service> {
    if (this.corePort === 0) throw new Error('start the Core before the Gateway');
    const config = join(this.opts.dir, 'gateway.json');
    writeFileSync(
      config,
      JSON.stringify({
        port: this.services.get('gateway')?.port ?? 0,
        coreUrl: `https://127.0.0.1:${this.corePort}`,
        coreSpiffeId: 'spiffe://krypton.dev/core',
        coreSigningKey: 'pki/core-sign.pub',
        // The cluster's Cores may run on a clock a test moves forward (a launcher's): allow their leases' issue times.
        maxLeaseSkewSeconds: 4 * 3600,
        tls: { cert: 'pki/gateway.pem', key: 'pki/gateway-key.pem', ca: 'pki/ca.pem' },
        tokensFile: 'tokens.json',
      }),
    );
    return this.spawn('gateway', ['gateway', '--config', config], 'gateway.listening');
  }

  service(name: string): Service {
    const s = this.services.get(name);
    if (s === undefined) throw new Error(`${name} is not running`);
    return s;
  }

  gatewayUrl(): string {
    return `ws://127.0.0.1:${this.service('gateway').port}/v1/ws`;
  }

  /** SIGKILL (a crash: nothing drained, nothing flushed) and wait for the exit. */
  async kill(name: string): Promise<void> {
    const s = this.services.get(name);
    if (s === undefined) return;
    this.services.delete(name);
    if (s.child.exitCode !== null || s.child.signalCode !== null) return;
    const exited = new Promise((r) => s.child.once('exit', r));
    s.child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM: a graceful stop (drain, zeroize). */
  async stop(name: string): Promise<void> {
    const s = this.services.get(name);
    this.services.delete(name);
    await s?.stop();
  }

  /** An admin mTLS client of an actor's API. */
  admin(actor: Actor): MtlsClient {
    const c = pkiClient(this.pki, `https://127.0.0.1:${this.service(actor).port}`, 'admin');
    this.clients.push(c);
    return c;
  }

  /** One admin call; the reply body. */
  async call(actor: Actor, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
    const c = pkiClient(this.pki, `https://127.0.0.1:${this.service(actor).port}`, 'admin');
    try {
      return (await c.request(method, path, body, body === undefined ? {} : { contentType: 'application/json' })).body;
    } finally {
      await c.close();
    }
  }

  /** Deletes the namespace's queues and exchanges from the broker (after stopAll). */
  deleteNamespace(consumers: readonly string[], url = DEFAULT_AMQP_URL): Promise<void> {
    return deleteAmqpNamespace(url, this.namespace, consumers);
  }

  async stopAll(): Promise<void> {
    for (const c of this.clients.splice(0)) await c.close().catch(() => undefined);
    for (const name of ['gateway', 'core', 'registry', 'cmk', ...this.services.keys()])
      await this.stop(name).catch(() => undefined);
  }

  private async spawn(name: string, args: string[], event: string, opts: SpawnOptions = {}): Promise<Service> {
    if (this.services.has(name)) throw new Error(`${name} is already running`);
    const svc = await spawnService(args, event, opts);
    this.services.set(name, svc);
    return svc;
  }

  private writeCoreConfig(id: string, start: CoreStart): string {
    const file = join(this.opts.dir, `core-${id}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        port: this.corePort,
        stateDir: start.stateDir ?? `core-${id}`,
        ksi: this.opts.ksi ?? 'sqlite:ksi.db',
        tls: { cert: 'pki/core.pem', key: 'pki/core-key.pem', ca: 'pki/ca.pem' },
        gateways: { 'spiffe://krypton.dev/gateway/default': ['*'] },
        admins: ['spiffe://krypton.dev/admin'],
        leaseTtlSeconds: this.opts.leaseTtlSeconds ?? 300,
        tickSeconds: 1,
        ...(id === 'init'
          ? {}
          : {
              orbital: {
                mesh: this.meshUrl('core'),
                id,
                manifestSeconds: this.opts.manifestSeconds ?? 1,
                sovereignTtlSeconds: this.opts.sovereignTtlSeconds ?? 24 * 3600,
                trust: { registry: peer('registry'), cmk: peer('cmk') },
              },
            }),
      }),
    );
    return file;
  }

  private get coreIds(): string[] {
    return this.opts.coreIds ?? ['core-a', 'core-b', 'core-c'];
  }

  private writeActorConfig(actor: 'registry' | 'cmk', extra: Record<string, unknown>): string {
    const file = join(this.opts.dir, `${actor}.json`);
    // Every event is signed (pki/<actor>-sign.key, beside the TLS key); each actor names whose events it accepts.
    const trust: Record<string, unknown> = Object.fromEntries(this.coreIds.map((id) => [id, peer('core')]));
    if (actor === 'cmk') trust['registry'] = peer('registry');
    writeFileSync(
      file,
      JSON.stringify({
        port: this.services.get(actor)?.port ?? 0,
        store: `sqlite:${actor}/${actor}.db`,
        mesh: this.meshUrl(actor),
        trust,
        ...extra,
      }),
    );
    return file;
  }
}
