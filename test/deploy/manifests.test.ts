/**
 * The deployment files kept honest without a container daemon (issue 11):
 * every `krypton` command line in deploy/compose.yaml, deploy/compose/init.sh
 * and deploy/kubernetes/ parses with the real CLI; every config file they
 * mount loads with the component's real loader (with the environment the
 * manifest gives it), and every path in it lies under a mount of that
 * container; every port, probe port and probe path is the one the config
 * and the code serve; kustomization.yaml lists every resource; every
 * container runs as a non-root user with a read-only root; the Dockerfile
 * builds with scripts/install-krypton.sh and runs as a non-root user.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadGatewayConfig } from '../../src/cli/gateway.js';
import { buildProgram } from '../../src/cli/program.js';
import { loadCmkConfig } from '../../src/cmk/service.js';
import { loadCoreConfig } from '../../src/core/config.js';
import { CORE_MALLOC_TUNABLES } from '../../src/dev/spawn.js';
import { UWS_BUILDS } from '../../src/gateway/uws-binary.js';
import { PROBE_PATHS } from '../../src/http/health-listener.js';
import { loadRegistryConfig } from '../../src/registry/service.js';
import { cli, ROOT } from '../core/process-fixture.js';

const DEPLOY = join(ROOT, 'deploy');
const K8S = join(DEPLOY, 'kubernetes');

// What the tests read of the parsed YAML and JSON (nothing checks the shapes
// at parse time: a field that is not there fails the test that reads it).

/** A service of deploy/compose.yaml. */
interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  cap_add?: string[];
  ulimits?: { memlock?: unknown };
  read_only?: boolean;
  entrypoint?: string[];
  command: string[];
  volumes: string[];
  healthcheck: { test: string[] };
  ports?: string[];
}

interface Probe {
  httpGet?: { port: number | string; path: string };
  exec: { command: string[] };
}

interface Container {
  name: string;
  image: string;
  restartPolicy?: string;
  args: string[];
  env?: { name: string; value?: string; valueFrom: { secretKeyRef: { key: string } } }[];
  volumeMounts: { name: string; mountPath: string }[];
  ports: { name: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  securityContext: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
}

interface PodSpec {
  initContainers?: Container[];
  containers: Container[];
  volumes: { name: string; configMap: { name: string; items: { key: string; path: string }[] } }[];
}

type Labels = Record<string, unknown>;

/** A document of deploy/kubernetes: the fields of the kinds the tests read. */
interface K8sDoc {
  kind: string;
  metadata: { name: string; labels: Labels };
  /** ConfigMap. */
  data: Record<string, string>;
  spec: {
    /** Workloads. */
    template: { metadata: { labels: Labels }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string } }[];
    /** Services (labels), PodDisruptionBudgets (matchLabels). */
    selector: Labels & { matchLabels: Labels };
    ports: { port: number; targetPort: string }[];
  };
}

// ---------------------------------------------------------------------------
// The real CLI, parsed without running anything.

function quiet(cmd: Command): Command {
  cmd.exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  for (const c of cmd.commands) quiet(c);
  return cmd;
}

/** The command `args` names, with its parsed options; throws on an unknown command, option or missing value. */
function parseCommandLine(args: readonly string[]): { path: string; opts: Record<string, unknown> } {
  // A fresh tree each time: commander keeps option values between parses.
  let cmd = quiet(buildProgram());
  let i = 0;
  const names: string[] = [];
  for (; i < args.length; i++) {
    const sub = cmd.commands.find((c) => c.name() === args[i] || c.aliases().includes(args[i]));
    if (sub === undefined) break;
    cmd = sub;
    names.push(sub.name());
  }
  if (cmd.commands.length > 0) throw new Error(`\`krypton ${args.join(' ')}\` names no runnable command`);
  const { operands, unknown } = cmd.parseOptions(args.slice(i));
  if (unknown.length > 0) throw new Error(`\`krypton ${args.join(' ')}\`: unknown ${unknown.join(' ')}`);
  const expected = (cmd as unknown as { registeredArguments: unknown[] }).registeredArguments.length;
  if (operands.length > expected) throw new Error(`\`krypton ${args.join(' ')}\`: unexpected ${operands.join(' ')}`);
  return { path: names.join(' '), opts: cmd.opts() };
}

// ---------------------------------------------------------------------------
// Loading a config as its component would, from where the manifest mounts it.

