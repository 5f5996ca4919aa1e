/**
 * The one `key.create`: `total` data keys under a service's ACTIVE version,
 * made in one native call (or, from the bulk threshold on, one task on a
 * worker thread) into one buffer of [L4 || blob] records. Single, counted
 * and grouped creates all come here; errors are thrown, never swallowed.
 */
import { errors } from '../../errors.js';
import { createInto, type ScopeRef } from '../../native/index.js';
import { isBatchSize, MAX_BATCH } from '../../protocol/gateway-frame.js';
import { recordAt, type RecordLayout } from '../../protocol/record-layout.js';
import { leasedScope, type OpContext } from './context.js';

export interface Keys {
  /** total records of recordBytes: the L4 then its blob. Holds plaintext keys: the caller wipes it. */
  records: Buffer;
  recordBytes: number;
}

/**
 * Where a caller wants the keys written, once their record size is known:
 * place() gives a buffer of `total` records, laid out as this object says
 * by then (a reply already framed around them, so nothing is copied
 * afterwards).
 */
export interface Placement extends RecordLayout {
  place(recordBytes: number): Uint8Array;
}

function makeInline(
  scope: ScopeRef,
  total: number,
  context: Uint8Array | undefined,
  place: Placement | undefined,
): Keys | null {
  if (place !== undefined && isBatchSize(total)) {
    const out = place.place(scope.recordBytes);
    try {
      createInto(scope, total, context, out, place);
    } catch (err) {
      out.fill(0);
      throw err;
    }
    return null;
  }
  const rec = scope.recordBytes;
  const records = Buffer.allocUnsafe(total * rec);
  try {
    if (isBatchSize(total)) createInto(scope, total, context, records);
    else {
      // More than one native call takes: MAX_BATCH records at a time.
      for (let done = 0; done < total; done += MAX_BATCH) {
        const n = Math.min(MAX_BATCH, total - done);
        createInto(scope, n, context, records.subarray(recordAt(done, rec), recordAt(done + n, rec)));
      }
    }
  } catch (err) {
    records.fill(0);
    throw err;
  }
  return { records, recordBytes: rec };
}

async function makeInBulk(
  ctx: OpContext,
  service: string,
  total: number,
  context: Uint8Array | undefined,
): Promise<Keys> {
  const r = await ctx.bulk!.run({
    op: 'create',
    tenant: ctx.tenant,
    service,
    count: total,
    ...(context !== undefined ? { context } : {}),
  });
  if (r.op !== 'create') throw errors.internal('bulk create answered another op');
  return {
    records: Buffer.from(r.records.buffer, r.records.byteOffset, r.records.byteLength),
    recordBytes: r.recordBytes,
  };
}

/**
 * Makes `total` keys of the caller's tenant and `service`: the records, or
 * null when an inline create wrote them where `place` said (a create large
 * enough for the worker threads ignores it).
 */
export function makeKeys(
  ctx: OpContext,
  service: string,
  total: number,
  context: Uint8Array | undefined,
  place?: Placement,
): Keys | null | Promise<Keys | null> {
  const bulk = ctx.bulk !== null && total >= ctx.bulk.threshold && isBatchSize(total);
  const scope = leasedScope(ctx, service);
  if (scope instanceof Promise)
    return scope.then((s) => (bulk ? makeInBulk(ctx, service, total, context) : makeInline(s, total, context, place)));
  return bulk ? makeInBulk(ctx, service, total, context) : makeInline(scope, total, context, place);
}
