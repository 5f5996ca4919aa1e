/** Starts a `krypton` subcommand as its own process and waits for its "listening" line. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The compiled CLI: beside this file when built, under dist/ when this file runs from src/ (tests). */
export const CLI = existsSync(join(here, '..', 'cli', 'main.js')) ? join(here, '..', 'cli', 'main.js') : join(here, '..', '..', 'dist', 'src', 'cli', 'main.js');

export interface Service {
  child: ChildProcess;
  port: number;
  /** The whole "listening" line (some services announce more than a port). */
  line: Record<string, unknown>;
  /** SIGTERM, then wait for the exit (graceful drain and zeroize). */
  stop(): Promise<void>;
}

// A safety net: services never outlive the process that started them.
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export async function spawnService(args: string[], event: string, opts: { env?: NodeJS.ProcessEnv; inheritStderr?: boolean } = {}): Promise<Service> {
  const child = spawn(process.execPath, ['--secure-heap=65536', CLI, ...args], {
    stdio: ['ignore', 'pipe', opts.inheritStderr ? 'inherit' : 'pipe'],
    env: { ...process.env, ...opts.env },
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d;
      const m = new RegExp(`^\\{"event":"${event}","port":\\d+.*\\}$`, 'm').exec(out);
      if (m) {
        child.stdout!.off('data', onData);
        resolve(JSON.parse(m[0]) as Record<string, unknown>);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`krypton ${args[0]} exited (${code}) before listening: ${stderr}`)));
    setTimeout(() => reject(new Error(`krypton ${args[0]} did not start in 30 s: ${stderr}`)), 30_000).unref();
  });
  child.stdout!.resume();
  return {
    child,
    port: Number(line.port),
    line,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
