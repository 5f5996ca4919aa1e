/**
 * The Gateway's one request pipeline. Every entrance (WebSocket frames, fast
 * or general; HTTP bodies in msgpack or JSON) hands it typed requests
 * decoded and validated once; here each is authorized once, then the frame
 * is planned: creates of one service without a context share one native
 * call, decrypts without a context share another, and the rest run one by
 * one through the same operations. A frame whose leases are all held
 * completes synchronously, without a promise. Replies come back in request
 * order, with every buffer that holds a plaintext key listed for wiping.
 */
import { errors, KryptonError } from '../errors.js';
import { scopes as nativeScopes } from '../native/index.js';
import {
  RefusedRequest,
  type CreateRequest,
  type GatewayFrame,
  type GatewayRequest,
  type OpenRequest,
} from '../protocol/gateway-frame.js';
import type { BulkPool } from './bulk.js';
import { CreateRecords, CreateReplyFrame, type Reply, type WireValue } from './frame/encode.js';
import type { LeaseCache } from './lease-cache.js';
import { authorize, type BlobScope } from './ops/authorize.js';
import type { OpContext } from './ops/context.js';
import { makeKeys, type Keys } from './ops/create.js';
import type { LeaseBudget } from './ops/lease-budget.js';
import { openKeys, type Opened } from './ops/open.js';
import type { TokenGrant } from './tokens.js';

/** (op, outcome) of each request of a frame, timed by the caller once the reply is sent. */
export type Outcomes = [op: string, outcome: string][];

export interface FrameResult {
  batch: boolean;
  replies: Reply[];
  /** Buffers holding plaintext keys: wiped once the reply has been handed to the socket. */
  secrets: Uint8Array[];
  outcomes: Outcomes;
}

export interface RunOptions {
  /**
   * The entrance sends the frame's reply as a msgpack frame (the WebSocket):
   * a frame of one create may then have its keys written by the addon
   * straight into the reply, with no copy.
   */
  framedReply?: boolean;
}

export interface PipelineOptions {
  cache: LeaseCache;
  bulk: BulkPool | null;
  /** Distinct services one frame may name (creates and blob headers); more is BAD_REQUEST. */
  maxScopesPerFrame: number;
  /** Called with every INTERNAL error, for the log (the reply says only "internal error"). */
  onInternal: (err: unknown) => void;
}

/** The indices of a frame of one request. */
const FIRST: readonly number[] = Object.freeze([0]);

/** One frame in flight: its replies as they settle, the work still pending, and what its operations need. */
class FrameRun implements OpContext {
  readonly replies: Reply[];
  readonly secrets: Uint8Array[] = [];
  readonly outcomes: Outcomes = [];
  /** Work still pending; null while the frame is all synchronous (the common case). */
  waits: Promise<void>[] | null = null;

  constructor(
    readonly frame: GatewayFrame,
    private readonly onInternal: (err: unknown) => void,
    readonly framedReply: boolean,
    readonly tenant: string,
    readonly cache: LeaseCache,
    readonly bulk: BulkPool | null,
    readonly budget: LeaseBudget,
  ) {
    this.replies = new Array<Reply>(frame.requests.length);
  }

  wait(p: Promise<void>): void {
    (this.waits ??= []).push(p);
  }

  ok(i: number, op: string, result: WireValue): void {
    this.replies[i] = { id: this.frame.requests[i]!.id, error: null, result };
    this.outcomes.push([op, 'ok']);
  }

  fail(i: number, op: string, err: unknown): void {
    const k = err instanceof KryptonError ? err : errors.internal('internal error', err);
    if (k.code === 'INTERNAL') this.onInternal(err);
    this.replies[i] = { id: this.frame.requests[i]!.id, error: k, result: null };
    this.outcomes.push([op, k.code]);
  }

  /**
   * Runs fn for the requests `idx`: settle gets its value (now, or when its promise settles); a throw fails them all.
   */
  settle<T>(idx: readonly number[], op: string, fn: () => T | Promise<T>, settle: (v: T) => void): void {
    let v: T | Promise<T>;
    try {
      v = fn();
    } catch (e) {
      return this.failAll(idx, op, e);
    }
    if (v instanceof Promise) {
      this.wait(
        v.then(
          (x) => this.apply(idx, op, settle, x),
          (e: unknown) => this.failAll(idx, op, e),
        ),
      );
    } else {
      this.apply(idx, op, settle, v);
    }
  }

