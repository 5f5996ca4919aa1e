/**
 * `krypton gateway --threads N`: one uWS app per worker thread, all on the
 * same port (the kernel spreads connections over them with SO_REUSEPORT).
 * Each thread has its own Core session and lease cache; every thread uses
 * the one process-wide key store. Worth it on machines with more cores
 * than this one has; each thread's /metrics covers that thread only.
 */
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { GatewayConfig } from './service.js';

type FromWorker = { type: 'listening'; port: number } | { type: 'stopped' } | { type: 'failed'; message: string };

export interface ThreadedGateway {
  port: number;
  stop(): Promise<void>;
  /** Every thread re-reads the token file now (SIGHUP). */
  reloadTokens(): void;
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function startThreadedGateway(config: GatewayConfig, threads: number): Promise<ThreadedGateway> {
  const workers: Worker[] = [];
  const start = (port: number) =>
    new Promise<{ worker: Worker; port: number }>((resolve, reject) => {
      const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { ...config, port } });
      worker.once('error', reject);
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'listening') resolve({ worker, port: m.port });
        if (m.type === 'failed') reject(new Error(m.message));
      });
    });
  // uSockets shares a port between threads only when it is named: a port of
  // 0 is resolved to a free one first.
  const first = await start(config.port === 0 ? await freePort(config.host) : config.port);
  workers.push(first.worker);
  for (let i = 1; i < threads; i++) workers.push((await start(first.port)).worker);
  return {
    port: first.port,
    reloadTokens: () => {
      for (const w of workers) w.postMessage('reload-tokens');
    },
    stop: async () => {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              w.on('message', (m: FromWorker) => m.type === 'stopped' && resolve());
              w.once('exit', () => resolve());
              w.postMessage('stop');
            }),
        ),
      );
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

// Worker side: run one Gateway and stop it (closing its listen socket first) when told.
if (!isMainThread && parentPort !== null && (workerData as GatewayConfig | undefined)?.coreUrl !== undefined) {
  const port = parentPort;
  const { startGateway } = await import('./service.js');
  try {
    const running = await startGateway(workerData as GatewayConfig);
    port.postMessage({ type: 'listening', port: running.server.port } satisfies FromWorker);
    port.on('message', (m) => {
      if (m === 'stop') void running.stop().finally(() => port.postMessage({ type: 'stopped' } satisfies FromWorker));
      if (m === 'reload-tokens') running.tokens.reload();
    });
  } catch (err) {
    port.postMessage({ type: 'failed', message: (err as Error).message } satisfies FromWorker);
  }
}
