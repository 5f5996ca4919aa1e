/**
 * One pipeline behind every entrance: the same request sent through the
 * WebSocket's fast decoder and its general decoder, as a batch frame, over
 * HTTP in msgpack and in JSON, and through a Gateway that hands it to the
 * worker threads, gets the same answer: the same result shape (keys made
 * through one entrance open through every other to the same plaintext) or
 * the same refusal, code and message.
 */
import { pack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, type ErrorCode } from '../../src/errors.js';
import { httpCall, openStage, type Stage } from '../security/stage.js';
import { connect, type WsClient } from './ws-fixture.js';

type Params = Record<string, unknown>;
type Answer = { error: { code: string; message: string } } | { result: Record<string, unknown> };
type Entrance = (op: string, params: Params) => Promise<Answer>;

/**
 * `[id, op, params]` with the id as a float64, so the fast decoder cannot take it: the general decoder's answer to the
 * same request.
 */
function generalBytes(id: number, op: string, params: Params): Buffer {
  const idBytes = Buffer.alloc(9);
  idBytes[0] = 0xcb;
  idBytes.writeDoubleBE(id, 1);
  return Buffer.concat([Buffer.from([0x93]), idBytes, pack(op), pack(params)]);
}

const fromReply = (r: unknown): Answer => {
  const [, status, result] = r as [unknown, number, Record<string, unknown>];
  return status === 0 ? { result } : { error: result as { code: string; message: string } };
};

/** The shape of an answer: bytes by their length, so keys made at random compare. */
function shape(a: Answer): unknown {
  const walk = (v: unknown): unknown =>
    v instanceof Uint8Array
      ? `bytes(${v.length})`
      : Array.isArray(v)
        ? v.map(walk)
        : v !== null && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
          : v;
  return walk(a);
}

