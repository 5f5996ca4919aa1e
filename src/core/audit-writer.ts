/**
 * Group commit for audit rows that accompany no state change (lease
 * issuance). Entries that arrive while a commit is in flight wait and go
 * into the next transaction together, so N concurrent requests cost one
 * fsync, not N. Each request still waits for the commit of its own row:
 * a request that cannot be audited fails.
 */
import type { AuditEntry, Ksi } from '../storage/ksi.js';

interface Pending {
  entry: AuditEntry;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class AuditWriter {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly ksi: Ksi,
    private readonly maxBatch = 512,
  ) {}

  append(entry: AuditEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          await this.ksi.tx(async (tx) => {
            for (const p of batch) await tx.appendAudit(p.entry);
          });
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
