import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createToken, listTokens, revokeToken, TokenStore } from '../../src/gateway/tokens.js';
import { anyOf } from '../helpers/matchers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the time waited once cond holds; rejects after timeoutMs. */
async function waitFor(cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
  return Date.now() - start;
}

const quietLogger = () =>
  ({ info: vi.fn(), error: vi.fn(), warn: vi.fn(), debug: vi.fn() }) as unknown as Logger & {
    error: ReturnType<typeof vi.fn>;
  };

describe('TokenStore reload, watch and revocation', () => {
  let dir: string;
  let file: string;
  let stores: TokenStore[];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'krypton-tokens-'));
    file = join(dir, 'tokens.json');
    stores = [];
  });
  afterEach(async () => {
    for (const s of stores) s.close();
    await rm(dir, { recursive: true, force: true });
  });

  const load = (logger = quietLogger()) => {
    const s = TokenStore.load(file, { logger });
    stores.push(s);
    return s;
  };

  it('a watching store stops verifying a token within 1 s of revokeToken on the file, and tells onRevoke its id', async () => {
    const a = createToken(file, 'demo', ['*']);
    const b = createToken(file, 'demo', ['billing']);
    const store = load();
    const heard: string[][] = [];
    store.onRevoke((ids) => heard.push([...ids]));
    store.watch();
    expect(store.verify(a.token)).toEqual(a.grant);
    expect(store.isValid(a.grant.id)).toBe(true);

    expect(revokeToken(file, a.grant.id)).toBe(true);
    const waited = await waitFor(() => store.verify(a.token) === null, 1000);
    expect(waited).toBeLessThan(1000);
    expect(store.isValid(a.grant.id)).toBe(false);
    expect(store.fromHeader(`Bearer ${a.token}`)).toBeNull();
    expect(heard).toEqual([[a.grant.id]]);
    // The other token is untouched.
    expect(store.verify(b.token)).toEqual(b.grant);
    expect(store.isValid(b.grant.id)).toBe(true);
  });

  it('a token created after the store was loaded is accepted once the change is noticed', async () => {
    createToken(file, 'demo', ['*']);
    const store = load();
    const heard = vi.fn();
    store.onRevoke(heard);
    store.watch(200);
    await sleep(50);
    const late = createToken(file, 'other', ['svc']);
    expect(store.verify(late.token)).toBeNull();
    expect(await waitFor(() => store.verify(late.token) !== null, 1000)).toBeLessThan(1000);
    expect(store.verify(late.token)).toEqual(late.grant);
    expect(store.isValid(late.grant.id)).toBe(true);
    expect(heard).not.toHaveBeenCalled();
  });

  it('a store loaded before its file exists picks the file up when it appears', async () => {
    const store = load();
    store.watch();
    const first = createToken(file, 'demo', ['*']);
    await waitFor(() => store.verify(first.token) !== null, 1000);
  });

  it('a corrupt or half-written file keeps the previous tokens and logs an error; a missing file means no tokens', async () => {
    const a = createToken(file, 'demo', ['*']);
    const logger = quietLogger();
    const store = load(logger);
    const heard: string[][] = [];
    store.onRevoke((ids) => heard.push([...ids]));
    const good = await readFile(file, 'utf8');

    // Caught mid-write: a prefix of the JSON.
    await writeFile(file, good.slice(0, Math.floor(good.length / 2)));
    expect(store.reload()).toBe(false);
    expect(store.verify(a.token)).toEqual(a.grant);
    expect(logger.error).toHaveBeenCalled();
    // Valid JSON of the wrong shape is corrupt too.
    await writeFile(file, JSON.stringify({ tokens: [{ id: 'zz', tenant: 'demo' }] }));
    expect(store.reload()).toBe(false);
    expect(store.verify(a.token)).toEqual(a.grant);

    // While watching, a corrupt file swapped in keeps the tokens; the good one back is read again.
    store.watch(50);
    const errorsBefore = logger.error.mock.calls.length;
    await writeFile(`${file}.x`, '{"tokens": [');
    await rename(`${file}.x`, file);
    await waitFor(() => logger.error.mock.calls.length > errorsBefore, 1000);
    await sleep(200);
    expect(store.verify(a.token)).toEqual(a.grant);
    await writeFile(`${file}.x`, good);
    await rename(`${file}.x`, file);
    await sleep(300);
    expect(store.verify(a.token)).toEqual(a.grant);
    expect(heard).toEqual([]);

    // A missing file: no tokens, and the listeners hear of every one.
    store.close();
    await unlink(file);
    expect(store.reload()).toBe(true);
    expect(store.verify(a.token)).toBeNull();
    expect(heard).toEqual([[a.grant.id]]);
  });

  it('close() stops watching', async () => {
    const a = createToken(file, 'demo', ['*']);
    const store = load();
    const heard = vi.fn();
    store.onRevoke(heard);
    store.watch(50);
    store.close();
    revokeToken(file, a.grant.id);
    await sleep(600);
    expect(store.verify(a.token)).toEqual(a.grant);
    expect(heard).not.toHaveBeenCalled();
    // An explicit reload still applies the change.
    expect(store.reload()).toBe(true);
    expect(store.verify(a.token)).toBeNull();
    expect(heard).toHaveBeenCalledTimes(1);
  });

  it('onRevoke returns an unsubscribe, and a listener that throws does not stop the others', async () => {
    const a = createToken(file, 'demo', ['*']);
    const b = createToken(file, 'demo', ['*']);
    const logger = quietLogger();
    const store = load(logger);
    const off = store.onRevoke(() => {
      throw new Error('boom');
    });
    const second = vi.fn();
    store.onRevoke(second);
    revokeToken(file, a.grant.id);
    expect(store.reload()).toBe(true);
    expect(second).toHaveBeenCalledWith(new Set([a.grant.id]));
    expect(logger.error).toHaveBeenCalled();
    off();
    second.mockClear();
    revokeToken(file, b.grant.id);
    store.reload();
    expect(second).toHaveBeenCalledWith(new Set([b.grant.id]));
  });

  it('revoked records never verify: not at load, not in a store built from records', async () => {
    const a = createToken(file, 'demo', ['*']);
    const b = createToken(file, 'demo', ['*']);
    expect(revokeToken(file, a.grant.id)).toBe(true);
    const store = load();
    expect(store.verify(a.token)).toBeNull();
    expect(store.isValid(a.grant.id)).toBe(false);
    expect(store.verify(b.token)).toEqual(b.grant);

    const records = (JSON.parse(await readFile(file, 'utf8')) as { tokens: never[] }).tokens;
    const fromRecords = new TokenStore(records);
    expect(fromRecords.verify(a.token)).toBeNull();
    expect(fromRecords.verify(b.token)).toEqual(b.grant);
  });

  it('revokeToken: keeps the first revokedAt, false for an unknown id, refuses a malformed id, writes 0600 atomically', async () => {
    const a = createToken(file, 'demo', ['billing', 'mail']);
    expect(a.grant.id).toMatch(/^[0-9a-f]{12}$/);
    expect(revokeToken(file, a.grant.id)).toBe(true);
    const first = listTokens(file)[0].revokedAt;
    expect(first).toBeDefined();
    await sleep(5);
    expect(revokeToken(file, a.grant.id)).toBe(true);
    expect(listTokens(file)[0].revokedAt).toBe(first);
    expect(revokeToken(file, '0123456789ab')).toBe(false);
    expect(revokeToken(join(dir, 'none.json'), '0123456789ab')).toBe(false);
    expect(() => revokeToken(file, '../../etc')).toThrow(/12 hex/);
    expect(() => revokeToken(file, 'ABCDEFABCDEF0')).toThrow(/12 hex/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });

  it('listTokens shows every record without its digest', () => {
    const a = createToken(file, 'demo', ['*']);
    const b = createToken(file, 'other', ['svc']);
    revokeToken(file, b.grant.id);
    const list = listTokens(file);
    expect(list.map((t) => t.id)).toEqual([a.grant.id, b.grant.id]);
    expect(list[0]).toEqual({ id: a.grant.id, tenant: 'demo', services: ['*'], createdAt: anyOf(String) });
    expect(list[1]).toMatchObject({ id: b.grant.id, tenant: 'other', services: ['svc'], revokedAt: anyOf(String) });
    expect(JSON.stringify(list)).not.toMatch(/sha256|kt_/);
    expect(listTokens(join(dir, 'none.json'))).toEqual([]);
  });

  it('the watch timer does not keep the process alive', () => {
    createToken(file, 'demo', ['*']);
    const mod = resolve('dist/src/gateway/tokens.js');
    expect(existsSync(mod), 'run npm run build first').toBe(true);
    const code = `const { TokenStore } = await import(${JSON.stringify(mod)}); const s = TokenStore.load(${JSON.stringify(file)}); s.watch(50); console.log('watching');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 10_000 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('watching');
  });
});