describe('every entrance answers alike', () => {
  let stage: Stage;
  let ws: WsClient;
  let bulkWs: WsClient;
  const entrances: Record<string, (token: string) => Entrance> = {};
  let other: Buffer;

  beforeAll(async () => {
    stage = await openStage({
      tenants: { acme: ['app', 'payroll'], other: ['app'] },
      tokens: { app: { tenant: 'acme', services: ['app'] }, other: { tenant: 'other', services: ['*'] } },
    });
    // every open and every counted create goes to a worker thread
    const bulk = await stage.startGateway({ bulkThreshold: 2 });
    let id = 0;
    const byToken = new Map<string, { ws: WsClient; bulk: WsClient }>();
    const clients = async (token: string) => {
      let c = byToken.get(token);
      if (c === undefined) {
        c = {
          ws: await connect(stage.wsUrl, token),
          bulk: await connect(`ws://127.0.0.1:${bulk.server.port}/v1/ws`, token),
        };
        byToken.set(token, c);
      }
      return c;
    };
    entrances['ws fast'] = (t) => async (op, p) => fromReply(await (await clients(t)).ws.call([++id, op, p]));
    entrances['ws general'] = (t) => async (op, p) =>
      fromReply(await (await clients(t)).ws.raw(generalBytes(++id, op, p)));
    entrances['ws batch'] = (t) => async (op, p) =>
      fromReply(((await (await clients(t)).ws.call([[++id, op, p]])) as unknown[])[0]);
    entrances['bulk threads'] = (t) => async (op, p) => fromReply(await (await clients(t)).bulk.call([++id, op, p]));
    for (const format of ['json', 'msgpack'] as const) {
      entrances[`http ${format}`] = (t) => async (op, p) => {
        const r = await httpCall(stage, t, op.slice(4) as 'create' | 'decrypt' | 'rewrap', p, format);
        if (r.status === 200) return { result: r.body };
        const e = r.body as { code: ErrorCode; message: string };
        expect(r.status).toBe(ERROR_CATALOGUE[e.code].status);
        return { error: e };
      };
    }
    ws = (await clients(stage.tokens.app)).ws;
    bulkWs = (await clients(stage.tokens.app)).bulk;
    other = (
      (await (await clients(stage.tokens.other)).ws.call([1, 'key.create', { service: 'app' }])) as [
        unknown,
        0,
        { blob: Buffer },
      ]
    )[2].blob;
  });
  afterAll(async () => {
    ws?.close();
    bulkWs?.close();
    await stage?.stop();
  });

  const across = async (op: string, params: Params, token = stage.tokens.app) => {
    const out: Record<string, Answer> = {};
    for (const [name, e] of Object.entries(entrances)) out[name] = await e(token)(op, params);
    return out;
  };
  const expectAlike = (answers: Record<string, Answer>) => {
    const shapes = Object.entries(answers).map(([name, a]) => [name, shape(a)] as const);
    for (const [name, s] of shapes) expect(s, `${name} vs ${shapes[0][0]}`).toEqual(shapes[0][1]);
  };

  it('creates of every shape: the same result, and a key made through one entrance opens through every other', async () => {
    const ctx = Buffer.from('row=7');
    for (const params of [
      { service: 'app' },
      { service: 'app', count: 3 },
      { service: 'app', context: ctx },
      { service: 'app', count: 2, context: ctx },
    ]) {
      const made = await across('key.create', params);
      expectAlike(made);
      for (const [from, a] of Object.entries(made)) {
        const r = (a as { result: Record<string, unknown> }).result;
        const keys = (r.keys ?? [r]) as { plaintext: Uint8Array; blob: Uint8Array }[];
        const opened = await across('key.decrypt', {
          blobs: keys.map((k) => k.blob),
          ...(params.context ? { context: ctx } : {}),
        });
        expectAlike(opened);
        for (const [to, o] of Object.entries(opened)) {
          const plaintexts = (o as { result: { plaintexts: Uint8Array[] } }).result.plaintexts.map((p) =>
            Buffer.from(p).toString('hex'),
          );
          expect(plaintexts, `made by ${from}, opened by ${to}`).toEqual(
            keys.map((k) => Buffer.from(k.plaintext).toString('hex')),
          );
        }
      }
    }
  });

  it('decrypt and rewrap, single and plural: the same answers', async () => {
    const k = (
      (await ws.call([1, 'key.create', { service: 'app' }])) as [unknown, 0, { plaintext: Buffer; blob: Buffer }]
    )[2];
    for (const op of ['key.decrypt', 'key.rewrap']) {
      for (const params of [{ blob: k.blob }, { blobs: [k.blob, k.blob] }]) expectAlike(await across(op, params));
    }
  });

  it('every refusal: the same code and message on every entrance', async () => {
    const k = ((await ws.call([1, 'key.create', { service: 'app' }])) as [unknown, 0, { blob: Buffer }])[2];
    const tampered = Buffer.from(k.blob);
    tampered[tampered.length - 1] ^= 1;
    const payroll = Buffer.from(k.blob);
    payroll.write('payrol', 6 + payroll[4], 'latin1'); // names acme/payroll, outside the token
    const cases: [string, Params, string][] = [
      ['key.create', { service: 'payroll' }, 'FORBIDDEN'],
      ['key.create', { service: 'bad/id' }, 'BAD_REQUEST'],
      ['key.create', { service: 5 }, 'BAD_REQUEST'],
      ['key.create', {}, 'BAD_REQUEST'],
      ['key.create', { service: 'app', count: 0 }, 'BAD_REQUEST'],
      ['key.create', { service: 'app', count: 5000 }, 'BAD_REQUEST'],
      ['key.create', { service: 'app', count: 1.5 }, 'BAD_REQUEST'],
      ['key.create', { service: 'app', context: 5 }, 'BAD_REQUEST'], // (a string is how JSON writes bytes)
      ['key.decrypt', { blob: tampered }, 'INVALID_BLOB'],
      ['key.decrypt', { blob: payroll }, 'INVALID_BLOB'],
      ['key.decrypt', { blob: other }, 'INVALID_BLOB'],
      ['key.decrypt', { blob: k.blob, context: Buffer.from('wrong') }, 'INVALID_BLOB'],
      ['key.decrypt', { blobs: [] }, 'BAD_REQUEST'],
      ['key.decrypt', {}, 'BAD_REQUEST'],
      ['key.rewrap', { blob: tampered }, 'INVALID_BLOB'],
      ['key.rewrap', { blob: payroll }, 'INVALID_BLOB'],
    ];
    for (const [op, params, code] of cases) {
      const answers = await across(op, params);
      expectAlike(answers);
      expect(
        (Object.values(answers)[0] as { error: { code: string } }).error?.code,
        `${op} ${JSON.stringify(params)}`,
      ).toBe(code);
    }
    // A service the Core does not know: its UNKNOWN_SERVICE, alike everywhere.
    const unknown = await across('key.create', { service: 'nope' });
    expectAlike(unknown);
  });
});
