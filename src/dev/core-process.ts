/**
 * A local Core for development and benchmarks: the dev PKI, a config, a
 * MasterKey whose shares sit in a 0600 unseal file, and `krypton core run`
 * as its own process. Idempotent: a second call reuses the state, so keys
 * (and the blobs made with them) survive restarts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMtlsClient, type MtlsClient } from '../http/index.js';
import { initDevPki } from '../pki/index.js';
import { CLI, spawnService, type Service } from './spawn.js';

export interface DevCorePaths {
  dir: string;
  pki: string;
  config: string;
  unsealFile: string;
}

export interface DevCoreOptions {
  port?: number;
  gateways?: Record<string, string[]>;
  leaseTtlSeconds?: number;
  tickSeconds?: number;
}

export function runCli(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--secure-heap=65536', CLI, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`krypton ${args.join(' ')} failed: ${err}`)),
    );
  });
}

/** Makes (or reuses) the PKI, config and initialized KSI under dir. */
export async function prepareDevCore(dir: string, opts: DevCoreOptions = {}): Promise<DevCorePaths> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pki = join(dir, 'pki');
  await initDevPki(pki);
  const config = join(dir, 'core.json');
  if (!existsSync(config)) {
    writeFileSync(
      config,
      JSON.stringify(
        {
          port: opts.port ?? 7443,
          stateDir: 'core',
          ksi: 'sqlite:core/ksi.db',
          tls: { cert: 'pki/core.pem', key: 'pki/core-key.pem', ca: 'pki/ca.pem' },
          gateways: opts.gateways ?? { 'spiffe://krypton.dev/gateway/default': ['*'] },
          admins: ['spiffe://krypton.dev/admin'],
          leaseTtlSeconds: opts.leaseTtlSeconds ?? 300,
          tickSeconds: opts.tickSeconds ?? 30,
        },
        null,
        2,
      ),
    );
  }
  const unsealFile = join(dir, 'unseal-shares.json');
  if (!existsSync(unsealFile)) await runCli(['core', 'init', '--config', config, '--unseal-file', unsealFile]);
  return { dir, pki, config, unsealFile };
}

export interface DevCore {
  child: ChildProcess;
  port: number;
  url: string;
  /** An mTLS client with one of the dev identities ('admin', 'gateway'). */
  client(identity: 'admin' | 'gateway'): MtlsClient;
  stop(): Promise<void>;
}

/** An mTLS client to url with the certificate `<pki>/<identity>.pem` of the dev PKI. */
export function pkiClient(pki: string, url: string, identity: string): MtlsClient {
  return createMtlsClient({
    url,
    cert: readFileSync(join(pki, `${identity}.pem`)),
    key: readFileSync(join(pki, `${identity}-key.pem`)),
    ca: readFileSync(join(pki, 'ca.pem')),
    timeoutMs: 10_000,
  });
}

/** Runs `krypton core run` (unsealed from the dev unseal file) and waits until it listens. */
export async function spawnDevCore(paths: DevCorePaths, extraArgs: string[] = []): Promise<DevCore> {
  const svc = await spawnService(
    ['core', 'run', '--config', paths.config, '--unseal-file', paths.unsealFile, ...extraArgs],
    'core.listening',
  );
  return devCoreOf(svc, paths.pki);
}

/** A running Core (alone or in the control plane) with the clients it hands out closed on stop. */
function devCoreOf(svc: Service, pki: string): DevCore {
  const url = `https://127.0.0.1:${svc.port}`;
  const clients: MtlsClient[] = [];
  return {
    child: svc.child,
    port: svc.port,
    url,
    client: (identity) => {
      const c = pkiClient(pki, url, identity);
      clients.push(c);
      return c;
    },
    stop: async () => {
      for (const c of clients.splice(0)) await c.close().catch(() => undefined);
      await svc.stop();
    },
  };
}

export interface DevControlPlanePaths extends DevCorePaths {
  registryConfig: string;
  cmkConfig: string;
}

/** A trust entry of an actor config: an actor of the dev control plane, pinned to its signing key in the dev PKI. */
const devPeer = (role: 'registry' | 'cmk' | 'core') => ({ role, publicKey: `pki/${role}-sign.pub` });

/**
 * Writes an actor config unless it exists; one made before events were
 * signed gets the trust section it now needs (and keeps everything else).
 */
function writeActorConfig(file: string, fresh: Record<string, unknown>): void {
  if (!existsSync(file)) {
    writeFileSync(file, JSON.stringify(fresh, null, 2));
    return;
  }
  const current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (current.trust === undefined) writeFileSync(file, JSON.stringify({ ...current, trust: fresh.trust }, null, 2));
}

/**
 * The dev Core's files plus the Registry's and the CMK Server's configs
 * (stores under dir). Each actor trusts the others by the signing keys of
 * the dev PKI: the Registry takes manifests from the Core (id `core`), the
 * CMK Server definitions from the Registry and manifests from the Core; the
 * Core's own trust is set by the control plane (see control-plane.ts).
 */
export async function prepareDevControlPlane(
  dir: string,
  opts: DevCoreOptions & { registryPort?: number; cmkPort?: number; heartbeatSeconds?: number } = {},
): Promise<DevControlPlanePaths> {
  const core = await prepareDevCore(dir, opts);
  const registryConfig = join(dir, 'registry.json');
  const cmkConfig = join(dir, 'cmk.json');
  writeActorConfig(registryConfig, {
    port: opts.registryPort ?? 7444,
    store: 'sqlite:registry/registry.db',
    mesh: 'memory',
    trust: { core: devPeer('core') },
  });
  writeActorConfig(cmkConfig, {
    port: opts.cmkPort ?? 7445,
    store: 'sqlite:cmk/cmk.db',
    mesh: 'memory',
    heartbeatSeconds: opts.heartbeatSeconds ?? 30,
    trust: { registry: devPeer('registry'), core: devPeer('core') },
  });
  return { ...core, registryConfig, cmkConfig };
}

export interface DevControlPlane extends DevCore {
  registryUrl: string;
  cmkUrl: string;
}

/** Runs `krypton control-plane` (Core, Registry, CMK Server on one bus), unsealed from the dev unseal file. */
export async function spawnDevControlPlane(paths: DevControlPlanePaths): Promise<DevControlPlane> {
  const svc = await spawnService(
    [
      'control-plane',
      '--core',
      paths.config,
      '--registry',
      paths.registryConfig,
      '--cmk',
      paths.cmkConfig,
      '--unseal-file',
      paths.unsealFile,
    ],
    'control-plane.listening',
  );
  const ports = svc.line as { registryPort: number; cmkPort: number };
  return {
    ...devCoreOf(svc, paths.pki),
    registryUrl: `https://127.0.0.1:${ports.registryPort}`,
    cmkUrl: `https://127.0.0.1:${ports.cmkPort}`,
  };
}
