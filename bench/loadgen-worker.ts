/**
 * The load generator's process: runs one LoadSpec and sends the LoadReport
 * to the parent over IPC, then exits. Keeping the generator out of the
 * parent (and out of the server) means neither one's event loop or GC
 * shows up in the other's numbers.
 *
 *   forked by bench/lib/loadgen.ts with the spec as JSON in argv[2]
 */
import { runHttpLoad } from './lib/load-http.js';
import type { LoadReport, LoadSpec } from './lib/load-types.js';
import { runWsLoad } from './lib/load-ws.js';

export type WorkerMessage = { ok: true; report: LoadReport } | { ok: false; error: string };

function reply(msg: WorkerMessage): void {
  if (process.send === undefined) {
    console.log(JSON.stringify(msg, null, 2));
    process.exit(msg.ok ? 0 : 1);
  }
  process.send(msg, () => process.exit(msg.ok ? 0 : 1));
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? 'null') as LoadSpec | null;
  if (spec === null || typeof spec !== 'object') throw new Error('usage: loadgen-worker <spec JSON>');
  // A run that does not end by itself is a bug; do not let it hang a bench.
  const limitMs = ((spec.warmupSec ?? 0) + spec.durationSec) * 1000 + (spec.drainMs ?? 2000) + 15_000;
  setTimeout(() => {
    reply({ ok: false, error: `load run exceeded ${limitMs} ms` });
  }, limitMs).unref();
  const report = spec.target.kind === 'ws' ? await runWsLoad(spec) : await runHttpLoad(spec);
  reply({ ok: true, report });
}

main().catch((err: unknown) =>
  reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
);
