/**
 * The one `key.decrypt` and `key.rewrap`: blobs of the caller's tenant,
 * already authorized, opened in one native call (or, from the bulk
 * threshold on, one task on a worker thread). A blob that does not open may
 * name a scope or version this Gateway has not leased yet: those are
 * leased (each once, concurrently, under the connection's budget) and only
 * they are tried again. A lease the Core refused is the blob's answer
 * (KEY_REVOKED, KEY_UNAVAILABLE), since the blob is the caller's own.
 */
import { errors, KryptonError, type ErrorCode } from '../../errors.js';
import { batchResults, openBlobs, rewrapBlobs } from '../../native/index.js';
import type { BlobScope } from './authorize.js';
import { leasedScope, type OpContext } from './context.js';

export type OpenWhat = 'decrypt' | 'rewrap';
/** Per blob: its L4 (decrypt) or its new blob (rewrap), or why not. L4s are the caller's to wipe. */
export type Opened = (Buffer | KryptonError)[];

/** Lease refusals that become the blob's own answer. */
const LEASE_VERDICTS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['KEY_REVOKED', 'KEY_UNAVAILABLE', 'OVERLOADED']);

const isMiss = (r: Buffer | KryptonError): boolean =>
  r instanceof KryptonError && (r.code === 'INVALID_BLOB' || r.code === 'KEY_UNAVAILABLE');
const keyOf = (s: BlobScope): string => `${s.service}@${s.version}`;

function openInline(ctx: OpContext, what: OpenWhat, blobs: Uint8Array[], context: Uint8Array | undefined): Opened {
  return what === 'decrypt' ? openBlobs(ctx.tenant, blobs, context) : rewrapBlobs(ctx.tenant, blobs, context);
}

async function openInBulk(
  ctx: OpContext,
  what: OpenWhat,
  blobs: Uint8Array[],
  context: Uint8Array | undefined,
): Promise<Opened> {
  const r = await ctx.bulk!.run({
    op: what === 'decrypt' ? 'open' : 'rewrap',
    tenant: ctx.tenant,
    blobs,
    ...(context !== undefined ? { context } : {}),
  });
  if (r.op === 'create') throw errors.internal('bulk open answered a create');
  const out = Buffer.from(r.out.buffer, r.out.byteOffset, r.out.byteLength);
  return batchResults(r.op, blobs, out, r.statuses);
}

/** Leases what the blobs name; the refusals by scope version. */
async function leaseNamed(
  ctx: OpContext,
  scopes: BlobScope[],
  withActive: boolean,
): Promise<Map<string, KryptonError>> {
  const wanted = new Map<string, BlobScope>();
  for (const s of scopes) wanted.set(keyOf(s), s);
  const failures = new Map<string, KryptonError>();
  await Promise.all(
    [...wanted].map(async ([key, s]) => {
      try {
        await ctx.budget.run(() => ctx.cache.ensureVersion(ctx.tenant, s.service, s.version));
        // Rewrap also needs the scope's ACTIVE version.
        if (withActive) await leasedScope(ctx, s.service);
      } catch (err) {
        if (err instanceof KryptonError && LEASE_VERDICTS.has(err.code)) failures.set(key, err);
      }
    }),
  );
  return failures;
}

async function retryMisses(
  ctx: OpContext,
  what: OpenWhat,
  blobs: Uint8Array[],
  scopes: readonly BlobScope[],
  context: Uint8Array | undefined,
  first: Opened,
): Promise<Opened> {
  const misses: number[] = [];
  first.forEach((r, j) => isMiss(r) && misses.push(j));
  if (misses.length === 0) return first;
  const failures = await leaseNamed(
    ctx,
    misses.map((j) => scopes[j]!),
    what === 'rewrap',
  );
  const again = openInline(
    ctx,
    what,
    misses.map((j) => blobs[j]!),
    context,
  );
  misses.forEach((j, k) => {
    const r = again[k]!;
    first[j] = isMiss(r) ? (failures.get(keyOf(scopes[j]!)) ?? r) : r;
  });
  return first;
}

/** Opens or rewraps authorized blobs; `scopes[i]` is what `blobs[i]` names. */
export function openKeys(
  ctx: OpContext,
  what: OpenWhat,
  blobs: Uint8Array[],
  scopes: readonly BlobScope[],
  context: Uint8Array | undefined,
): Opened | Promise<Opened> {
  if (ctx.bulk !== null && blobs.length >= ctx.bulk.blobThreshold) {
    return openInBulk(ctx, what, blobs, context).then((first) => retryMisses(ctx, what, blobs, scopes, context, first));
  }
  const first = openInline(ctx, what, blobs, context);
  return first.some(isMiss) ? retryMisses(ctx, what, blobs, scopes, context, first) : first;
}
