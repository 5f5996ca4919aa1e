/** Starts a `krypton` subcommand as its own process and waits for its "listening" line. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The compiled CLI: beside this file when built, under dist/ when this file runs from src/ (tests). */
export const CLI = existsSync(join(here, '..', 'cli', 'main.js'))
  ? join(here, '..', 'cli', 'main.js')
  : join(here, '..', '..', 'dist', 'src', 'cli', 'main.js');

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

/**
 * glibc malloc settings for a process that receives unseal shares (the
 * Core): no per-thread cache of freed chunks, and every freed chunk
 * overwritten. Node's TLS and HTTP/2 layers copy each request's plaintext
 * into buffers they free without wiping (out of reach of JS); with these,
 * nothing of an unseal request is left behind in freed memory. The cost is
 * a slower malloc and a memset per free, nothing the Core's request rates
 * notice. Run a production Core with the same GLIBC_TUNABLES.
 */
export const CORE_MALLOC_TUNABLES = 'glibc.malloc.tcache_count=0:glibc.malloc.perturb=165';

/** The environment for `krypton <args>`: a Core (alone or in the control plane) gets CORE_MALLOC_TUNABLES. */
export function serviceEnv(args: readonly string[], env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const merged = { ...process.env, ...env };
  if (args[0] !== 'core' && args[0] !== 'control-plane') return merged;
  const tunables = merged.GLIBC_TUNABLES;
  // the caller chose
  if (tunables !== undefined && /glibc\.malloc\.(perturb|tcache_count)=/.test(tunables)) return merged;
  return { ...merged, GLIBC_TUNABLES: tunables ? `${tunables}:${CORE_MALLOC_TUNABLES}` : CORE_MALLOC_TUNABLES };
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  inheritStderr?: boolean;
  /**
   * The script that runs the command (default: the krypton CLI); a test launcher builds the same program with its own
   * parts.
   */
  script?: string;
}

export async function spawnService(args: string[], event: string, opts: SpawnOptions = {}): Promise<Service> {
  const child = spawn(process.execPath, ['--secure-heap=65536', opts.script ?? CLI, ...args], {
    stdio: ['ignore', 'pipe', opts.inheritStderr ? 'inherit' : 'pipe'],
    env: serviceEnv(args, opts.env),
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
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
