/**
 * Bulk work on Piscina worker threads: creates and opens at or above a
 * threshold run off the event loop, so a 4,096-key request never stalls the
 * small ones queued behind it. Workers share the process-wide key store,
 * so a task names its scope; no key crosses a thread boundary.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { KryptonError } from '../errors.js';
import type { BulkResult, BulkTask } from '../native/bulk-task.js';

const here = dirname(fileURLToPath(import.meta.url));
const TASK = [
  join(here, '..', 'native', 'bulk-task.js'),
  join(here, '..', '..', 'dist', 'src', 'native', 'bulk-task.js'),
].find((p) => existsSync(p));

export class BulkPool {
  private readonly pool: Piscina;

  /**
   * Blobs per frame from which opens go to a worker. A frame is at most
   * 64 KiB, so it carries at most ~700 blobs: the create threshold would
   * never be reached; opening a blob costs about twice creating a key.
   */
  readonly blobThreshold: number;

  constructor(
    /** Keys per request from which creates go to a worker. */
    readonly threshold: number,
    threads: number,
    private readonly onRun: (op: BulkTask['op']) => void = () => {},
  ) {
    this.blobThreshold = Math.max(1, Math.floor(threshold / 4));
    if (TASK === undefined) throw new Error('bulk-task.js not found: run `npm run build`');
    this.pool = new Piscina({ filename: TASK, minThreads: 1, maxThreads: threads, idleTimeout: 60_000 });
  }

  /**
   * Runs a task on a worker thread; a refusal comes back as the same
   * KryptonError it was there. Blobs are sent as copies of their own: a
   * view into a shared slab would carry the whole slab (and whatever keys
   * sit beside the blob in it) into the worker's heap.
   */
  async run(task: BulkTask): Promise<Exclude<BulkResult, { op: 'failed' }>> {
    this.onRun(task.op);
    const sent = task.op === 'create' ? task : { ...task, blobs: task.blobs.map((b) => new Uint8Array(b)) };
    const r = (await this.pool.run(sent)) as BulkResult;
    if (r.op === 'failed') throw new KryptonError(r.code, r.message);
    return r;
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}
