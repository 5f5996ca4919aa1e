/**
 * Abuse of the frame itself: a structure-aware fuzzer of whole Gateway
 * frames (msgpack op and param shapes, blob headers, ids and odd names,
 * byte-level mutations) against a live Gateway, for a bounded time. Every
 * frame must get one reply frame; every reply must be a catalogue error or
 * a valid result; and no key may ever be served across a tenant or a
 * service: a blob opens only for a token of its tenant allowed its service,
 * and only to the key it was made with.
 */
import fc from 'fast-check';
import { pack, unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isErrorCode } from '../../src/errors.js';
import { ok, openStage, type Stage } from './stage.js';
import type { WsClient } from '../gateway/ws-fixture.js';

const FUZZ_MS = Number(process.env.KRYPTON_FUZZ_FRAMES_MS ?? 15_000);

interface Known {
  tenant: string;
  service: string;
  plaintext: string;
  context: string;
}

/** tenant and service named by a blob's header, read independently of the addon. */
function header(b: Uint8Array): { tenant: string; service: string } | null {
  if (b.length < 7 || b[0] !== 0x4b || b[1] !== 0x34) return null;
  const t = b[4];
  const s = b[5 + t];
  if (s === undefined) return null;
  return {
    tenant: Buffer.from(b.subarray(5, 5 + t)).toString('latin1'),
    service: Buffer.from(b.subarray(6 + t, 6 + t + s)).toString('latin1'),
  };
}

const GRANTS: Record<string, { tenant: string; services: string[] }> = {
  narrow: { tenant: 'acme', services: ['app'] },
  wide: { tenant: 'acme', services: ['*'] },
  other: { tenant: 'other', services: ['*'] },
};
const allowed = (token: string, tenant: string, service: string) => {
  const g = GRANTS[token];
  return g.tenant === tenant && (g.services.includes('*') || g.services.includes(service));
};