  apply<T>(idx: readonly number[], op: string, settle: (v: T) => void, v: T): void {
    try {
      settle(v);
    } catch (e) {
      this.failAll(idx, op, e);
    }
  }

  failAll(idx: readonly number[], op: string, e: unknown): void {
    for (const i of idx) this.fail(i, op, e);
  }

  result(): FrameResult {
    return { batch: this.frame.batch, replies: this.replies, secrets: this.secrets, outcomes: this.outcomes };
  }
}

export class Pipeline {
  constructor(private readonly opts: PipelineOptions) {}

  /** Replies to a decoded frame for this grant; `budget` bounds the lease fetches of the caller's connection. */
  run(
    grant: TokenGrant,
    frame: GatewayFrame,
    budget: LeaseBudget,
    opts: RunOptions = {},
  ): FrameResult | Promise<FrameResult> {
    const framed = opts.framedReply === true && !frame.batch && frame.requests.length === 1;
    const run = new FrameRun(
      frame,
      this.opts.onInternal,
      framed,
      grant.tenant,
      this.opts.cache,
      this.opts.bulk,
      budget,
    );
    const named = this.admit(run, grant);
    if (named !== null) this.plan(run, named);
    return run.waits === null ? run.result() : Promise.all(run.waits).then(() => run.result());
  }

