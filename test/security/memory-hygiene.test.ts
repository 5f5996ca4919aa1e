/**
 * Memory hygiene, attack by attack (security review, December 2026): each
 * test is named after what an attacker or an unlucky interleaving would do,
 * and goes through the public surface in src/native. The gcore proofs dump
 * a real child process (test/fixtures/arena-child.mjs) and search the dump
 * for secrets derived independently with node:crypto.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { xaesSubkey } from '../../bench/lib/xaes-node.js';
import {
  createKeys,
  destroyKey,
  generateKey,
  hmacSha256,
  openBlobsInto,
  scopeRef,
  scopes,
  sealWithKey,
  wrapKey,
} from '../../src/native/index.js';
import {
  ArenaChild,
  childEnv,
  describeWithTool,
  gcoreFinds,
  gcoreFindsAny,
  ROOT,
  type ArenaChildMode,
} from '../helpers/core-dump.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });

describe('stale key handles (review L1)', () => {
  it('a stale key handle held across 3,000 reuses of its slot never names the new key', () => {
    // JS holds a KEK handle across an await; meanwhile the key is destroyed
    // and its slot is reused 3,000 times (an 11-bit generation wrapped
    // after 2,048). Wrapping with the stale handle must not wrap under
    // whatever key now sits in the slot.
    const target = generateKey();
    const stale = generateKey();
    destroyKey(stale);
    const handles = new Set<number>([stale]);
    let current = 0;
    for (let i = 0; i < 3000; i++) {
      current = generateKey();
      handles.add(current);
      if (i < 2999) destroyKey(current);
    }
    expect(handles.size).toBe(3001);
    expect(current % 2 ** 20).toBe(stale % 2 ** 20); // the stale handle's own slot
    expect(() => wrapKey(stale, target)).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => hmacSha256(stale, Buffer.from('kcv'))).toThrow(code('KEY_UNAVAILABLE'));
    expect(() => sealWithKey(stale, Buffer.from('x'))).toThrow(code('KEY_UNAVAILABLE'));
    expect(wrapKey(current, target).length).toBe(24 + 32 + 16); // the newest key works
    destroyKey(current);
    destroyKey(target);
  });
});

describe('batch calls and JS getters (review L2)', () => {
  const T = 'hygiene';
  const S = 'batch';
  beforeAll(() => {
    scopes.bind(T, S, 1, 'ACTIVE', generateKey());
  });
  afterAll(() => {
    scopes.evict(T, S);
  });

  it('a blob array whose getter transfers the output buffer mid-call gets no L4 written into the memory given away', () => {
    const { keys } = createKeys(scopeRef(T, S)!, 4);
    const out = new Uint8Array(4 * 32);
    const statuses = new Uint8Array(4);
    let stolen: ArrayBuffer | null = null;
    const blobs = keys.map((k) => k.blob as Uint8Array);
    const second = blobs[1];
    Object.defineProperty(blobs, 1, {
      get() {
        stolen ??= structuredClone(out.buffer, { transfer: [out.buffer] });
        return second;
      },
    });
    expect(() => openBlobsInto(T, blobs, undefined, out, statuses)).toThrow(code('BAD_REQUEST'));
    expect(stolen).not.toBeNull();
    const copy = Buffer.from(stolen!);
    expect(copy.every((b) => b === 0)).toBe(true);
    for (const k of keys) expect(copy.indexOf(k.plaintext)).toBe(-1);
  });
});

// ---------------------------------------------------------------- L3

interface Ready {
  pid: number;
  /** Hex nonce prefix of the blobs the worker made (public). */
  prefix: string;
  keys: number;
}

describeWithTool('gcore', 'idle bulk workers and XAES subkeys (review L3)', (gcore) => {
  let work: string;
  let marker: Buffer;
  let markerFile: string;
  const children: ArenaChild[] = [];

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'src', 'native', 'bulk-task.js'))) throw new Error('run `npm run build` first');
    work = mkdtempSync(join(tmpdir(), 'krypton-hygiene-'));
    marker = randomBytes(32);
    markerFile = join(work, 'marker.bin');
    writeFileSync(markerFile, marker, { mode: 0o600 });
  });
  afterEach(() => {
    for (const c of children.splice(0)) c.kill();
  });
  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  /** Runs a bulk create on a Piscina worker of a child; which of the L3 and its subkey its dump holds. */
  async function dumpAfterBulkCreate(mode: ArenaChildMode): Promise<string[]> {
    const c = new ArenaChild(mode, markerFile, childEnv(), work);
    children.push(c);
    const r = await c.next<Ready>();
    expect(r.keys).toBe(1);
    expect(r.prefix).toMatch(/^[0-9a-f]{24}$/);
    // XAES-256-GCM (C2SP), derived here with node:crypto: K1 from
    // L = AES-256_K(0^128); Kx = AES_K(M1 ^ K1) || AES_K(M2 ^ K1) with
    // M1 = 00 01 'X' 00 || N[:12], M2 = 00 02 'X' 00 || N[:12].
    const subkey = xaesSubkey(marker, Buffer.from(r.prefix, 'hex'));
    return gcoreFinds(gcore, r.pid, work, { L3: marker, subkey });
  }

  it('a core dump of a process whose Piscina bulk worker made blobs and sits idle holds no XAES subkey for them', async () => {
    expect(await dumpAfterBulkCreate('bulk')).toEqual([]);
  });

  it('control: the same create on a worker that does not wipe its GCM contexts leaves the subkey in the dump', async () => {
    expect(await dumpAfterBulkCreate('bulk-nowipe')).toEqual(['subkey']);
  });
});

