/** Envelope helpers and the example in examples/envelope.ts, against the real local stack. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { run as runExample } from '../../examples/envelope.js';
import { decrypt, encrypt } from '@krypton/client';
import { ROOT, refusedWith, useStackClient } from './stack.js';

const exec = promisify(execFile);
const t = useStackClient();

describe('envelopes', () => {
  const data = Buffer.from('the quick brown fox jumps over the lazy dog');

  it('round-trips without a context', async () => {
    const env = await t.client.encrypt(data, { service: 'app' });
    expect(env.subarray(0, 3)).toEqual(Buffer.from([0x4b, 0x45, 0x01]));
    expect(env.includes(data)).toBe(false);
    expect((await t.client.decrypt(env)).equals(data)).toBe(true);
    // The free functions are the same thing.
    expect((await decrypt(t.client, await encrypt(t.client, data, { service: 'app' }))).equals(data)).toBe(true);
  });

  it('round-trips with a context, and only with that context', async () => {
    const context = Buffer.from('orders/7');
    const env = await t.client.encrypt(data, { service: 'app', context });
    expect((await t.client.decrypt(env, { context })).equals(data)).toBe(true);
    expect(await refusedWith(t.client.decrypt(env))).toBe('INVALID_BLOB');
    expect(await refusedWith(t.client.decrypt(env, { context: Buffer.from('orders/8') }))).toBe('INVALID_BLOB');
  });

  it('round-trips empty and large data', async () => {
    expect((await t.client.decrypt(await t.client.encrypt(Buffer.alloc(0), { service: 'app' }))).length).toBe(0);
    const big = Buffer.alloc(1 << 20, 7);
    expect((await t.client.decrypt(await t.client.encrypt(big, { service: 'app' }))).equals(big)).toBe(true);
  });

  it('refuses an envelope with any byte changed, or cut short, as INVALID_BLOB', async () => {
    const context = Buffer.from('ctx');
    const env = await t.client.encrypt(data, { service: 'app', context });
    const codes = await Promise.all(
      Array.from({ length: env.length }, (_, i) => {
        const bad = Buffer.from(env);
        bad[i] ^= 0x01;
        return refusedWith(t.client.decrypt(bad, { context })).then((code) => `${i}:${code}`);
      }),
    );
    expect(codes.filter((c) => !c.endsWith(':INVALID_BLOB'))).toEqual([]);
    for (const len of [0, 4, 20, env.length - 1])
      expect(await refusedWith(t.client.decrypt(env.subarray(0, len), { context }))).toBe('INVALID_BLOB');
    expect(await refusedWith(t.client.decrypt(Buffer.concat([env, Buffer.from([0])]), { context }))).toBe(
      'INVALID_BLOB',
    );
  });

  it('wipes the data key once the envelope is made', async () => {
    let dek: Buffer | undefined;
    const spy = {
      createKey: async (service: string) => {
        const k = await t.client.createKey(service);
        dek = k.plaintext;
        return k;
      },
      decryptKey: (blob: Uint8Array) => t.client.decryptKey(blob),
    };
    await encrypt(spy, data, { service: 'app' });
    expect(dek!.equals(Buffer.alloc(32))).toBe(true);
  });
});

describe('examples/envelope.ts', () => {
  it('runs (imported)', async () => {
    expect(await runExample(t.stack.gatewayUrl, t.stack.token)).toBe('ada@example.com');
  });

  it('is the example the README of @krypton/client shows, verbatim', () => {
    const example = readFileSync(join(ROOT, 'examples', 'envelope.ts'), 'utf8');
    const start = example.indexOf('import { KryptonClient');
    const end = example.indexOf('\n}\n', example.indexOf('export async function run')) + 2;
    const body = example.slice(start, end); // from the t.client import to the end of run()
    expect(readFileSync(join(ROOT, 'packages', 'client', 'README.md'), 'utf8')).toContain(body);
  });

  it('runs as its README documents (compiled, its own process)', async () => {
    await exec(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'examples')],
      { cwd: ROOT },
    );
    const { stdout } = await exec(process.execPath, [join(ROOT, 'dist', 'examples', 'envelope.js')], {
      cwd: ROOT,
      env: { ...process.env, KRYPTON_URL: t.stack.gatewayUrl, KRYPTON_TOKEN: t.stack.token },
      timeout: 30_000,
    });
    expect(stdout.trim()).toBe('ada@example.com');
  });
});