  /**
   * Decoding refusals, the tenant's fail-closed state, authorization and the
   * per-frame scope cap. For each admitted request, the scopes its blobs name
   * (undefined: refused or answered already); null when none was admitted.
   */
  private admit(run: FrameRun, grant: TokenGrant): (readonly BlobScope[] | undefined)[] | null {
    const requests = run.frame.requests;
    const named = new Array<readonly BlobScope[] | undefined>(requests.length);
    const refusal = this.opts.cache.refusal(grant.tenant);
    let admitted = 0;
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      if (r instanceof RefusedRequest) run.fail(i, 'invalid', r.error);
      else if (r.op === 'ping') run.ok(i, r.op, {});
      else if (refusal !== null) run.fail(i, r.op, refusal);
      else {
        try {
          named[i] = authorize(grant, r);
          admitted++;
        } catch (e) {
          run.fail(i, r.op, e);
        }
      }
    }
    if (admitted === 0) return null;
    // One create names one service: only frames of several requests, or of blobs, can pass the cap.
    if (requests.length > 1 || (requests[0] as GatewayRequest).op !== 'key.create') {
      const services = new Set<string>();
      requests.forEach((r, i) => {
        if (named[i] === undefined) return;
        if (r instanceof RefusedRequest) return;
        if (r.op === 'key.create') services.add(r.service);
        else if (r.op !== 'key.info') for (const s of named[i]) services.add(s.service);
      });
      if (services.size > this.opts.maxScopesPerFrame) {
        const tooMany = errors.badRequest(`a frame may name at most ${this.opts.maxScopesPerFrame} services`);
        named.forEach((n, i) => n !== undefined && run.fail(i, (requests[i] as GatewayRequest).op, tooMany));
        return null;
      }
    }
    return named;
  }

  /** Groups what can share a native call, and runs every admitted request. */
  private plan(run: FrameRun, named: (readonly BlobScope[] | undefined)[]): void {
    const requests = run.frame.requests;
    if (requests.length === 1) {
      const r = requests[0] as GatewayRequest;
      if (r.op === 'key.create') return this.create(run, r.service, FIRST, r.context);
      if (r.op === 'key.decrypt' || r.op === 'key.rewrap') return this.open(run, FIRST, named[0]!, r.context);
    }
    const creates = new Map<string, number[]>();
    const decrypts: number[] = [];
    named.forEach((scopes, i) => {
      const r = requests[i] as GatewayRequest;
      if (scopes === undefined) return;
      if (r.op === 'key.create' && r.context === undefined) {
        const group = creates.get(r.service);
        if (group === undefined) creates.set(r.service, [i]);
        else group.push(i);
      } else if (r.op === 'key.create') {
        this.create(run, r.service, [i], r.context);
      } else if (r.op === 'key.decrypt' && r.context === undefined) {
        decrypts.push(i);
      } else if (r.op === 'key.decrypt' || r.op === 'key.rewrap') {
        this.open(run, [i], scopes, r.context);
      } else if (r.op === 'key.info') {
        run.settle(
          [i],
          r.op,
          () => info(run.tenant, scopes[0]!),
          (v) => run.ok(i, 'key.info', v),
        );
      }
    });
    for (const [service, idx] of creates) this.create(run, service, idx, undefined);
    if (decrypts.length > 0)
      this.open(
        run,
        decrypts,
        decrypts.flatMap((i) => named[i]!),
        undefined,
      );
  }

  /**
   * Creates for the requests `idx` (one service, one context) in one call;
   * each gets its own slice of the records. (The hottest op: written out
   * rather than through settle(), so a leased create allocates no closure.)
   */
  private create(run: FrameRun, service: string, idx: readonly number[], context: Uint8Array | undefined): void {
    const reqs = idx.map((i) => run.frame.requests[i] as CreateRequest);
    let total = 0;
    for (const r of reqs) total += r.count ?? 1;
    // A frame of this one create: its reply is framed first, and the addon writes the keys into it.
    const framed = run.framedReply ? new CreateReplyFrame(reqs[0]!.id, reqs[0]!.count) : undefined;
    let keys: Keys | null | Promise<Keys | null>;
    try {
      keys = makeKeys(run, service, total, context, framed);
    } catch (e) {
      return run.failAll(idx, 'key.create', e);
    }
    if (keys instanceof Promise) {
      run.wait(
        keys.then(
          (k) => run.apply(idx, 'key.create', created, k),
          (e: unknown) => run.failAll(idx, 'key.create', e),
        ),
      );
    } else {
      run.apply(idx, 'key.create', created, keys);
    }

    function created(k: Keys | null): void {
      if (k === null) {
        run.secrets.push(framed!.bytes);
        return run.ok(idx[0]!, 'key.create', framed!);
      }
      run.secrets.push(k.records);
      let first = 0;
      reqs.forEach((r, j) => {
        run.ok(idx[j]!, 'key.create', new CreateRecords(k.records, k.recordBytes, first, r.count));
        first += r.count ?? 1;
      });
    }
  }

  /**
   * Decrypts or rewraps for the requests `idx` (one op, one context) in one call; `named` is every blob's scope, in
   * order.
   */
  private open(
    run: FrameRun,
    idx: readonly number[],
    named: readonly BlobScope[],
    context: Uint8Array | undefined,
  ): void {
    const reqs = idx.map((i) => run.frame.requests[i] as OpenRequest);
    const what = reqs[0]!.op === 'key.decrypt' ? 'decrypt' : 'rewrap';
    const op = reqs[0]!.op;
    const blobs = reqs.length === 1 ? reqs[0]!.blobs : reqs.flatMap((r) => r.blobs);
    run.settle(
      idx,
      op,
      () => openKeys(run, what, blobs, named, context),
      (results: Opened) => {
        if (what === 'decrypt') for (const x of results) if (!(x instanceof KryptonError)) run.secrets.push(x);
        let at = 0;
        reqs.forEach((r, k) => {
          const mine = results.slice(at, at + r.blobs.length);
          at += r.blobs.length;
          const failed = mine.find((x): x is KryptonError => x instanceof KryptonError);
          if (failed !== undefined) return run.fail(idx[k]!, op, failed);
          const field = what === 'decrypt' ? (r.many ? 'plaintexts' : 'plaintext') : r.many ? 'blobs' : 'blob';
          run.ok(idx[k]!, op, { [field]: r.many ? (mine as Buffer[]) : (mine[0] as Buffer) });
        });
      },
    );
  }
}

/** `key.info`: what the blob names, and the state of that version in this Gateway's store. */
function info(tenant: string, s: BlobScope): WireValue {
  const held = nativeScopes.list(tenant, s.service).find((v) => v.version === s.version);
  return { tenant, service: s.service, version: s.version, state: held === undefined ? 'UNKNOWN' : held.state };
}
