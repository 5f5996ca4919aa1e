/**
 * Tier 2 of the IVK cache (ADR-304): DEPRECATED versions as files on local
 * disk, still wrapped under the MasterKey and with their authenticated
 * header, so a fault-in needs no KSI round trip and a tampered file is
 * caught by the same HMAC as a tampered row.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IvkRow } from '../storage/ksi/ksi.js';

interface FileForm {
  version: number;
  state: IvkRow['state'];
  createdAt: number;
  graceUntil: number | null;
  hardExpiry: number;
  wrapCount: number;
  wrapped: string;
  mac: string;
}

export class IvkTier2 {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  path(version: number): string {
    return join(this.dir, `ivk-${version}.json`);
  }

  write(row: IvkRow): void {
    const form: FileForm = { ...row, wrapped: row.wrapped.toString('base64'), mac: row.mac.toString('base64') };
    const tmp = `${this.path(row.version)}.tmp`;
    writeFileSync(tmp, JSON.stringify(form), { mode: 0o600 });
    renameSync(tmp, this.path(row.version)); // atomic: a reader never sees half a file
  }

  /** The row as the file says, or null if there is no (readable) file. */
  read(version: number): IvkRow | null {
    let form: FileForm;
    try {
      form = JSON.parse(readFileSync(this.path(version), 'utf8')) as FileForm;
    } catch {
      return null;
    }
    if (typeof form.wrapped !== 'string' || typeof form.mac !== 'string') return null;
    return { ...form, wrapped: Buffer.from(form.wrapped, 'base64'), mac: Buffer.from(form.mac, 'base64') };
  }

  remove(version: number): void {
    rmSync(this.path(version), { force: true });
  }
}
