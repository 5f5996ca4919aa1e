/** Shared bits for the bench tests: the compiled servers must exist (npm test builds first). */
import { existsSync } from 'node:fs';
import { startServer, type ChildServer } from '../../bench/lib/child-server.js';
import { distBench } from '../../bench/lib/paths.js';

export function requireBuilt(): void {
  for (const f of ['servers/echo-uws.js', 'servers/node-http-keyservice.js', 'loadgen-worker.js']) {
    if (!existsSync(distBench(f)))
      throw new Error(`${distBench(f)} is missing: run \`npx tsc -p tsconfig.json\` first`);
  }
}

export async function startEcho(args: string[] = []): Promise<ChildServer & { url: string }> {
  requireBuilt();
  const s = await startServer('servers/echo-uws.js', args);
  return Object.assign(s, { url: `ws://127.0.0.1:${s.port}/v1/ws` });
}

export async function startHttpKeyService(args: string[] = []): Promise<ChildServer & { url: string }> {
  requireBuilt();
  const s = await startServer('servers/node-http-keyservice.js', args);
  return Object.assign(s, { url: `http://127.0.0.1:${s.port}/v1/keys/create` });
}