type Kind = 'core' | 'registry' | 'cmk' | 'gateway';
const KIND_OF: Record<string, Kind> = {
  'core run': 'core',
  'core init': 'core',
  'registry run': 'registry',
  'cmk run': 'cmk',
  gateway: 'gateway',
};

let pki: string;
let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'krypton-deploy-'));
  pki = join(scratch, 'pki');
  const made = cli(['pki', 'init', '--dir', pki]);
  if (made.status !== 0) throw new Error(made.stderr);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Loaded {
  kind: Kind;
  port: number;
  host: string;
  health?: { host: string; port: number };
  /** Every file or folder the config names, as the container sees them. */
  paths: string[];
}

let configs = 0;
/**
 * Loads `text` with the loader of `kind`; `pkiDir` is where the container sees its keys (replaced by a real PKI here).
 */
function loadConfig(kind: Kind, text: string, pkiDir: string, env: Record<string, string>): Loaded {
  const file = join(scratch, `config-${++configs}.json`);
  writeFileSync(file, text.split(pkiDir).join(pki));
  const back = (p: string) => p.split(pki).join(pkiDir);
  const fullEnv = { ...env } as NodeJS.ProcessEnv;
  if (kind === 'core') {
    const c = loadCoreConfig(file, fullEnv);
    const paths = [
      c.stateDir,
      c.tls.cert,
      c.tls.key,
      c.tls.ca,
      c.signingKey,
      ...(c.ksi.startsWith('sqlite:') ? [c.ksi.slice(7)] : []),
    ];
    return { kind, port: c.port, host: c.host, ...(c.health ? { health: c.health } : {}), paths: paths.map(back) };
  }
  if (kind === 'gateway') {
    const c = loadGatewayConfig(file, fullEnv);
    return {
      kind,
      port: c.port,
      host: c.host ?? '127.0.0.1',
      paths: [c.tls.cert, c.tls.key, c.tls.ca, c.coreSigningKey, c.tokensFile].map(back),
    };
  }
  const c = kind === 'registry' ? loadRegistryConfig(file, fullEnv) : loadCmkConfig(file, fullEnv);
  const paths = [
    c.tls.cert,
    c.tls.key,
    c.tls.ca,
    c.signingKey,
    ...(c.store.startsWith('sqlite:') ? [c.store.slice(7)] : []),
  ];
  return { kind, port: c.port, host: c.host, ...(c.health ? { health: c.health } : {}), paths: paths.map(back) };
}

/** Every trusted peer's key file a config names (loaded by the loader, so it must be mounted too). */
function keyFilesOf(text: string): string[] {
  return [...text.matchAll(/"(?:publicKey|coreSigningKey)":\s*"([^"]+)"/g)].map((m) => m[1]);
}

const under = (path: string, mounts: readonly string[]) => mounts.some((m) => path === m || path.startsWith(`${m}/`));

/** `fetch('http://127.0.0.1:PORT/PATH')` in a probe command. */
function probeUrl(command: readonly string[]): { port: number; path: string } {
  const m = /http:\/\/127\.0\.0\.1:(\d+)(\/[a-z]+)/.exec(command.join(' '));
  if (!m) throw new Error(`no probe URL in ${command.join(' ')}`);
  return { port: Number(m[1]), path: m[2] };
}

/** The port a component answers probes on: the health port, or the Gateway's app port. */
function probePort(c: Loaded): number {
  if (c.kind === 'gateway') return c.port;
  expect(c.health, `${c.kind} config has a health port`).toBeDefined();
  return c.health!.port;
}

// ---------------------------------------------------------------------------

