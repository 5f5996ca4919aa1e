/** The health port (src/http/health-listener.ts): two routes, plain answers, nothing read, everything else 404. */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseHealthEndpoint, startHealthListener, type HealthListener } from '../../src/http/health-listener.js';

let listener: HealthListener | undefined;
afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

async function start(ready: () => Promise<boolean>): Promise<string> {
  listener = await startHealthListener({ host: '127.0.0.1', port: 0 }, ready);
  return `http://127.0.0.1:${listener.port}`;
}

/** Raw bytes in, the status line out (what a client that ignores HTTP rules gets). */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => resolve(out.split('\r\n')[0] ?? ''));
  });
}

describe('the health listener', () => {
  it('answers /healthz 200 and /readyz as the readiness check says: 200, 503, and 503 when the check throws', async () => {
    let state: boolean | Error = true;
    const url = await start(async () => {
      if (state instanceof Error) throw state;
      return state;
    });
    const h = await fetch(`${url}/healthz`);
    expect([h.status, await h.text()]).toEqual([200, '{"ok":true}']);
    expect(h.headers.get('cache-control')).toBe('no-store');
    for (const [s, status, body] of [
      [true, 200, '{"ok":true}'],
      [false, 503, '{"ok":false}'],
      [new Error('the KSI does not answer: tenant acme'), 503, '{"ok":false}'],
    ] as const) {
      state = s;
      const r = await fetch(`${url}/readyz`);
      expect([r.status, await r.text()]).toEqual([status, body]);
    }
    const head = await fetch(`${url}/readyz?verbose=1`, { method: 'HEAD' });
    expect(head.status).toBe(503);
  });

  it('serves nothing else: other paths, other methods and path tricks are 404 with no body', async () => {
    const url = await start(async () => true);
    for (const [method, path] of [
      ['GET', '/'],
      ['GET', '/metrics'],
      ['POST', '/v1/leases'],
      ['GET', '/v1/events'],
      ['POST', '/v1/admin/seal'],
      ['POST', '/readyz'],
      ['DELETE', '/healthz'],
      ['GET', '/healthz/'],
      ['GET', '/readyz/../metrics'],
      ['GET', '//readyz'],
    ] as const) {
      const r = await fetch(`${url}${path}`, { method, ...(method === 'POST' ? { body: 'x'.repeat(100_000) } : {}) });
      expect([method, path, r.status, await r.text()]).toEqual([method, path, 404, '']);
    }
  });

  it('refuses oversized headers and garbage without reading on', async () => {
    const url = await start(async () => true);
    const port = Number(new URL(url).port);
    expect(await raw(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8192)}\r\n\r\n`)).toMatch(
      /^(HTTP\/1\.1 431|)$/,
    );
    expect(await raw(port, 'NOT HTTP AT ALL\r\n\r\n')).toMatch(/^(HTTP\/1\.1 400|)$/);
    // Still serving.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});

describe('the health config', () => {
  const fail = (m: string): never => {
    throw new Error(m);
  };

  it('is absent unless configured; the env port overrides the file; host defaults to loopback', () => {
    expect(parseHealthEndpoint(undefined, undefined, fail)).toBeUndefined();
    expect(parseHealthEndpoint({ port: 8081 }, undefined, fail)).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(parseHealthEndpoint({ host: '0.0.0.0', port: 8081 }, '9090', fail)).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(parseHealthEndpoint(undefined, '9090', fail)).toEqual({ host: '127.0.0.1', port: 9090 });
  });

  it('refuses a bad port, a non-object and unknown fields, naming them', () => {
    expect(() => parseHealthEndpoint({ port: 70000 }, undefined, fail)).toThrow(
      'health.port must be an integer from 0 to 65535',
    );
    expect(() => parseHealthEndpoint({}, undefined, fail)).toThrow('health.port');
    expect(() => parseHealthEndpoint({ port: 1 }, 'x', fail)).toThrow('health.port');
    expect(() => parseHealthEndpoint([], undefined, fail)).toThrow('health must be an object');
    expect(() => parseHealthEndpoint({ port: 1, path: '/metrics' }, undefined, fail)).toThrow(
      'unknown field "health.path"',
    );
  });
});

describe('the health listener in a key-holding process', () => {
  it('loads no WebAssembly HTTP client: importing it does not pull in undici (Node 22 reserved ~10 GB for it)', async () => {
    const { execFileSync } = await import('node:child_process');
    const path = await import('node:path');
    const script = `await import(${JSON.stringify(path.resolve('dist/src/http/health-listener.js'))});
      console.log(JSON.stringify({ loaded: process.moduleLoadList.filter((m) => m.includes('undici')) }));`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
    ) as { loaded: string[] };
    expect(out.loaded).toEqual([]);
  });
});
