/**
 * The Gateway's operations (DESIGN.md section 4) over one frame: a single
 * request `[id, op, params]` or an array of them. Creates of one service and
 * decrypts that share a frame go to the addon in ONE native call; a frame
 * whose leases are all held completes synchronously, without a promise.
 */
import { errors, KryptonError, type ErrorCode } from '../errors.js';
import { blobInfo, createInto, L4_BYTES, MAX_BATCH, MAX_CONTEXT_BYTES, openBlobs, rewrapBlobs, scopes, type ScopeRef } from '../native/index.js';
import type { BulkPool } from './bulk.js';
import { encodeCreateReply, type EncodedFrame } from './reply-encoding.js';
import type { LeaseCache } from './lease-cache.js';
import { allows, type TokenGrant } from './tokens.js';

export type Reply = [id: unknown, status: 0 | 1, result: unknown];

interface Request {
  id: unknown;
  op: string;
  params: Record<string, unknown>;
}

/** (op, outcome) of each request of a frame, timed by the caller once the reply is sent. */
export type Outcomes = [op: string, outcome: string][];
type Observe = (op: string, outcome: string) => void;

const OPS = new Set(['key.create', 'key.decrypt', 'key.rewrap', 'key.info', 'ping']);

function bytes(v: unknown, name: string, max: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length > max) throw errors.badRequest(`${name} must be bytes (at most ${max})`);
  return v;
}

function context(p: Record<string, unknown>): Uint8Array | undefined {
  return p.context === undefined || p.context === null ? undefined : bytes(p.context, 'context', MAX_CONTEXT_BYTES);
}

function blobsOf(p: Record<string, unknown>): { list: Uint8Array[]; many: boolean } {
  if (p.blobs !== undefined) {
    if (!Array.isArray(p.blobs) || p.blobs.length < 1 || p.blobs.length > MAX_BATCH) throw errors.badRequest(`blobs must hold 1 to ${MAX_BATCH} blobs`);
    return { list: p.blobs.map((b, i) => bytes(b, `blobs[${i}]`, 512)), many: true };
  }
  return { list: [bytes(p.blob, 'blob', 512)], many: false };
}

function errorResult(err: unknown): { code: string; message: string } {
  const k = err instanceof KryptonError ? err : errors.internal();
  return { code: k.code, message: k.code === 'INTERNAL' ? 'internal error' : k.message };
}

export class FrameProcessor {
  constructor(
    private readonly cache: LeaseCache,
    private readonly onInternal: (err: unknown) => void,
    private readonly bulk: BulkPool | null = null,
  ) {}

