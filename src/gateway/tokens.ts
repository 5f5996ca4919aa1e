/**
 * App tokens: a bearer token maps to one tenant and a set of services. The
 * Gateway keeps only SHA-256 digests of tokens (a stolen token file grants
 * nothing), and the tenant always comes from the token, never the request.
 *
 * Tokens reload without a restart (docs/design.md section 4): a store made with
 * `TokenStore.load(file)` re-reads its file on `reload()` or, once `watch()`
 * is called, whenever the file changes. A file that cannot be parsed keeps
 * the tokens the store already has; a missing file means no tokens. Every
 * reload tells the `onRevoke` listeners which token ids stopped being valid
 * (revoked or removed), so the server can close their sessions.
 *
 * This module stays light (no native addon, no uWS): the token CLI imports it.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  stat,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import { errors } from '../errors.js';
import { isValidId } from '../native/ids.js';

export interface TokenGrant {
  id: string;
  tenant: string;
  /** Services the token may use; ['*'] for all of the tenant's. */
  services: string[];
}

/** A token as the file records it: never the token itself, only its digest. */
export interface TokenRecord extends TokenGrant {
  sha256: string;
  createdAt: string;
  /** Set once the token is revoked (ISO time); a revoked token never verifies. */
  revokedAt?: string;
}

/** A record without its digest: what `listTokens` shows. */
export interface TokenInfo extends TokenGrant {
  createdAt: string;
  revokedAt?: string;
}

export interface TokenStoreOptions {
  logger?: Logger;
}

type RevokeListener = (ids: ReadonlySet<string>) => void;

/** Token ids: 12 lowercase hex characters (6 random bytes). */
export const TOKEN_ID_PATTERN = /^[0-9a-f]{12}$/;

export function isTokenId(id: unknown): id is string {
  return typeof id === 'string' && TOKEN_ID_PATTERN.test(id);
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

const SHA256_HEX = /^[0-9a-f]{64}$/;

const isIsoTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/** The records of a token file's text; throws on anything malformed (the whole file is then refused). */
function parseTokenFile(text: string): TokenRecord[] {
  const parsed = JSON.parse(text) as unknown;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
  const tokens = (parsed as { tokens?: unknown }).tokens ?? [];
  if (!Array.isArray(tokens)) throw new Error('tokens is not an array');
  const ids = new Set<string>();
  tokens.forEach((r: unknown, i) => {
    const bad = (what: string): never => {
      throw new Error(`token ${i}: ${what}`);
    };
    if (r === null || typeof r !== 'object' || Array.isArray(r)) bad('not an object');
    const rec = r as Partial<TokenRecord>;
    if (!isTokenId(rec.id)) bad('id must be 12 hex characters');
    if (ids.has(rec.id as string)) bad(`duplicate id ${rec.id as string}`);
    ids.add(rec.id as string);
    if (!isValidId(rec.tenant)) bad('bad tenant');
    if (
      !Array.isArray(rec.services) ||
      rec.services.length === 0 ||
      !rec.services.every((s) => s === '*' || isValidId(s))
    )
      bad('bad services');
    if (typeof rec.sha256 !== 'string' || !SHA256_HEX.test(rec.sha256)) bad('bad sha256');
    if (!isIsoTime(rec.createdAt)) bad('bad createdAt');
    if (rec.revokedAt !== undefined && !isIsoTime(rec.revokedAt)) bad('bad revokedAt');
  });
  return tokens as TokenRecord[];
}

/** The records in file: [] when it does not exist; throws when it cannot be read or parsed. */
function readRecords(file: string): TokenRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return parseTokenFile(text);
}

