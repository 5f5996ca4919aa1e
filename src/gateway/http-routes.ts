/**
 * The HTTP entrance, `POST /v1/keys/{create,decrypt,rewrap}` (docs/design.md
 * section 4), for clients without WebSocket: the params map in msgpack or in
 * JSON with bytes as base64, the bearer token in `Authorization`. A body
 * becomes the very request a WebSocket frame would carry and goes through
 * the same pipeline; its reply body is wiped once uWS has it. Every uWS
 * callback runs inside exactly one try/catch.
 */
import type { Logger } from 'pino';
import { ERROR_CATALOGUE, errors, KryptonError, type ErrorCode } from '../errors.js';
import type { Op } from '../protocol/gateway-frame.js';
import { decodeHttpRequest } from './frame/decode.js';
import { encodeHttpBody, type Reply } from './frame/encode.js';
import type { GatewayLimits } from './limits.js';
import { LeaseBudget } from './ops/lease-budget.js';
import type { FrameResult, Outcomes, Pipeline } from './pipeline.js';
import type { TokenGrant, TokenStore } from './tokens.js';
import type { HttpResponse, TemplatedApp } from './uws.js';
import { wipe } from './ws.js';

export interface HttpDeps {
  limits: GatewayLimits;
  tokens: TokenStore;
  pipeline: Pipeline;
  log: Logger;
  observe(outcomes: Outcomes, t0: bigint): void;
  begin(): void;
  end(): void;
}

const ROUTES: readonly [path: string, op: Op][] = [
  ['/v1/keys/create', 'key.create'],
  ['/v1/keys/decrypt', 'key.decrypt'],
  ['/v1/keys/rewrap', 'key.rewrap'],
];

function statusLine(code: ErrorCode): string {
  return `${ERROR_CATALOGUE[code].status} ${code}`;
}

/** One HTTP exchange: answered once, even when the client went away (then only wiped). */
class Exchange {
  private answered = false;
  aborted = false;

  constructor(
    readonly res: HttpResponse,
    readonly op: Op,
    readonly json: boolean,
    readonly t0: bigint,
    private readonly deps: HttpDeps,
  ) {}

  reply(out: FrameResult): void {
    if (this.answered) return wipe(null, out.secrets);
    this.answered = true;
    const r: Reply = out.replies[0]!;
    let body: Buffer | null = null;
    try {
      if (this.aborted) return;
      body = encodeHttpBody(r, this.json);
      const b = body;
      this.res.cork(() => {
        this.res.writeStatus(r.error === null ? '200 OK' : statusLine(r.error.code));
        this.res.writeHeader('content-type', this.json ? 'application/json' : 'application/msgpack');
        this.res.end(b);
      });
    } finally {
      wipe(body, out.secrets);
    }
    this.deps.observe(out.outcomes, this.t0);
  }

  refuse(err: unknown): void {
    const k = err instanceof KryptonError ? err : errors.internal('internal error', err);
    if (k.code === 'INTERNAL') this.deps.log.error({ err }, 'HTTP request failed');
    this.reply({
      batch: false,
      replies: [{ id: 0, error: k, result: null }],
      secrets: [],
      outcomes: [[this.op, k.code]],
    });
  }
}

function onBody(x: Exchange, grant: TokenGrant, deps: HttpDeps): (chunk: ArrayBuffer, last: boolean) => void {
  const chunks: Buffer[] = [];
  let size = 0;
  return (chunk, last) => {
    try {
      if (size < 0) return;
      size += chunk.byteLength;
      if (size > deps.limits.maxFrameBytes) {
        size = -1;
        throw new KryptonError('FRAME_TOO_LARGE', `body over ${deps.limits.maxFrameBytes} bytes`);
      }
      chunks.push(Buffer.from(new Uint8Array(chunk))); // copy: the chunk dies with the callback
      if (!last) return;
      const request = decodeHttpRequest(x.op, Buffer.concat(chunks), x.json, deps.limits);
      const r = deps.pipeline.run(
        grant,
        { batch: false, requests: [request] },
        new LeaseBudget(deps.limits.maxLeaseFetchesPerConnection),
      );
      if (!(r instanceof Promise)) return x.reply(r);
      deps.begin();
      r.then(
        (out) => x.reply(out),
        (err: unknown) => x.refuse(err),
      )
        .catch((err: unknown) => deps.log.error({ err }, 'HTTP reply failed'))
        .finally(() => deps.end());
    } catch (err) {
      x.refuse(err);
    }
  };
}

export function registerHttpRoutes(app: TemplatedApp, deps: HttpDeps): void {
  for (const [path, op] of ROUTES) {
    app.post(path, (res, req) => {
      const t0 = process.hrtime.bigint();
      const x = new Exchange(res, op, !req.getHeader('content-type').startsWith('application/msgpack'), t0, deps);
      try {
        res.onAborted(() => (x.aborted = true));
        const grant = deps.tokens.fromHeader(req.getHeader('authorization'));
        if (grant === null) throw new KryptonError('UNAUTHENTICATED', 'a valid bearer token is required');
        res.onData(onBody(x, grant, deps));
      } catch (err) {
        x.refuse(err);
      }
    });
  }
}