  /** Replies for a decoded frame, in request order and in the frame's shape; outcomes are pushed to `outcomes`. */
  process(grant: TokenGrant, frame: unknown, outcomes: Outcomes): unknown | Promise<unknown> {
    const fast = this.singleCreate(grant, frame, outcomes);
    if (fast !== undefined) return fast;
    const obs: Observe = (op, outcome) => outcomes.push([op, outcome]);
    const batch = Array.isArray(frame) && Array.isArray(frame[0]);
    const raw = batch ? (frame as unknown[]) : [frame];
    const requests: (Request | KryptonError)[] = raw.map((r) => this.parse(r));
    const replies: Reply[] = new Array(requests.length);
    const waits: Promise<void>[] = [];

    // Creates of the same service without a context: one native call.
    const creates = new Map<string, number[]>();
    const decrypts: number[] = [];
    requests.forEach((r, i) => {
      if (r instanceof KryptonError) return;
      if (r.op === 'key.create' && r.params.context === undefined && typeof r.params.service === 'string') {
        const s = r.params.service;
        (creates.get(s) ?? creates.set(s, []).get(s)!).push(i);
      } else if (r.op === 'key.decrypt' && r.params.context === undefined) {
        decrypts.push(i);
      }
    });
    const grouped = new Set<number>([...decrypts, ...[...creates.values()].flat()]);

    const settle = (i: number, op: string, fn: () => unknown | Promise<unknown>) => {
      const done = (v: unknown) => {
        replies[i] = [(requests[i] as Request).id, 0, v];
        obs(op, 'ok');
      };
      const fail = (e: unknown) => {
        if (!(e instanceof KryptonError) || e.code === 'INTERNAL') this.onInternal(e);
        const res = errorResult(e);
        replies[i] = [(requests[i] as Request | undefined)?.id ?? null, 1, res];
        obs(op, res.code);
      };
      try {
        const v = fn();
        if (v instanceof Promise) waits.push(v.then(done, fail));
        else done(v);
      } catch (e) {
        fail(e);
      }
    };

    requests.forEach((r, i) => {
      if (r instanceof KryptonError) {
        replies[i] = [(raw[i] as unknown[] | undefined)?.[0] ?? null, 1, errorResult(r)];
        obs('invalid', r.code);
      }
    });
    for (const [service, idx] of creates) this.createGroup(grant, service, idx, requests as Request[], replies, waits, obs);
    if (decrypts.length > 0) this.decryptGroup(grant, decrypts, requests as Request[], replies, waits, obs);
    requests.forEach((r, i) => {
      if (r instanceof KryptonError || grouped.has(i)) return;
      settle(i, r.op, () => this.one(grant, r));
    });

    const shape = () => (batch ? replies : replies[0]);
    return waits.length === 0 ? shape() : Promise.all(waits).then(shape);
  }

  /**
   * The most common frames, one `[id, 'key.create', {service, count?}]`
   * whose scope is leased: made and encoded without the planning of a
   * general frame; undefined when the frame is anything else.
   */
  private singleCreate(grant: TokenGrant, frame: unknown, outcomes: Outcomes): EncodedFrame | undefined {
    if (!Array.isArray(frame) || frame.length !== 3 || frame[1] !== 'key.create') return undefined;
    const id: unknown = frame[0];
    const params = frame[2] as Record<string, unknown> | null;
    if ((typeof id !== 'number' && typeof id !== 'string') || typeof params !== 'object' || params === null) return undefined;
    if (params.context !== undefined) return undefined;
    return this.create(grant, id, params.service, params.count, outcomes);
  }

  /** A create under a leased scope, encoded; undefined sends it down the general path. */
  create(grant: TokenGrant, id: number | string, service: unknown, count: unknown, outcomes: Outcomes): EncodedFrame | undefined {
    if (typeof service !== 'string') return undefined;
    if (count !== undefined && (!Number.isInteger(count) || (count as number) < 1 || (count as number) > MAX_BATCH)) return undefined;
    const n = (count as number | undefined) ?? 1;
    if (!allows(grant, service) || (this.bulk !== null && n >= this.bulk.threshold)) return undefined;
    const scope = this.cache.scopeSync(grant.tenant, service);
    if (scope === null) return undefined;
    const rec = scope.recordBytes;
    const records = Buffer.allocUnsafe(n * rec);
    try {
      createInto(scope, n, undefined, records);
    } catch {
      return undefined; // the general path reports (or recovers from) it
    }
    outcomes.push(['key.create', 'ok']);
    const reply = encodeCreateReply(id, records, rec, count as number | undefined);
    records.fill(0); // the DEKs now live only in the reply, which the server wipes once sent
    return reply;
  }

  private parse(r: unknown): Request | KryptonError {
    if (!Array.isArray(r) || r.length !== 3 && r.length !== 2) return errors.badRequest('a request is [id, op, params]');
    const [id, op, params = {}] = r as [unknown, unknown, unknown];
    if (typeof id !== 'number' && typeof id !== 'string') return errors.badRequest('id must be a number or a string');
    if (typeof op !== 'string' || !OPS.has(op)) return errors.badRequest('unknown op');
    if (typeof params !== 'object' || params === null || Array.isArray(params)) return errors.badRequest('params must be a map');
    return { id, op, params: params as Record<string, unknown> };
  }