describe('deploy/compose.yaml', () => {
  const compose = parse(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  const services = compose.services;
  const krypton = Object.entries(services).filter(([, s]) => s.image === 'krypton:latest');

  /** container path -> host folder, for the binds of ./compose. */
  const bindOf = (s: ComposeService) => {
    const mounts = s.volumes.map((v) => v.split(':'));
    return { mounts: mounts.map((m) => m[1]), configDir: mounts.find((m) => m[0] === './compose')?.[1] };
  };

  it('runs every Krypton process from the one image, built from the Dockerfile, with the memlock it needs', () => {
    expect(krypton.map(([n]) => n).sort()).toEqual(['cmk', 'core', 'gateway', 'init', 'registry']);
    for (const [name, s] of krypton) {
      expect(s.build?.dockerfile, name).toBe('Dockerfile');
      expect(existsSync(join(DEPLOY, s.build!.context, s.build!.dockerfile)), name).toBe(true);
      expect(s.cap_add, name).toContain('IPC_LOCK');
      expect(s.ulimits?.memlock, name).toEqual({ soft: -1, hard: -1 });
      expect(s.read_only, name).toBe(true);
    }
  });

  const running = krypton.filter(([n]) => n !== 'init');
  it.each(running.map(([n, s]) => [n, s] as const))(
    '%s: its command parses, its config loads, and its paths, ports and healthcheck match',
    (name, s) => {
      const line = parseCommandLine(s.command);
      const kind = KIND_OF[line.path];
      expect(kind, line.path).toBe(name === 'gateway' ? 'gateway' : name);
      const { mounts, configDir } = bindOf(s);
      const configPath = line.opts['config'] as string;
      expect(configDir && configPath.startsWith(`${configDir}/`), configPath).toBe(true);
      const text = readFileSync(join(DEPLOY, 'compose', configPath.slice(configDir!.length + 1)), 'utf8');
      const c = loadConfig(kind, text, '/var/lib/krypton/pki', {});
      for (const p of [...c.paths, ...keyFilesOf(text)])
        expect(under(p, mounts), `${name}: ${p} is mounted`).toBe(true);
      if (line.opts['unsealFile'] !== undefined) expect(under(line.opts['unsealFile'] as string, mounts)).toBe(true);
      const probe = probeUrl(s.healthcheck.test);
      expect([probe.port, probe.path]).toEqual([probePort(c), PROBE_PATHS.ready]);
      for (const p of s.ports ?? []) expect(Number(p.split(':').at(-1)), `${name} publishes its port`).toBe(c.port);
      expect(c.host, `${name} listens beyond its container's loopback`).toBe('0.0.0.0');
    },
  );

  it('init.sh: every krypton line parses, and it makes the files the others read, where they read them', () => {
    const init = services['init'];
    const { configDir } = bindOf(init);
    expect(init.entrypoint).toEqual(['/bin/sh', `${configDir}/init.sh`]);
    const script = readFileSync(join(DEPLOY, 'compose', 'init.sh'), 'utf8');
    const lines = [...script.matchAll(/^\s*krypton (.+)$/gm)].map((m) =>
      [...m[1].matchAll(/'([^']*)'|(\S+)/g)].map((w) => w[1] ?? w[2]),
    );
    expect(lines.length).toBeGreaterThanOrEqual(6);
    const parsed = lines.map(parseCommandLine);
    const core = parseCommandLine(services['core'].command);
    const coreInit = parsed.find((p) => p.path === 'core init')!;
    expect(coreInit.opts['config']).toBe(core.opts['config']);
    expect(coreInit.opts['unsealFile']).toBe(core.opts['unsealFile']);
    const gatewayText = readFileSync(join(DEPLOY, 'compose', 'gateway.json'), 'utf8');
    const gateway = JSON.parse(gatewayText) as { tokensFile: string; coreUrl: string };
    expect(parsed.find((p) => p.path === 'token create')!.opts['file']).toBe(gateway.tokensFile);
    for (const p of parsed.filter((x) => x.path.startsWith('pki'))) expect(p.opts['dir']).toBe('/var/lib/krypton/pki');
    // The Core's certificate names the host the Gateway dials.
    const coreUrl = new URL(gateway.coreUrl);
    const coreCert = lines.find((l) => l[1] === 'issue' && l.includes('core'))!;
    expect(coreCert).toContain(coreUrl.hostname);
  });
});

// ---------------------------------------------------------------------------

const k8sDocs = () =>
  readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(K8S, f), 'utf8')).map((d) => ({ file: f, doc: d.toJS() as K8sDoc })),
    );

