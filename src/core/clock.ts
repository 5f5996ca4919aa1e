import { readFileSync } from 'node:fs';

/** Time source of the Core; tests inject their own to drive grace periods and rotations. */
export interface Clock {
  /** Unix milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(private t = Date.now()) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(t: number): void {
    this.t = t;
  }
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/**
 * Testing only (KRYPTON_TEST_CLOCK_FILE): the system time plus an offset in
 * ms read from a file, so a test can move a running Core's time forward
 * (the deadman switch, rotation periods). The file is read at most every
 * 50 ms; a missing or unreadable file means no offset.
 */
export class FileOffsetClock implements Clock {
  private offset = 0;
  private readAt = 0;
  constructor(private readonly file: string) {}
  now(): number {
    const t = Date.now();
    if (t - this.readAt >= 50) {
      this.readAt = t;
      try {
        const v = Number(readFileSync(this.file, 'utf8').trim());
        this.offset = Number.isFinite(v) ? v : 0;
      } catch {
        this.offset = 0;
      }
    }
    return t + this.offset;
  }
}