  private scopeFor(grant: TokenGrant, service: unknown): ScopeRef | Promise<ScopeRef> {
    if (typeof service !== 'string') throw errors.badRequest('service must be a string');
    if (!allows(grant, service)) throw new KryptonError('FORBIDDEN', 'this token may not use that service');
    return this.cache.scopeSync(grant.tenant, service) ?? this.cache.scope(grant.tenant, service);
  }

  /** Creates for several requests of one service in one native call. */
  private createGroup(grant: TokenGrant, service: string, idx: number[], reqs: Request[], replies: Reply[], waits: Promise<void>[], obs: Observe): void {
    const fail = (e: unknown, which: number[]) => {
      const res = errorResult(e);
      for (const i of which) {
        replies[i] = [reqs[i]!.id, 1, res];
        obs('key.create', res.code);
      }
    };
    // A request with a bad count fails alone; the rest are made without it.
    const badCount = (i: number) => {
      const c = reqs[i]!.params.count;
      return c !== undefined && (!Number.isInteger(c) || (c as number) < 1 || (c as number) > MAX_BATCH);
    };
    if (idx.some(badCount)) {
      fail(errors.badRequest(`count must be an integer from 1 to ${MAX_BATCH}`), idx.filter(badCount));
      idx = idx.filter((i) => !badCount(i));
      if (idx.length === 0) return;
    }
    const counts = idx.map((i) => (reqs[i]!.params.count as number | undefined) ?? 0);
    const total = counts.reduce((sum, c) => sum + (c === 0 ? 1 : c), 0);
    const reply = (out: Buffer, rec: number) => {
      let at = 0;
      idx.forEach((i, k) => {
        const key = (j: number) => ({ plaintext: out.subarray(j * rec, j * rec + L4_BYTES), blob: out.subarray(j * rec + L4_BYTES, (j + 1) * rec) });
        const c = counts[k]!;
        const result = c === 0 ? key(at) : { keys: Array.from({ length: c }, (_, j) => key(at + j)) };
        at += c === 0 ? 1 : c;
        replies[i] = [reqs[i]!.id, 0, result];
        obs('key.create', 'ok');
      });
    };
    const run = (scope: ScopeRef): void | Promise<void> => {
      const rec = scope.recordBytes;
      if (this.bulk !== null && total >= this.bulk.threshold && total <= MAX_BATCH) {
        return this.bulk.run({ op: 'create', tenant: grant.tenant, service, count: total }).then((r) => {
          if (r.op !== 'create') throw errors.internal();
          reply(Buffer.from(r.records.buffer, r.records.byteOffset, r.records.byteLength), r.recordBytes);
        });
      }
      const out = Buffer.allocUnsafe(total * rec);
      for (let done = 0; done < total; done += MAX_BATCH) {
        const n = Math.min(MAX_BATCH, total - done);
        createInto(scope, n, undefined, out.subarray(done * rec, (done + n) * rec));
      }
      reply(out, rec);
    };
    try {
      const scope = this.scopeFor(grant, service);
      const done = scope instanceof Promise ? scope.then(run) : run(scope);
      if (done instanceof Promise) waits.push(done.catch((e: unknown) => fail(e, idx)));
    } catch (e) {
      fail(e, idx);
    }
  }

