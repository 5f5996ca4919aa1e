/**
 * Core configuration: a JSON file, overridden by environment variables,
 * validated once at start with messages that say what to fix.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { errors } from '../errors.js';
import { futureSkewMs, parseTrust, pathFrom, requireSenders, type TrustedPeer } from '../mesh/auth.js';
import { isMeshUrl } from '../mesh/open.js';
import { isValidId } from '../native/ids.js';
import { DEFAULT_MAX_HOT_VERSIONS, MAX_HOT_VERSIONS_LIMIT } from '../protocol/lease.js';
import { hostField, refuseUnknownFields } from '../config/fields.js';
import { parseHealthEndpoint, type HealthEndpoint } from '../http/health-listener.js';
import { DEFAULT_SOVEREIGN_TTL_SECONDS } from './orbital/deadman.js';
import { CORE_CONSUMES } from './orbital/node.js';

export interface CoreConfig {
  host: string;
  port: number;
  /** Tier-2 cache and other local state. */
  stateDir: string;
  /** KSI URL: sqlite:<path>, a path, or postgres://... */
  ksi: string;
  tls: { cert: string; key: string; ca: string };
  /**
   * The Core's Ed25519 signing key (PKCS#8 PEM, `core-sign.key` of `krypton
   * pki init`; default: beside tls.key). It signs leases and Orbital events;
   * loaded into the addon's arena at start.
   */
  signingKey: string;
  /** Gateway SPIFFE ID -> tenants it may lease ('*' for all). */
  gateways: Record<string, string[]>;
  /** SPIFFE IDs allowed on the admin routes. */
  admins: string[];
  leaseTtlSeconds: number;
  /**
   * DECRYPT_ONLY versions per scope kept hot and leased with the ACTIVE one
   * (default 32, env KRYPTON_CORE_MAX_HOT_VERSIONS); older versions are
   * leased on demand, when a blob names one (review L7).
   */
  maxHotVersions: number;
  /** IVK grace period and rotation, in hours (ADR-304 defaults). */
  ivk: { graceHours: number; rotationDays: number | null; maxWraps: number | null };
  /** How often time-driven work (rotation, grace eviction) runs. */
  tickSeconds: number;
  /** PIN for pkcs11 L1 providers (from KRYPTON_L1_PIN, never the file). */
  l1Pin?: string;
  /** Orbital (docs/design.md section 6); absent: the Core runs alone, managed through its admin API. */
  orbital?: OrbitalConfig;
  /** The unauthenticated health port (/healthz, /readyz only) for probes; env KRYPTON_CORE_HEALTH_PORT. */
  health?: HealthEndpoint;
}

const FIELDS = [
  'host',
  'port',
  'stateDir',
  'ksi',
  'tls',
  'signingKey',
  'gateways',
  'admins',
  'leaseTtlSeconds',
  'maxHotVersions',
  'ivk',
  'tickSeconds',
  'orbital',
  'health',
];
const ORBITAL_FIELDS = ['mesh', 'id', 'trust', 'maxFutureSkewSeconds', 'manifestSeconds', 'sovereignTtlSeconds'];

export interface OrbitalConfig {
  /** "memory" (only with actors in the same process) or an amqp:// URL (`?namespace=` optional). */
  mesh: string;
  /** The Core's actor id: its queue and the manifest's `core`. */
  id: string;
  manifestSeconds: number;
  /** Strict Sovereign TTL of the deadman switch. */
  sovereignTtlSeconds: number;
  /**
   * The actors whose events the Core accepts (`orbital.trust`: id -> {role,
   * publicKey}); the Core signs its own with `signingKey`.
   */
  trust: TrustedPeer[];
  /** Events dated further ahead than this are dead-lettered (`orbital.maxFutureSkewSeconds`, default 300). */
  maxFutureSkewMs: number;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 7443,
  leaseTtlSeconds: 300,
  maxHotVersions: DEFAULT_MAX_HOT_VERSIONS,
  ivk: { graceHours: 24, rotationDays: 30, maxWraps: 1_000_000 },
  tickSeconds: 30,
  admins: ['spiffe://krypton.dev/admin'],
  gateways: { 'spiffe://krypton.dev/gateway/default': ['*'] },
};

function fail(message: string): never {
  throw errors.badRequest(`core config: ${message}`);
}

