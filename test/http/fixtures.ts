/** Certificates and raw HTTP/2 helpers shared by the mTLS tests. */
import http2 from 'node:http2';
import { createCa, issueCert, type IssueOptions, type PemPair } from '../../src/pki/index.js';

const DAY = 86_400_000;

export interface TestPki {
  ca: PemPair;
  server: PemPair;
  gateway: PemPair;
  admin: PemPair;
  intruder: PemPair;
  otherCa: PemPair;
  fromOtherCa: PemPair;
  expired: PemPair;
  notYetValid: PemPair;
  noSpiffe: PemPair;
  twoSpiffe: PemPair;
  serverOnly: PemPair;
}

export async function makeTestPki(): Promise<TestPki> {
  const ca = await createCa({ commonName: 'test CA' });
  const otherCa = await createCa({ commonName: 'another CA' });
  const client = (cn: string, spiffeIds: string[], extra: Partial<IssueOptions> = {}, from = ca) =>
    issueCert(from, { commonName: cn, spiffeIds, usage: 'client', ...extra });
  const now = Date.now();
  const [server, gateway, admin, intruder, fromOtherCa, expired, notYetValid, noSpiffe, twoSpiffe, serverOnly] =
    await Promise.all([
      issueCert(ca, {
        commonName: 'core',
        spiffeIds: ['spiffe://krypton.dev/core'],
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        usage: 'server',
      }),
      client('gateway', ['spiffe://krypton.dev/gateway/default']),
      client('admin', ['spiffe://krypton.dev/admin']),
      client('intruder', ['spiffe://krypton.dev/intruder']),
      client('gateway', ['spiffe://krypton.dev/gateway/default'], {}, otherCa),
      client('expired', ['spiffe://krypton.dev/gateway/default'], {
        notBefore: new Date(now - 2 * DAY),
        notAfter: new Date(now - DAY),
      }),
      client('future', ['spiffe://krypton.dev/gateway/default'], {
        notBefore: new Date(now + DAY),
        notAfter: new Date(now + 2 * DAY),
      }),
      client('anonymous', [], { dnsNames: ['gateway.local'] }),
      client('two-faced', ['spiffe://krypton.dev/gateway/default', 'spiffe://krypton.dev/admin']),
      issueCert(ca, {
        commonName: 'server-only',
        spiffeIds: ['spiffe://krypton.dev/gateway/default'],
        usage: 'server',
      }),
    ]);
  return {
    ca,
    server,
    gateway,
    admin,
    intruder,
    otherCa,
    fromOtherCa,
    expired,
    notYetValid,
    noSpiffe,
    twoSpiffe,
    serverOnly,
  };
}

export interface RawReply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** A plain http2 session, so tests can leave out the client certificate or misbehave. */
export function rawSession(port: number, ca: string, id?: PemPair): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    ca,
    ...(id ? { key: id.keyPem, cert: id.certPem } : {}),
    minVersion: 'TLSv1.3',
  });
  session.on('error', () => {});
  return session;
}

export function rawRequest(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  write: (req: http2.ClientHttp2Stream) => void = (req) => req.end(),
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    let status = 0;
    let resHeaders: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      resHeaders = h;
      status = Number(h[':status']);
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status, headers: resHeaders, body: Buffer.concat(chunks) }));
    req.on('error', reject);
    req.on('close', () => reject(new Error(`closed without reply, rst ${req.rstCode}`)));
    write(req);
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until cond holds or the deadline passes. */
export async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(5);
  }
}