  /** Decrypts for several requests in one native call; misses ask the lease cache once. */
  private decryptGroup(grant: TokenGrant, idx: number[], reqs: Request[], replies: Reply[], waits: Promise<void>[], obs: Observe): void {
    const lists: { list: Uint8Array[]; many: boolean }[] = [];
    const valid: number[] = [];
    for (const i of idx) {
      try {
        lists.push(blobsOf(reqs[i]!.params));
        valid.push(i);
      } catch (e) {
        replies[i] = [reqs[i]!.id, 1, errorResult(e)];
        obs('key.decrypt', 'BAD_REQUEST');
      }
    }
    if (valid.length === 0) return;
    const all = lists.flatMap((l) => l.list);
    const finish = (results: (Buffer | KryptonError)[]) => {
      let at = 0;
      valid.forEach((i, k) => {
        const { list, many } = lists[k]!;
        const mine = results.slice(at, at + list.length);
        at += list.length;
        const failed = mine.find((r): r is KryptonError => r instanceof KryptonError);
        if (failed !== undefined) {
          replies[i] = [reqs[i]!.id, 1, errorResult(failed)];
          obs('key.decrypt', failed.code);
        } else {
          replies[i] = [reqs[i]!.id, 0, many ? { plaintexts: mine } : { plaintext: mine[0] }];
          obs('key.decrypt', 'ok');
        }
      });
    };
    if (this.bulk !== null && all.length >= this.bulk.blobThreshold) {
      waits.push(
        this.bulk.run({ op: 'open', tenant: grant.tenant, blobs: all }).then(async (r) => {
          if (r.op !== 'open') throw errors.internal();
          const results = r.results.map((x) => (x instanceof Uint8Array ? Buffer.from(x.buffer, x.byteOffset, x.byteLength) : new KryptonError(x.code as ErrorCode)));
          const misses = results.map((x, j) => (x instanceof KryptonError && x.code === 'INVALID_BLOB' ? j : -1)).filter((j) => j >= 0);
          if (misses.length > 0) {
            const retried = await this.retryAfterLease(grant, misses.map((j) => all[j]!));
            misses.forEach((j, k) => (results[j] = retried[k]!));
          }
          finish(results);
        }),
      );
      return;
    }
    const first = openBlobs(grant.tenant, all);
    const misses = first.map((r, j) => (r instanceof KryptonError && r.code === 'INVALID_BLOB' ? j : -1)).filter((j) => j >= 0);
    if (misses.length === 0) return finish(first);
    waits.push(
      this.retryAfterLease(grant, misses.map((j) => all[j]!)).then((retried) => {
        misses.forEach((j, k) => (first[j] = retried[k]!));
        finish(first);
      }),
    );
  }

  /**
   * Blobs that did not open may name a scope or version this Gateway has
   * not leased yet: fetch what they name (once each) and try them again.
   */
  private async retryAfterLease(grant: TokenGrant, blobs: Uint8Array[]): Promise<(Buffer | KryptonError)[]> {
    const { fetched, failures } = await this.leaseNamed(grant, blobs);
    const results = fetched ? openBlobs(grant.tenant, blobs) : blobs.map(() => errors.invalidBlob());
    return withLeaseFailures(results, blobs, failures);
  }

  /**
   * Leases the scope versions the caller's own blobs name. A lease refused
   * as KEY_REVOKED or KEY_UNAVAILABLE is kept per scope version, so a blob
   * of a revoked tenant says so rather than looking malformed (the blob is
   * the caller's tenant's: nothing is revealed about anyone else's).
   */
  private async leaseNamed(grant: TokenGrant, blobs: Uint8Array[], withActive = false): Promise<{ fetched: boolean; failures: Map<string, KryptonError> }> {
    const wanted = new Map<string, { service: string; version: number }>();
    for (const b of blobs) {
      const info = blobInfo(b);
      if (info === null || info.tenant !== grant.tenant || !allows(grant, info.service)) continue;
      wanted.set(`${info.service}@${info.version}`, info);
    }
    let fetched = false;
    const failures = new Map<string, KryptonError>();
    for (const [key, { service, version }] of wanted) {
      try {
        if ((await this.cache.ensureVersion(grant.tenant, service, version)) === 'held') fetched = true;
        // Rewrap also needs the scope's ACTIVE version.
        if (withActive && this.cache.scopeSync(grant.tenant, service) === null) await this.cache.scope(grant.tenant, service);
      } catch (err) {
        if (err instanceof KryptonError && (err.code === 'KEY_REVOKED' || err.code === 'KEY_UNAVAILABLE')) failures.set(key, err);
      }
    }
    return { fetched, failures };
  }