function int(v: unknown, name: string, min: number, max: number): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    fail(`${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** Reads the file (relative paths resolve against its folder), applies KRYPTON_CORE_* overrides and validates. */
export function loadCoreConfig(file: string, env: NodeJS.ProcessEnv = process.env): CoreConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    fail(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${file} must hold a JSON object`);
  refuseUnknownFields(raw, FIELDS, '', fail);
  const base = dirname(resolve(file));
  const path = (p: unknown, name: string): string => {
    if (typeof p !== 'string' || p === '') fail(`${name} must be a path`);
    return isAbsolute(p) ? p : join(base, p);
  };
  const tls = (raw.tls ?? {}) as Record<string, unknown>;
  refuseUnknownFields(tls, ['cert', 'key', 'ca'], 'tls.', fail);
  refuseUnknownFields((raw.ivk ?? {}) as Record<string, unknown>, Object.keys(DEFAULTS.ivk), 'ivk.', fail);
  const ivk = { ...DEFAULTS.ivk, ...((raw.ivk ?? {}) as Record<string, unknown>) };
  let ksi = env.KRYPTON_CORE_KSI ?? raw.ksi;
  if (typeof ksi !== 'string' || ksi === '') fail('ksi must be sqlite:<path>, a path or a postgres:// URL');
  if (ksi.startsWith('sqlite:')) ksi = `sqlite:${path(ksi.slice(7), 'ksi')}`;
  else if (!/^postgres(ql)?:\/\//.test(ksi)) ksi = path(ksi, 'ksi');
  const gateways = (raw.gateways ?? DEFAULTS.gateways) as Record<string, unknown>;
  for (const [id, tenants] of Object.entries(gateways)) {
    if (!id.startsWith('spiffe://')) fail(`gateway identity ${id} must be a spiffe:// ID`);
    if (!Array.isArray(tenants) || !tenants.every((t) => typeof t === 'string'))
      fail(`gateways[${id}] must be a list of tenants`);
  }
  const admins = (raw.admins ?? DEFAULTS.admins) as unknown;
  if (!Array.isArray(admins) || !admins.every((a) => typeof a === 'string' && a.startsWith('spiffe://')))
    fail('admins must be a list of spiffe:// IDs');
  const config: CoreConfig = {
    host: hostField(env.KRYPTON_CORE_HOST ?? raw.host, 'host', DEFAULTS.host, fail),
    port: int(env.KRYPTON_CORE_PORT ?? raw.port ?? DEFAULTS.port, 'port', 0, 65535),
    stateDir: path(raw.stateDir ?? '.', 'stateDir'),
    ksi: ksi as string,
    tls: { cert: path(tls.cert, 'tls.cert'), key: path(tls.key, 'tls.key'), ca: path(tls.ca, 'tls.ca') },
    signingKey:
      raw.signingKey === undefined
        ? join(dirname(path(tls.key, 'tls.key')), 'core-sign.key')
        : path(raw.signingKey, 'signingKey'),
    gateways: gateways as Record<string, string[]>,
    admins: admins as string[],
    leaseTtlSeconds: int(
      env.KRYPTON_CORE_LEASE_TTL ?? raw.leaseTtlSeconds ?? DEFAULTS.leaseTtlSeconds,
      'leaseTtlSeconds',
      1,
      3600,
    ),
    maxHotVersions: int(
      env.KRYPTON_CORE_MAX_HOT_VERSIONS ?? raw.maxHotVersions ?? DEFAULTS.maxHotVersions,
      'maxHotVersions',
      1,
      MAX_HOT_VERSIONS_LIMIT,
    ),
    ivk: {
      graceHours: int(ivk.graceHours, 'ivk.graceHours', 0, 24 * 365),
      rotationDays: ivk.rotationDays === null ? null : int(ivk.rotationDays, 'ivk.rotationDays', 1, 3650),
      maxWraps: ivk.maxWraps === null ? null : int(ivk.maxWraps, 'ivk.maxWraps', 1, Number.MAX_SAFE_INTEGER),
    },
    tickSeconds: int(raw.tickSeconds ?? DEFAULTS.tickSeconds, 'tickSeconds', 1, 3600),
  };
  const orbital = orbitalConfig(raw.orbital, env, base);
  if (orbital !== undefined) config.orbital = orbital;
  if (env.KRYPTON_L1_PIN !== undefined) config.l1Pin = env.KRYPTON_L1_PIN;
  const health = parseHealthEndpoint(raw.health, env.KRYPTON_CORE_HEALTH_PORT, fail);
  if (health !== undefined) config.health = health;
  return config;
}

function orbitalConfig(raw: unknown, env: NodeJS.ProcessEnv, base: string): OrbitalConfig | undefined {
  if ((raw === undefined || raw === null) && env.KRYPTON_CORE_MESH === undefined) return undefined;
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw)))
    fail('orbital must be an object');
  const o = (raw ?? {}) as Record<string, unknown>;
  refuseUnknownFields(o, ORBITAL_FIELDS, 'orbital.', fail);
  const mesh = env.KRYPTON_CORE_MESH ?? o.mesh;
  if (typeof mesh !== 'string' || !isMeshUrl(mesh)) fail('orbital.mesh must be "memory" or an amqp:// URL');
  const id = o.id ?? 'core';
  if (!isValidId(id)) fail('orbital.id must match [A-Za-z0-9._~-]{1,64}');
  const trust = parseTrust(o.trust, 'orbital.trust', pathFrom(base), fail);
  requireSenders(trust, CORE_CONSUMES, 'orbital.trust', fail);
  return {
    mesh,
    id,
    trust,
    maxFutureSkewMs: futureSkewMs(
      env.KRYPTON_CORE_MAX_FUTURE_SKEW_SECONDS ?? o.maxFutureSkewSeconds,
      'orbital.maxFutureSkewSeconds',
      fail,
    ),
    manifestSeconds: int(o.manifestSeconds ?? 60, 'orbital.manifestSeconds', 1, 86_400),
    sovereignTtlSeconds: int(
      env.KRYPTON_CORE_SOVEREIGN_TTL ?? o.sovereignTtlSeconds ?? DEFAULT_SOVEREIGN_TTL_SECONDS,
      'orbital.sovereignTtlSeconds',
      1,
      365 * 86_400,
    ),
  };
}

/** Creates the state folder (0700) and, for SQLite, the database's folder. */
export function prepareStateDir(config: CoreConfig): void {
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  if (config.ksi.startsWith('sqlite:')) mkdirSync(dirname(config.ksi.slice(7)), { recursive: true, mode: 0o700 });
}