describe('deploy/kubernetes', () => {
  const docs = k8sDocs();
  const configMap = docs.find((d) => d.doc.kind === 'ConfigMap')!.doc;
  const workloads = docs.filter((d) => ['StatefulSet', 'Deployment', 'DaemonSet'].includes(d.doc.kind));
  const SECRET_VALUES: Record<string, string> = {
    ksi: 'postgres://krypton:secret@db:5432/krypton',
    mesh: 'amqp://krypton:secret@mq:5672',
    'registry-store': 'postgres://krypton:secret@db:5432/krypton?schema=registry',
    'cmk-store': 'postgres://krypton:secret@db:5432/krypton?schema=cmk',
  };

  it('kustomization.yaml lists every resource file, and each exists', () => {
    const k = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    const files = readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...k.resources].sort()).toEqual(files.sort());
  });

  it('has the Core as a StatefulSet, the Registry and CMK Server as Deployments, the Gateway as a DaemonSet and a sidecar', () => {
    const kinds = workloads.map((w) => `${w.doc.kind}/${w.doc.metadata.name}`).sort();
    expect(kinds).toEqual([
      'DaemonSet/krypton-gateway',
      'Deployment/example-app',
      'Deployment/krypton-cmk',
      'Deployment/krypton-registry',
      'StatefulSet/krypton-core',
    ]);
    const sidecar = workloads.find((w) => w.doc.metadata.name === 'example-app')!.doc.spec.template.spec;
    expect(sidecar.initContainers!.map((c) => [c.name, c.restartPolicy])).toEqual([['gateway', 'Always']]);
  });

  const containers = workloads.flatMap((w) => {
    const spec = w.doc.spec.template.spec;
    return [...(spec.initContainers ?? []), ...spec.containers].map((c) => ({ workload: w.doc, spec, c }));
  });
  const kryptonContainers = containers.filter((x) => x.c.image === 'krypton');

  it.each(kryptonContainers.map((x) => [`${x.workload.metadata.name}/${x.c.name}`, x] as const))(
    '%s: its args parse, its config loads from the mounted ConfigMap, and its paths, ports and probes match',
    (_name, { workload, spec, c }) => {
      const line = parseCommandLine(c.args);
      const kind = KIND_OF[line.path];
      expect(kind).toBeDefined();
      const mounts = c.volumeMounts.map((m) => m.mountPath);
      // The config file: mount -> volume -> ConfigMap item.
      const configPath = line.opts['config'] as string;
      const mount = c.volumeMounts.find((m) => configPath.startsWith(`${m.mountPath}/`))!;
      const volume = spec.volumes.find((v) => v.name === mount.name)!;
      expect(volume.configMap.name).toBe(configMap.metadata.name);
      const item = volume.configMap.items.find((i) => i.path === configPath.slice(mount.mountPath.length + 1))!;
      const text = configMap.data[item.key];
      expect(text, item.key).toBeDefined();
      const env: Record<string, string> = {};
      for (const e of c.env ?? []) env[e.name] = e.value ?? SECRET_VALUES[e.valueFrom.secretKeyRef.key];
      for (const [k, v] of Object.entries(env)) expect(v, k).toBeDefined();
      if (kind === 'core') expect(env['GLIBC_TUNABLES']).toBe(CORE_MALLOC_TUNABLES);
      const loaded = loadConfig(kind, text, '/etc/krypton/pki', env);
      for (const p of [...loaded.paths, ...keyFilesOf(text)]) expect(under(p, mounts), `${p} is mounted`).toBe(true);
      const claims = (workload.spec.volumeClaimTemplates ?? []).map((t) => t.metadata.name);
      for (const m of c.volumeMounts)
        expect(spec.volumes.some((v) => v.name === m.name) || claims.includes(m.name), m.name).toBe(true);

      const ports = new Map<string, number>(c.ports.map((p) => [p.name, p.containerPort]));
      expect(kind === 'gateway' ? ports.get('ws') : ports.get('api')).toBe(loaded.port);
      for (const [probe, path] of [
        ['startupProbe', PROBE_PATHS.live],
        ['livenessProbe', PROBE_PATHS.live],
        ['readinessProbe', PROBE_PATHS.ready],
      ] as const) {
        const p = c[probe]!;
        expect(p, probe).toBeDefined();
        if (p.httpGet) {
          const port = typeof p.httpGet.port === 'string' ? ports.get(p.httpGet.port) : p.httpGet.port;
          expect([probe, port, p.httpGet.path]).toEqual([probe, probePort(loaded), path]);
          // The kubelet probes the pod's address, not loopback.
          expect(kind === 'gateway' ? loaded.host : loaded.health?.host).toBe('0.0.0.0');
        } else {
          // Exec probes, for a Gateway bound to loopback (the sidecar).
          expect(loaded.host).toBe('127.0.0.1');
          expect([probe, probeUrl(p.exec.command)]).toEqual([probe, { port: loaded.port, path }]);
        }
      }
    },
  );

  it('every container runs as a non-root user, read-only, without privilege escalation or capabilities, under RuntimeDefault seccomp', () => {
    expect(containers.length).toBeGreaterThanOrEqual(6);
    for (const { workload, c } of containers) {
      const s = c.securityContext;
      const where = `${workload.metadata.name}/${c.name}`;
      expect([
        where,
        s.runAsNonRoot,
        s.readOnlyRootFilesystem,
        s.allowPrivilegeEscalation,
        s.capabilities.drop,
        s.seccompProfile?.type,
      ]).toEqual([where, true, true, false, ['ALL'], 'RuntimeDefault']);
      expect(s.capabilities.add, where).toBeUndefined();
      if (c.image === 'krypton') expect(s.runAsUser, where).toBe(10001);
    }
    expect(
      docs.find((d) => d.doc.kind === 'Namespace')!.doc.metadata.labels['pod-security.kubernetes.io/enforce'],
    ).toBe('restricted');
  });

  it('every Service and PodDisruptionBudget selects a workload, and each Service targets a port its pods name', () => {
    const podsOf = (selector: Labels) =>
      workloads.filter((w) => Object.entries(selector).every(([k, v]) => w.doc.spec.template.metadata.labels[k] === v));
    for (const d of docs.filter((x) => x.doc.kind === 'Service')) {
      const pods = podsOf(d.doc.spec.selector);
      expect(pods.length, d.doc.metadata.name).toBe(1);
      const named = pods[0].doc.spec.template.spec.containers.flatMap((c) => c.ports.map((p) => p.name));
      for (const p of d.doc.spec.ports) expect(named, d.doc.metadata.name).toContain(p.targetPort);
    }
    const pdbs = docs.filter((x) => x.doc.kind === 'PodDisruptionBudget');
    expect(pdbs.length).toBeGreaterThanOrEqual(4);
    for (const d of pdbs) expect(podsOf(d.doc.spec.selector.matchLabels).length, d.doc.metadata.name).toBe(1);
  });

  it("the Gateways dial the Core's Service, and the Core allows their SPIFFE IDs", () => {
    const core = JSON.parse(configMap.data['core.json']) as { gateways: Record<string, unknown> };
    const service = docs.find((d) => d.doc.kind === 'Service' && d.doc.metadata.name === 'krypton-core')!.doc;
    for (const key of ['gateway.json', 'gateway-sidecar.json']) {
      const url = new URL((JSON.parse(configMap.data[key]) as { coreUrl: string }).coreUrl);
      expect(url.hostname.split('.')[0], key).toBe(service.metadata.name);
      expect(Number(url.port), key).toBe(service.spec.ports[0].port);
    }
    expect(Object.keys(core.gateways).length).toBeGreaterThanOrEqual(2);
  });
});