describe('fuzzing whole frames', () => {
  let stage: Stage;
  const clients: Record<string, WsClient> = {};
  /** Every blob known to open, by hex, with what it must open to. */
  const known = new Map<string, Known>();
  const seeds: Buffer[] = [];

  beforeAll(async () => {
    stage = await openStage({ tenants: { acme: ['app', 'payroll'], other: ['app', 'payroll'] }, tokens: GRANTS });
    for (const name of Object.keys(GRANTS)) clients[name] = await stage.ws(stage.tokens[name]);
    for (const [token, tenant, service] of [
      ['wide', 'acme', 'app'],
      ['wide', 'acme', 'payroll'],
      ['other', 'other', 'app'],
      ['other', 'other', 'payroll'],
    ] as const) {
      for (const context of [undefined, Buffer.from('ctx')]) {
        const r = ok(
          await clients[token].call([1, 'key.create', { service, count: 2, ...(context ? { context } : {}) }]),
        );
        for (const k of r.keys as { plaintext: Buffer; blob: Buffer }[]) {
          known.set(k.blob.toString('hex'), {
            tenant,
            service,
            plaintext: k.plaintext.toString('hex'),
            context: context?.toString('hex') ?? '',
          });
          seeds.push(k.blob);
        }
      }
    }
  });
  afterAll(async () => {
    await stage?.stop();
  });

  it(`no crash, only catalogue errors or valid results, and no key across tenants or services (${FUZZ_MS} ms)`, async () => {
    const blob = fc.oneof(
      fc.constantFrom(...seeds),
      fc.tuple(fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([b, i, x]) => {
        const m = Buffer.from(b);
        m[i % m.length] ^= x; // a flipped byte anywhere: header, nonce, ciphertext, tag
        return m;
      }),
      fc.tuple(fc.constantFrom(...seeds), fc.nat()).map(([b, n]) => b.subarray(0, n % b.length)),
      fc.tuple(fc.constantFrom(...seeds), fc.uint8Array({ maxLength: 8 })).map(([b, x]) => Buffer.concat([b, x])),
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    );
    const service = fc.oneof(
      fc.constantFrom('app', 'payroll', 'nope', 'not/an-id', '', 'x'.repeat(65), 'caf\u00e9'),
      fc.string({ maxLength: 70 }),
      fc.integer(),
      fc.constant(null),
    );
    const params = fc.record(
      {
        service,
        count: fc.oneof(fc.integer({ min: -2, max: 40 }), fc.constantFrom(4097, 1.5, '3', null)),
        context: fc.oneof(
          fc.constant(Buffer.from('ctx')),
          fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)),
          fc.string({ maxLength: 8 }),
          fc.constant(null),
        ),
        blob,
        blobs: fc.oneof(fc.array(blob, { maxLength: 12 }), fc.constant([]), fc.string()),
        extra: fc.anything({ maxDepth: 2 }),
      },
      { requiredKeys: [] },
    );
    const op = fc.oneof(
      fc.constantFrom('key.create', 'key.decrypt', 'key.rewrap', 'key.info', 'ping'),
      fc.string({ maxLength: 12 }),
    );
    const id = fc.oneof(fc.nat(), fc.string({ maxLength: 8 }), fc.constant(null), fc.double());
    const request = fc.oneof(fc.tuple(id, op, params), fc.tuple(id, op), fc.anything({ maxDepth: 2 }));
    const frame = fc.oneof(
      { weight: 4, arbitrary: request.map((r) => ({ bytes: pack(r) })) },
      {
        weight: 3,
        arbitrary: fc
          .array(fc.tuple(id, op, params), { minLength: 1, maxLength: 8 })
          .map((rs) => ({ bytes: pack(rs) })),
      },
      {
        weight: 1,
        arbitrary: fc.tuple(request, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([r, i, x]) => {
          const b = Buffer.from(pack(r));
          b[i % b.length] = x;
          return { bytes: b };
        }),
      },
    );
    const token = fc.constantFrom(...Object.keys(GRANTS));

    let frames = 0;
    await fc.assert(
      fc.asyncProperty(token, frame, async (tok, f) => {
        frames++;
        const reply = await clients[tok].raw(f.bytes);
        const sent = requestsOf(f.bytes);
        const replies = Array.isArray(reply) && Array.isArray(reply[0]) ? (reply as unknown[][]) : [reply as unknown[]];
        for (const [k, r] of replies.entries()) {
          expect(Array.isArray(r) && r.length === 3).toBe(true);
          const [, status, result] = r as [unknown, number, Record<string, unknown>];
          if (status === 1) {
            expect(isErrorCode(result.code), JSON.stringify(result)).toBe(true);
            expect(typeof result.message).toBe('string');
            continue;
          }
          expect(status).toBe(0);
          const req = sent?.[k] as [unknown, string, Record<string, unknown>] | undefined;
          expect(req, 'a result for a frame that was not a request').toBeDefined();
          checkResult(tok, req![1], req![2] ?? {}, result);
        }
        // A batch taken as a batch answers every request, in order, under its id (a frame refused whole is one error).
        if (sent !== null && sent.length > 1 && Array.isArray(reply) && Array.isArray(reply[0]))
          expect(replies.map((r) => r[0])).toEqual(sent.map(echoedId));
      }),
      { numRuns: 1_000_000, interruptAfterTimeLimit: FUZZ_MS, markInterruptAsFailure: false },
    );
    // Still serving, and it saw a fair number of frames.
    ok(await clients.wide.call([1, 'ping', {}]));
    expect(frames).toBeGreaterThan(100);
  });

  /** A successful result must be one the token could have: its tenant, its services, the right keys. */
  function checkResult(tok: string, op: string, p: Record<string, unknown>, result: Record<string, unknown>): void {
    const ctx = p.context instanceof Uint8Array ? Buffer.from(p.context).toString('hex') : '';
    const opens = (blobs: Uint8Array[]) =>
      blobs.map((b) => {
        const k = known.get(Buffer.from(b).toString('hex'));
        expect(k, 'an unknown or altered blob opened').toBeDefined();
        expect(allowed(tok, k!.tenant, k!.service), `${tok} opened a blob of ${k!.tenant}/${k!.service}`).toBe(true);
        expect(k!.context).toBe(ctx);
        return k!;
      });
    const blobsOf = () => (p.blobs !== undefined ? (p.blobs as Uint8Array[]) : [p.blob as Uint8Array]);
    switch (op) {
      case 'ping':
        expect(result).toEqual({});
        return;
      case 'key.create': {
        const keys = (result.keys ?? [result]) as { plaintext: Uint8Array; blob: Uint8Array }[];
        for (const k of keys) {
          const h = header(k.blob)!;
          expect(h).toEqual({ tenant: GRANTS[tok].tenant, service: p.service });
          expect(allowed(tok, h.tenant, h.service)).toBe(true);
          known.set(Buffer.from(k.blob).toString('hex'), {
            ...h,
            plaintext: Buffer.from(k.plaintext).toString('hex'),
            context: ctx,
          });
        }
        return;
      }
      case 'key.decrypt': {
        const got = (result.plaintexts ?? [result.plaintext]) as Uint8Array[];
        const want = opens(blobsOf());
        expect(got.map((x) => Buffer.from(x).toString('hex'))).toEqual(want.map((k) => k.plaintext));
        return;
      }
      case 'key.rewrap': {
        const got = (result.blobs ?? [result.blob]) as Uint8Array[];
        const want = opens(blobsOf());
        got.forEach((b, i) => {
          expect(header(b)).toEqual({ tenant: want[i].tenant, service: want[i].service });
          known.set(Buffer.from(b).toString('hex'), want[i]);
        });
        return;
      }
      case 'key.info': {
        // Info reads the header without decrypting: it must still be a header this token may read.
        const h = header(p.blob as Uint8Array)!;
        expect(allowed(tok, h.tenant, h.service), `${tok} read the header of ${h.tenant}/${h.service}`).toBe(true);
        expect(result).toMatchObject(h);
        return;
      }
      default:
        throw new Error(`a result for op ${op}`);
    }
  }
});

/** The requests a frame's bytes hold, as the Gateway reads them; null when they are not msgpack. */
function requestsOf(b: Uint8Array): unknown[] | null {
  let v: unknown;
  try {
    v = unpack(b);
  } catch {
    return null;
  }
  return Array.isArray(v) && v.length > 0 && Array.isArray(v[0]) ? (v as unknown[]) : [v];
}

const echoedId = (r: unknown): unknown => {
  const id: unknown = Array.isArray(r) ? r[0] : undefined;
  return (typeof id === 'number' && Number.isFinite(id)) || (typeof id === 'string' && id.length <= 256) ? id : null;
};