/** What a file looks like on disk, to notice that it changed (a rename over it changes the inode). */
const signatureOf = (s: Stats | undefined): string =>
  s === undefined ? 'missing' : `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

function statSignature(file: string): string {
  try {
    return signatureOf(statSync(file));
  } catch {
    return 'missing';
  }
}

export class TokenStore {
  private byDigest = new Map<string, TokenGrant>();
  private valid = new Set<string>();
  private readonly listeners = new Set<RevokeListener>();
  private readonly file: string | undefined;
  private log: Logger | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The signature of the file as of the last reload. */
  private seen = 'missing';
  private retryOnce = false;
  private polling = false;

  constructor(records: readonly TokenRecord[] = [], opts: TokenStoreOptions & { file?: string } = {}) {
    this.file = opts.file;
    this.log = opts.logger;
    this.install(records);
  }

  /** The store of file (a missing file is an empty store); throws when the file cannot be parsed. */
  static load(file: string, opts: TokenStoreOptions = {}): TokenStore {
    const seen = statSignature(file);
    let records: TokenRecord[];
    try {
      records = readRecords(file);
    } catch (err) {
      throw errors.badRequest(`token file ${file} cannot be read: ${(err as Error).message}`);
    }
    const store = new TokenStore(records, { ...opts, file });
    store.seen = seen;
    return store;
  }

  /**
   * Re-reads the file now. Returns false (and keeps the tokens it has) when the
   * file cannot be parsed; a missing file means no tokens. Listeners hear of
   * every token id that was valid before and is not now.
   */
  reload(): boolean {
    const file = this.requireFile();
    const seen = statSignature(file);
    let records: TokenRecord[];
    try {
      records = readRecords(file);
    } catch (err) {
      this.seen = seen;
      this.logger().error(
        { file, err: (err as Error).message },
        'token file cannot be parsed; keeping the previous tokens',
      );
      return false;
    }
    this.seen = seen;
    const before = this.valid;
    this.install(records);
    const gone = new Set<string>();
    for (const id of before) if (!this.valid.has(id)) gone.add(id);
    this.logger().info({ file, tokens: this.valid.size, revoked: [...gone] }, 'tokens reloaded');
    if (gone.size > 0) {
      for (const listener of [...this.listeners]) {
        try {
          listener(gone);
        } catch (err) {
          this.logger().error({ err: (err as Error).message }, 'token revocation listener failed');
        }
      }
    }
    return true;
  }

  /**
   * Reloads whenever the file changes, polling its stat every intervalMs (a
   * rename over the file, as createToken and revokeToken do, changes its
   * inode). The timer does not keep the process alive. Calling it again
   * changes the interval.
   */
  watch(intervalMs = 200): void {
    this.requireFile();
    if (!Number.isFinite(intervalMs) || intervalMs < 10)
      throw errors.badRequest('watch interval must be at least 10 ms');
    this.close();
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  /** Stops watching; the store keeps the tokens it has. */
  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.retryOnce = false;
  }

  /** Calls listener with the ids of tokens revoked or removed at each reload; returns the unsubscribe. */
  onRevoke(listener: RevokeListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Whether the token with this id is valid now (not revoked, still in the file). */
  isValid(id: string): boolean {
    return this.valid.has(id);
  }

  /** The grant of a bearer token, or null. */
  verify(token: string): TokenGrant | null {
    if (token.length < 20 || token.length > 200) return null;
    return this.byDigest.get(digest(token)) ?? null;
  }

  /** The grant from an `Authorization: Bearer ...` header value, or null. */
  fromHeader(header: string | undefined): TokenGrant | null {
    if (header === undefined || !header.startsWith('Bearer ')) return null;
    return this.verify(header.slice(7).trim());
  }

  private install(records: readonly TokenRecord[]): void {
    const byDigest = new Map<string, TokenGrant>();
    const valid = new Set<string>();
    for (const r of records) {
      if (r.revokedAt !== undefined) continue;
      byDigest.set(r.sha256, { id: r.id, tenant: r.tenant, services: [...r.services] });
      valid.add(r.id);
    }
    this.byDigest = byDigest;
    this.valid = valid;
  }

  private poll(): void {
    const file = this.file;
    if (file === undefined || this.polling) return;
    this.polling = true;
    const timer = this.timer;
    stat(file, (err, s) => {
      this.polling = false;
      if (this.timer === undefined || this.timer !== timer) return; // closed meanwhile
      const now = signatureOf(err === null ? s : undefined);
      if (now === this.seen && !this.retryOnce) return;
      // A file caught mid-write (by a writer that does not rename) may parse
      // on the next look even if its stat does not change again: retry once.
      const wasRetry = this.retryOnce;
      this.retryOnce = false;
      if (!this.reload() && !wasRetry) this.retryOnce = true;
    });
  }

  private requireFile(): string {
    if (this.file === undefined) throw errors.badRequest('this token store has no file (use TokenStore.load)');
    return this.file;
  }

  private logger(): Logger {
    this.log ??= pino({ name: 'krypton-gateway-tokens' });
    return this.log;
  }
}

export function allows(grant: TokenGrant, service: string): boolean {
  return grant.services.includes('*') || grant.services.includes(service);
}

const LOCK_WAIT_MS = 5_000;
const LOCK_STALE_MS = 30_000;

/** Runs fn holding `${file}.lock`, so two writers (create, revoke) never lose each other's change. */
function withFileLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  let fd: number;
  for (;;) {
    try {
      fd = openSync(lock, 'wx', 0o600);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) {
          unlinkSync(lock); // left by a writer that died
          continue;
        }
      } catch {
        continue; // released meanwhile
      }
      if (Date.now() > deadline)
        throw errors.internal(`token file ${file} is locked (${lock}); remove the lock if no writer is running`);
      Atomics.wait(pause, 0, 0, 10);
    }
  }
  try {
    return fn();
  } finally {
    closeSync(fd);
    try {
      unlinkSync(lock);
    } catch {
      // already gone
    }
  }
}

/** Replaces file with records atomically: a fresh 0600 temp file, synced, renamed over it. */
function writeRecords(file: string, records: readonly TokenRecord[]): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify({ tokens: records }, null, 2));
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
}

function readForWrite(file: string): TokenRecord[] {
  try {
    return readRecords(file);
  } catch (err) {
    throw errors.badRequest(`token file ${file} cannot be read: ${(err as Error).message}`);
  }
}

/** Creates a token for (tenant, services), records its digest in file (0600) and returns the token. */
export function createToken(file: string, tenant: string, services: string[]): { token: string; grant: TokenGrant } {
  if (!isValidId(tenant)) throw errors.badRequest('tenant must be 1-64 characters of [A-Za-z0-9._~-]');
  if (services.length === 0 || !services.every((s) => s === '*' || isValidId(s)))
    throw errors.badRequest('services must be ids or *');
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  return withFileLock(file, () => {
    const existing = readForWrite(file);
    const taken = new Set(existing.map((r) => r.id));
    let id: string;
    do id = randomBytes(6).toString('hex');
    while (taken.has(id));
    const token = `kt_${randomBytes(32).toString('base64url')}`;
    const record: TokenRecord = {
      id,
      tenant,
      services: [...services],
      sha256: digest(token),
      createdAt: new Date().toISOString(),
    };
    writeRecords(file, [...existing, record]);
    return { token, grant: { id, tenant, services: [...services] } };
  });
}

/** Every token in file, without its digest ([] when the file does not exist). */
export function listTokens(file: string): TokenInfo[] {
  return readForWrite(file).map((r) => ({
    id: r.id,
    tenant: r.tenant,
    services: [...r.services],
    createdAt: r.createdAt,
    ...(r.revokedAt !== undefined ? { revokedAt: r.revokedAt } : {}),
  }));
}

/**
 * Marks the token revoked in file (atomically, 0600). False when file has no
 * such token; revoking twice keeps the first revokedAt.
 */
export function revokeToken(file: string, id: string): boolean {
  if (!isTokenId(id)) throw errors.badRequest('token id must be 12 hex characters');
  if (!existsSync(file)) return false;
  return withFileLock(file, () => {
    const records = readForWrite(file);
    const at = records.findIndex((r) => r.id === id);
    const record = records[at];
    if (record === undefined) return false;
    if (record.revokedAt !== undefined) return true;
    records[at] = { ...record, revokedAt: new Date().toISOString() };
    writeRecords(file, records);
    return true;
  });
}
