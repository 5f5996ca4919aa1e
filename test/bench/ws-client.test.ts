import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachReply, makeFrameTemplate, patchIds, ReplyFormatError } from '../../bench/lib/msgpack-frames.js';
import { LeanWsClient, WsHandshakeError } from '../../bench/lib/ws-client.js';
import { startEcho } from './fixtures.js';

const TOKEN = 'test-token';

function collect(buf: Buffer): [number, number][] {
  const out: [number, number][] = [];
  forEachReply(buf, (id, status) => out.push([id, status]));
  return out;
}

describe('reply id reader (bytes only)', () => {
  const packr = new Packr({ useRecords: false });

  it('reads ids in every unsigned encoding and the status', () => {
    expect(collect(Buffer.from([0x93, 0x05, 0x00, 0x80]))).toEqual([[5, 0]]);
    expect(collect(Buffer.from([0x93, 0xcc, 200, 0x01, 0x80]))).toEqual([[200, 1]]);
    expect(collect(Buffer.from([0x93, 0xcd, 0xea, 0x60, 0x00, 0x80]))).toEqual([[60000, 0]]);
    expect(collect(Buffer.from([0x93, 0xce, 0x00, 0x01, 0x11, 0x70, 0x00, 0x80]))).toEqual([[70000, 0]]);
    expect(collect(Buffer.from([0x93, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0x80]))).toEqual([[2 ** 32, 0]]);
  });

  it('skips results of any shape between replies of an array frame', () => {
    const frame = packr.pack([
      [1, 0, { plaintext: Buffer.alloc(32, 7), blob: Buffer.alloc(300, 1) }],
      [70000, 1, { code: 'KEY_REVOKED', message: 'x'.repeat(40) }],
      [
        3,
        0,
        {
          keys: Array.from({ length: 20 }, () => ({ plaintext: Buffer.alloc(32), blob: Buffer.alloc(90) })),
          f: 1.5,
          n: null,
          t: true,
          neg: -7,
        },
      ],
    ]);
    expect(collect(frame)).toEqual([
      [1, 0],
      [70000, 1],
      [3, 0],
    ]);
  });

  it('rejects frames that are not replies', () => {
    expect(() => collect(packr.pack({ id: 1 }))).toThrow(ReplyFormatError);
    expect(() => collect(packr.pack(['x', 0, {}]))).toThrow(ReplyFormatError);
  });

  it('patches ids in place at fixed offsets', () => {
    const t = makeFrameTemplate('key.create', { service: 'app' }, 3);
    patchIds(t, 41);
    expect(new Packr({ useRecords: false }).unpack(t.buf)).toEqual(
      [41, 42, 43].map((id) => [id, 'key.create', { service: 'app' }]),
    );
  });
});

describe('lean WebSocket client against the uWS echo server', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  beforeAll(async () => {
    echo = await startEcho(['--token', TOKEN]);
  });
  afterAll(async () => echo?.stop());

  async function connect(onMessage: (b: Buffer) => void): Promise<LeanWsClient> {
    return LeanWsClient.connect({ url: echo.url, headers: { authorization: `Bearer ${TOKEN}` }, onMessage });
  }

  /** Resolves once `n` reply frames arrived; fails after 3 s. */
  function nextReplies(n: number, frames: Buffer[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const check = () => {
        if (frames.length >= n) resolve();
        else if (Date.now() - started > 3000) reject(new Error(`only ${frames.length} of ${n} replies`));
        else setTimeout(check, 2);
      };
      check();
    });
  }

  it('round-trips frames; server-chosen id encodings fixint/uint8/16/32 are read back', async () => {
    const frames: Buffer[] = [];
    const client = await connect((b) => frames.push(Buffer.from(b)));
    const t = makeFrameTemplate('key.create', { service: 'app' });
    const ids = [5, 200, 60000, 70000];
    for (const id of ids) {
      patchIds(t, id);
      client.send(t.buf);
    }
    await nextReplies(ids.length, frames);
    // The server re-encodes ids minimally: each width is exercised.
    expect(frames.map((f) => f[1])).toEqual([0x05, 0xcc, 0xcd, 0xce]);
    expect(frames.flatMap(collect)).toEqual(ids.map((id) => [id, 0]));
    client.close();
  });

  it('array frames come back as arrays in order, also when larger than 64 KiB (split across reads)', async () => {
    const frames: Buffer[] = [];
    const client = await connect((b) => frames.push(Buffer.from(b)));
    const small = makeFrameTemplate('key.create', { service: 'app' }, 20);
    patchIds(small, 1000);
    client.send(small.buf);
    const big = makeFrameTemplate('key.create', { service: 'app', context: 'c'.repeat(20) }, 3000);
    expect(big.buf.length).toBeGreaterThan(65536);
    patchIds(big, 100_000);
    client.send(big.buf);
    await nextReplies(2, frames);
    expect(collect(frames[0]).map(([id]) => id)).toEqual(Array.from({ length: 20 }, (_, i) => 1000 + i));
    const second = collect(frames[1]);
    expect(second).toHaveLength(3000);
    expect(second[2999]).toEqual([102_999, 0]);
    client.close();
  });

  it('the upgrade without the bearer token is refused with 401', async () => {
    const err = await LeanWsClient.connect({ url: echo.url, onMessage: () => {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WsHandshakeError);
    expect((err as WsHandshakeError).status).toBe(401);
  });
});
