/**
 * Group commit for audit rows that accompany no state change (lease
 * issuance). Entries that arrive while a commit is in flight wait and go
 * into the next transaction together, so N concurrent requests cost one
 * fsync, not N. Each request still waits for the commit of its own row:
 * a request that cannot be audited fails.
 *
 * An entry may come with a gate: a check read inside that same transaction,
 * just before its row is written. A gate that refuses turns the row into a
 * denial (its reason in the details) and rejects that request alone, so a
 * check of the current state costs no transaction of its own.
 */
import { KryptonError } from '../errors.js';
import type { AuditEntry, Ksi, KsiTx } from '../storage/ksi/ksi.js';

/** Reads the state the entry depends on: an error refuses the request it audits. */
export type AuditGate = (tx: KsiTx) => Promise<KryptonError | null>;

interface Pending {
  entry: AuditEntry;
  gate: AuditGate | undefined;
  refusal: KryptonError | null;
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

  /** Resolves once the row is committed; rejects with the gate's refusal or the storage error. */
  append(entry: AuditEntry, gate?: AuditGate): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, gate, refusal: null, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          // A re-run transaction (a PostgreSQL serialization retry) decides every gate again.
          await this.ksi.tx(async (tx) => {
            for (const p of batch) {
              p.refusal = p.gate === undefined ? null : await p.gate(tx);
              const entry = p.refusal === null ? p.entry : denial(p.entry, p.refusal);
              await tx.appendAudit(entry);
            }
          });
          for (const p of batch) {
            if (p.refusal === null) p.resolve();
            else p.reject(p.refusal);
          }
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}

function denial(entry: AuditEntry, refusal: KryptonError): AuditEntry {
  return { ...entry, outcome: 'denied', details: { reason: refusal.code } };
}