describeWithTool('gcore', 'data keys the Gateway served (review L5)', (gcore) => {
  it('a core dump of a Gateway that served every kind of reply carrying data keys holds none of them, raw or base64', async () => {
    const { pack } = await import('msgpackr');
    const { startDevStack } = await import('../../src/dev/stack.js');
    const { connect } = await import('../gateway/ws-fixture.js');
    const dir = mkdtempSync(join(tmpdir(), 'krypton-l5-'));
    const stack = await startDevStack({ dir, corePort: 0, gatewayPort: 0 });
    const c = await connect(stack.gatewayUrl, stack.token);
    try {
      const served: Buffer[] = [];
      const b64: Buffer[] = [];
      type Key = { plaintext: Buffer; blob: Buffer };
      const ok = (r: unknown) => {
        const [, status, result] = r as [unknown, number, Record<string, unknown>];
        expect(status, JSON.stringify(result)).toBe(0);
        return result;
      };
      const keep = (...ks: Key[]) => ks.forEach((k) => served.push(Buffer.from(k.plaintext)));
      const ctx = Buffer.from('row=1');
      const made: Key[] = [];
      for (let i = 0; i < 20; i++) {
        const one = ok(await c.call([i, 'key.create', { service: 'app' }])) as Key; // the fast decoder
        const counted = ok(await c.call([i, 'key.create', { service: 'app', count: 5 }])).keys as Key[];
        const withContext = ok(await c.call([i, 'key.create', { service: 'app', context: ctx }])) as Key;
        const batch = (await c.call([
          [1, 'key.create', { service: 'app' }],
          [2, 'key.create', { service: 'app', count: 2 }],
        ])) as unknown[];
        keep(one, ...counted, withContext, ok(batch[0]) as Key, ...(ok(batch[1]).keys as Key[]));
        made.push(one, ...counted);
        ok(await c.call([i, 'key.decrypt', { blob: one.blob }]));
        ok(await c.call([i, 'key.decrypt', { blobs: counted.map((k) => k.blob) }]));
        ok(await c.call([i, 'key.decrypt', { blob: withContext.blob, context: ctx }]));
      }
      const http = `http://127.0.0.1:${stack.gateway.port}/v1/keys`;
      const auth = { authorization: `Bearer ${stack.token}` };
      for (let i = 0; i < 10; i++) {
        const j = (await (
          await fetch(`${http}/create`, {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json' },
            body: JSON.stringify({ service: 'app', count: 3 }),
          })
        ).json()) as { keys: { plaintext: string; blob: string }[] };
        for (const k of j.keys) {
          served.push(Buffer.from(k.plaintext, 'base64'));
          b64.push(Buffer.from(k.plaintext));
        }
        const d = await fetch(`${http}/decrypt`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ blobs: j.keys.map((k) => k.blob) }),
        });
        expect(d.status).toBe(200);
        const m = await fetch(`${http}/create`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/msgpack' },
          body: new Uint8Array(pack({ service: 'app' })),
        });
        expect(m.status).toBe(200);
      }
      // Bulk: a create and an open large enough for the worker threads.
      const bulk = ok(await c.call([1, 'key.create', { service: 'app', count: 1500 }])).keys as Key[];
      keep(...bulk.slice(0, 600));
      ok(await c.call([2, 'key.decrypt', { blobs: bulk.slice(0, 300).map((k) => k.blob) }]));
      // uWS copies what it sends through a 16 KiB cork buffer of its own (C++,
      // outside JS memory), which keeps the last bytes sent until the next
      // send overwrites them; serving goes on, so a reply of ~15 KiB without
      // keys comes next, as it would. What must be gone is every JS copy.
      const pings = Array.from({ length: 2600 }, (_, i) => [i, 'ping', {}]);
      expect(((await c.call(pings)) as unknown[]).length).toBe(2600);
      // Let the per-thread sweeper run, then dump the Gateway process.
      await new Promise((r) => setTimeout(r, 1_500));
      const needles = [...served, ...b64];
      expect(needles.length).toBeGreaterThan(500);
      const found = gcoreFindsAny(gcore, stack.gateway.child.pid!, dir, needles);
      expect(found.map((i) => (i < served.length ? `raw #${i}` : `base64 #${i - served.length}`))).toEqual([]);
    } finally {
      c.close();
      await stack.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
