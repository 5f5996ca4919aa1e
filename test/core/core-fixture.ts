import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.js';
import { Core, type CoreOptions } from '../../src/core/core.js';

export const GATEWAY = 'spiffe://krypton.dev/gateway/default';

/** A Core on a fresh SQLite KSI in a temp dir, with a manual clock. */
export async function openTestCore(over: Partial<CoreOptions> = {}): Promise<{
  core: Core;
  clock: ManualClock;
  dir: string;
  reopen: (o?: Partial<CoreOptions>) => Promise<Core>;
  cleanup: () => Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'krypton-core-'));
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const base: CoreOptions = {
    ksiUrl: `sqlite:${join(dir, 'ksi.db')}`,
    tier2Dir: join(dir, 'tier2'),
    gateways: { [GATEWAY]: ['*'] },
    clock,
    ...over,
  };
  const opened: Core[] = [];
  const reopen = async (o: Partial<CoreOptions> = {}) => {
    const c = await Core.open({ ...base, ...o });
    opened.push(c);
    return c;
  };
  const core = await reopen();
  return {
    core,
    clock,
    dir,
    reopen,
    cleanup: async () => {
      for (const c of opened) await c.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
