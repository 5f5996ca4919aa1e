/**
 * Starts a bench server (a compiled file under dist/bench) as a child
 * process and waits for the {"port": N} line it prints once listening.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { distBench } from './paths.js';

export interface ChildServer {
  port: number;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function startServer(rel: string, args: string[] = [], timeoutMs = 10_000): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--secure-heap=65536', distBench(rel), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 8192) stderr += d;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (graceMs = 3000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop(0);
      reject(new Error(`${rel} did not report a port within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      lines.close();
      child.stdout?.resume(); // keep draining so a chatty server never blocks
      try {
        const { port } = JSON.parse(line) as { port: number };
        resolve({ port, child, stop });
      } catch {
        void stop(0);
        reject(new Error(`${rel} printed ${line}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${rel} exited with ${code}: ${stderr}`));
    });
  });
}