// ---------------------------------------------------------------------------

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);

  it('builds in one stage with scripts/install-krypton.sh and runs the staged tree in another, on Debian 13 with Node 24', () => {
    expect(stages.length).toBe(2);
    for (const s of stages) expect(s.split('\n')[0]).toMatch(/^node:24-trixie-slim\b/);
    const run = /^RUN bash (scripts\/install-krypton\.sh) (\S+)$/m.exec(stages[0]);
    expect(run).not.toBeNull();
    expect(existsSync(join(ROOT, run![1]))).toBe(true);
    expect(stages[1]).toContain(`COPY --from=build --chown=root:root ${run![2]} ${run![2]}`);
    // The Gateway's loader tries this build first on Node 24.
    const uws = /^ENV KRYPTON_UWS_SOURCE=(\S+)$/m.exec(stages[0])![1];
    expect(UWS_BUILDS[0].install).toContain(uws.replace(/^github:/, ''));
  });

  it('runs as a non-root user, with the secure heap, the Core malloc settings and the staged CLI', () => {
    const user = /^USER (\S+)$/m.exec(stages[1])![1];
    expect(user.split(':')[0]).not.toMatch(/^(root|0)$/);
    const entry = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(stages[1])![1]) as string[];
    expect(entry).toEqual(['node', '--secure-heap=65536', '/opt/krypton/dist/src/cli/main.js']);
    expect(stages[1]).toContain(`GLIBC_TUNABLES=${CORE_MALLOC_TUNABLES}`);
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(stages[1])![1]) as string[];
    expect(parseCommandLine(cmd).path).toBe('selfcheck');
  });
});
