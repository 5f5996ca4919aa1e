/**
 * A Piscina task for bulk work (large create batches, bulk open and
 * rewrap), so that big jobs run on worker threads while the event loop keeps
 * serving small requests. Workers share the process-wide key store: the
 * task names keys by (tenant, service), never carries key bytes.
 *
 * Nothing secret stays behind in the worker once a task is over:
 * - the one buffer the addon filled with L4s (create records, open output)
 *   is transferred to the caller, not cloned, so the worker's copy is gone
 *   (detached) rather than left in its heap;
 * - every keyed GCM context of the thread is wiped in a `finally`, so no
 *   XAES subkey stays in OpenSSL's heap of an idle worker (review L3).
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { errors, fromNative, type ErrorCode } from '../errors.js';
import { requireCount } from '../protocol/gateway-frame.js';
import { openedBytes } from '../protocol/record-layout.js';
import { createInto, openBlobsInto, rewrapBlobsInto, rewrapBytes, scopeRef } from './blob.js';
import { wipeCryptoContexts } from './keystore.js';

export type BulkTask =
  | { op: 'create'; tenant: string; service: string; count: number; context?: Uint8Array }
  | { op: 'open' | 'rewrap'; tenant: string; blobs: Uint8Array[]; context?: Uint8Array };

/**
 * What the pool delivers to the caller.
 * - create: `records` holds `count` records of [L4 (32) || blob] of
 *   `recordBytes` each, under ACTIVE `version`.
 * - open: `out` holds 32 bytes per blob, in order; rewrap: the new blobs one
 *   after another, each the size of its input blob. `statuses[i]` is the
 *   native status of blob i (0 = ok; native/status.h, see statusError in
 *   ./status.js); a failed entry's bytes in `out` are zero.
 * The buffers arrive transferred: the caller owns the only copy and should
 * wipe the L4s (`fill(0)`) once sent.
 */
export type BulkResult =
  | { op: 'create'; version: number; recordBytes: number; records: Uint8Array }
  | { op: 'open' | 'rewrap'; out: Uint8Array; statuses: Uint8Array }
  /** A refusal, as a value: an Error crossing the thread boundary loses its code. */
  | { op: 'failed'; code: ErrorCode; message: string };

/**
 * What run() returns: the BulkResult wrapped by Piscina's move(), so the
 * pool transfers its buffers instead of cloning them and delivers the
 * BulkResult itself (`pool.run(task)` resolves to a BulkResult).
 */
export interface MovedBulkResult {
  readonly [valueSymbol]: BulkResult;
  readonly [transferableSymbol]: ArrayBuffer[];
}

/** Marks `result` to be sent with `buffers` transferred (each its own ArrayBuffer, never a pooled slab). */
function moved(result: BulkResult, buffers: Uint8Array[]): MovedBulkResult {
  const value: MovedBulkResult = {
    [valueSymbol]: result,
    [transferableSymbol]: buffers.map((b) => b.buffer as ArrayBuffer),
  };
  return move(value) as MovedBulkResult;
}

function runTask(task: BulkTask): MovedBulkResult {
  switch (task.op) {
    case 'create': {
      const count = requireCount(task.count);
      const scope = scopeRef(task.tenant, task.service);
      if (scope === null) throw errors.keyUnavailable();
      // new Uint8Array: its own ArrayBuffer (Buffer.allocUnsafe may hand out
      // a slice of the shared pool, which cannot be transferred).
      const records = new Uint8Array(count * scope.recordBytes);
      const version = createInto(scope, count, task.context, records);
      return moved({ op: 'create', version, recordBytes: scope.recordBytes, records }, [records]);
    }
    case 'open':
    case 'rewrap': {
      const n = Array.isArray(task.blobs) ? task.blobs.length : 0;
      const statuses = new Uint8Array(n);
      if (task.op === 'open') {
        const out = new Uint8Array(openedBytes(n));
        openBlobsInto(task.tenant, task.blobs, task.context, out, statuses);
        return moved({ op: 'open', out, statuses }, [out, statuses]);
      }
      const out = new Uint8Array(rewrapBytes(task.blobs));
      rewrapBlobsInto(task.tenant, task.blobs, task.context, out, statuses);
      return moved({ op: 'rewrap', out, statuses }, [out, statuses]);
    }
    default:
      throw errors.badRequest('unknown bulk operation');
  }
}

export default function run(task: BulkTask): MovedBulkResult | BulkResult {
  try {
    return runTask(task);
  } catch (err) {
    const k = fromNative(err);
    return { op: 'failed', code: k.code, message: k.code === 'INTERNAL' ? 'internal error' : k.message };
  } finally {
    wipeCryptoContexts();
  }
}