  private one(grant: TokenGrant, r: Request): unknown | Promise<unknown> {
    const p = r.params;
    switch (r.op) {
      case 'ping':
        return {};
      case 'key.create': {
        const ctx = context(p);
        const c = p.count;
        if (c !== undefined && (!Number.isInteger(c) || (c as number) < 1 || (c as number) > MAX_BATCH)) {
          throw errors.badRequest(`count must be an integer from 1 to ${MAX_BATCH}`);
        }
        const run = (scope: ScopeRef) => {
          const n = (c as number | undefined) ?? 1;
          const out = Buffer.allocUnsafe(n * scope.recordBytes);
          createInto(scope, n, ctx, out);
          const key = (j: number) => ({
            plaintext: out.subarray(j * scope.recordBytes, j * scope.recordBytes + L4_BYTES),
            blob: out.subarray(j * scope.recordBytes + L4_BYTES, (j + 1) * scope.recordBytes),
          });
          return c === undefined ? key(0) : { keys: Array.from({ length: n }, (_, j) => key(j)) };
        };
        const scope = this.scopeFor(grant, p.service);
        return scope instanceof Promise ? scope.then(run) : run(scope);
      }
      case 'key.decrypt':
        return this.openOrRewrap(grant, p, 'decrypt');
      case 'key.rewrap':
        return this.openOrRewrap(grant, p, 'rewrap');
      case 'key.info': {
        const info = blobInfo(bytes(p.blob, 'blob', 512));
        if (info === null || info.tenant !== grant.tenant) throw errors.invalidBlob();
        const held = scopes.list(info.tenant, info.service).find((v) => v.version === info.version);
        return { ...info, state: held === undefined ? 'UNKNOWN' : held.state };
      }
      default:
        throw errors.badRequest('unknown op');
    }
  }

  private openOrRewrap(grant: TokenGrant, p: Record<string, unknown>, what: 'decrypt' | 'rewrap'): unknown | Promise<unknown> {
    const ctx = context(p);
    const { list, many } = blobsOf(p);
    const fn = what === 'decrypt' ? openBlobs : rewrapBlobs;
    const shape = (results: (Buffer | KryptonError)[]) => {
      const failed = results.find((r): r is KryptonError => r instanceof KryptonError);
      if (failed !== undefined) throw failed;
      if (what === 'decrypt') return many ? { plaintexts: results } : { plaintext: results[0] };
      return many ? { blobs: results } : { blob: results[0] };
    };
    // Rewrap also needs the scope's ACTIVE version: make sure the scope is leased.
    const first = fn(grant.tenant, list, ctx);
    const missing = first.some((r) => r instanceof KryptonError && (r.code === 'INVALID_BLOB' || r.code === 'KEY_UNAVAILABLE'));
    if (!missing) return shape(first);
    return (async () => {
      const { failures } = await this.leaseNamed(grant, list, what === 'rewrap');
      return shape(withLeaseFailures(fn(grant.tenant, list, ctx), list, failures));
    })();
  }
}

/** A blob that still does not open after its lease was refused gets the lease's error. */
function withLeaseFailures(results: (Buffer | KryptonError)[], blobs: readonly Uint8Array[], failures: ReadonlyMap<string, KryptonError>): (Buffer | KryptonError)[] {
  if (failures.size === 0) return results;
  return results.map((r, i) => {
    if (!(r instanceof KryptonError) || (r.code !== 'INVALID_BLOB' && r.code !== 'KEY_UNAVAILABLE')) return r;
    const info = blobInfo(blobs[i]!);
    return (info !== null && failures.get(`${info.service}@${info.version}`)) || r;
  });
}

