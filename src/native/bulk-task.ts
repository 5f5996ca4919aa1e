/**
 * A Piscina task for bulk work (large create batches, bulk open and
 * rewrap), so that big jobs run on worker threads while the event loop keeps
 * serving small requests. Workers share the process-wide key store: the
 * task names keys by (tenant, service), never carries key bytes.
 */
import { errors } from '../errors.js';
import { createInto, openBlobs, rewrapBlobs, scopeRef } from './blob.js';

export type BulkTask =
  | { op: 'create'; tenant: string; service: string; count: number; context?: Uint8Array }
  | { op: 'open' | 'rewrap'; tenant: string; blobs: Uint8Array[]; context?: Uint8Array };

export type BulkResult =
  | { op: 'create'; version: number; recordBytes: number; records: Uint8Array }
  | { op: 'open' | 'rewrap'; results: (Uint8Array | { code: string })[] };

export default function run(task: BulkTask): BulkResult {
  switch (task.op) {
    case 'create': {
      const scope = scopeRef(task.tenant, task.service);
      if (scope === null) throw errors.keyUnavailable();
      const records = new Uint8Array(task.count * scope.recordBytes);
      const version = createInto(scope, task.count, task.context, records);
      return { op: 'create', version, recordBytes: scope.recordBytes, records };
    }
    case 'open':
    case 'rewrap': {
      const fn = task.op === 'open' ? openBlobs : rewrapBlobs;
      const results = fn(task.tenant, task.blobs, task.context).map((r) =>
        r instanceof Uint8Array ? new Uint8Array(r) : { code: r.code },
      );
      return { op: task.op, results };
    }
    default:
      throw errors.badRequest('unknown bulk operation');
  }
}

