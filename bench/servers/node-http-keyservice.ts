/**
 * "What a team would write instead" of the Gateway: node:http + node:crypto,
 * JSON in and out, the same XAES L4 blob (bench/lib/xaes-node.ts) under a
 * random L3 held in the JS heap.
 *
 *   node dist/bench/servers/node-http-keyservice.js [--port 0] [--token bench-token] [--tenant acme]
 *
 * POST /v1/keys/create {service, count?} with `Authorization: Bearer T`
 *   -> {plaintext: base64, blob: base64}, or {keys: [...]} with count.
 * Prints {"port": N} on stdout once listening.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { flag } from '../lib/args.js';
import { blobHeader, createBlobNode } from '../lib/xaes-node.js';

const port = Number(flag('port', '0'));
const expectedAuth = `Bearer ${flag('token', 'bench-token')}`;
const tenant = flag('tenant', 'acme');
const l3 = randomBytes(32);
const headers = new Map<string, Buffer>();
const MAX_BODY = 64 * 1024;

function send(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

function createOne(service: string): { plaintext: string; blob: string } {
  let header = headers.get(service);
  if (header === undefined) {
    header = blobHeader(tenant, service, 1);
    headers.set(service, header);
  }
  const out = createBlobNode(l3, header);
  return { plaintext: out.subarray(0, 32).toString('base64'), blob: out.subarray(32).toString('base64') };
}

function handle(req: IncomingMessage, res: ServerResponse, raw: string): void {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return send(res, 400, { code: 'BAD_REQUEST', message: 'body is not JSON' });
  }
  const { service, count } = (body ?? {}) as { service?: unknown; count?: unknown };
  if (typeof service !== 'string' || service.length === 0 || service.length > 255) {
    return send(res, 400, { code: 'BAD_REQUEST', message: 'service must be a non-empty string' });
  }
  if (count === undefined) return send(res, 200, createOne(service));
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 4096) {
    return send(res, 400, { code: 'BAD_REQUEST', message: 'count must be 1..4096' });
  }
  const keys = new Array<{ plaintext: string; blob: string }>(count);
  for (let i = 0; i < count; i++) keys[i] = createOne(service);
  send(res, 200, { keys });
}

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  if (req.method !== 'POST' || req.url !== '/v1/keys/create')
    return send(res, 404, { code: 'NOT_FOUND', message: 'no such route' });
  if (req.headers.authorization !== expectedAuth)
    return send(res, 401, { code: 'UNAUTHENTICATED', message: 'bad bearer token' });
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    raw += chunk;
    if (raw.length > MAX_BODY) req.destroy();
  });
  req.on('end', () => handle(req, res, raw));
});
server.headersTimeout = 10_000;

server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no TCP address');
  process.stdout.write(JSON.stringify({ port: addr.port, pid: process.pid }) + '\n');
});

function shutdown(): void {
  server.close();
  server.closeAllConnections();
  setImmediate(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
