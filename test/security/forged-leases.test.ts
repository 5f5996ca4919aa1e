/**
 * Attacks on leases (review M1): whoever can inject replies on the Gateway's
 * channel to the Core (a TLS-terminating proxy, a certificate with the
 * Core's name) must not plant a key or bring an old lease back. Each attack
 * is made at the boundary the attacker controls: the reply the Gateway's
 * CoreClient receives (its `lease` method intercepted, as the wire would
 * be), or a fake Core that answers /v1/leases with the Core's own TLS
 * certificate. The Core is a real process; the lease cache is the
 * Gateway's own, in this process, so the native store can be inspected.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig } from '../../src/cli/gateway.js';
import type { CoreClient } from '../../src/gateway/core-client.js';
import { LeaseCache, type LeaseCacheOptions } from '../../src/gateway/lease-cache.js';
import { createMtlsServer, MSGPACK_TYPE, type MtlsClient } from '../../src/http/index.js';
import { createKey, scopeRef, scopes, SigningKey } from '../../src/native/index.js';
import { startCoreProcess, type CoreProcess } from '../core/process-fixture.js';
import { admin, coreClientFor } from '../gateway/gateway-fixture.js';
import { coreSeal, forgedLease, hpkeSuite, LEASE_HPKE_INFO, type SeenRequest } from '../helpers/lease.js';
import { connect } from '../gateway/ws-fixture.js';
import { openStage, refusal, type Stage } from './stage.js';

const code = (c: string): unknown => expect.objectContaining({ code: c });
const T = 'acme';
const states = (s: string) => scopes.list(T, s).map((v) => [v.version, v.state]);

type Lease = (...args: unknown[]) => Promise<unknown>;

/** The request the Gateway sent, as seen on the wire. */
function seen(args: unknown[]): SeenRequest {
  return typeof args[0] === 'string'
    ? { tenant: args[0], service: args[1] as string, recipientKey: args[2] as Uint8Array }
    : (args[0] as SeenRequest);
}

/**
 * Puts the attacker between the Gateway's CoreClient and the Gateway: `reply` answers each lease request instead (it
 * may ask the real Core first).
 */
function intercept(
  client: CoreClient,
  reply: (req: SeenRequest, genuine: () => Promise<unknown>) => Promise<unknown>,
): void {
  const c = client as unknown as { lease: Lease };
  const real = c.lease.bind(client);
  c.lease = (...args) => reply(seen(args), () => real(...args));
}

describe('forged and replayed leases', () => {
  let core: CoreProcess;
  let wire: MtlsClient;
  const open: { cache: LeaseCache; client: CoreClient }[] = [];
  const gateway = (
    opts: Partial<LeaseCacheOptions> = {},
    client = coreClientFor(core, { retry: { maxAttempts: 1 } }),
  ) => {
    const cache = new LeaseCache({ failureTtlMs: 0, ...opts, core: client });
    open.push({ cache, client });
    return { cache, client };
  };
  /**
   * A genuine lease from the Core for a request of the attacker's making (it holds a Gateway certificate: it is on the
   * channel).
   */
  const genuineFor = async (req: SeenRequest) =>
    (await wire.request('POST', '/v1/leases', req, { contentType: MSGPACK_TYPE })).body;

  beforeAll(async () => {
    core = await startCoreProcess();
    wire = core.client('gateway');
    await admin(core).tenant(T);
    for (const s of ['unsigned', 'selfsigned', 'fakecore', 'replay', 'nonce', 'othergw']) await admin(core).scope(T, s);
  });
  afterAll(async () => {
    for (const { cache, client } of open) {
      cache.stop();
      await client.close();
    }
    await core?.cleanup();
  });

  it.each([
    ['unsigned', undefined],
    ['selfsigned', SigningKey.fromSeed(randomBytes(32))],
  ])(
    "a lease sealed to the Gateway's real recipient key by someone else (attacker's L3, %s) is refused and nothing is bound",
    async (service, signer) => {
      const { cache, client } = gateway();
      const planted = randomBytes(32);
      intercept(client, (req) => forgedLease(req, planted, signer ? { signer } : {}));
      const err = await cache.scope(T, service).catch((e: unknown) => e);
      expect(err).toEqual(code('KEY_UNAVAILABLE'));
      // What was wrong is logged, never told to the app.
      expect((err as Error).message).not.toMatch(/signature|nonce|lease reply/);
      expect(scopes.list(T, service)).toEqual([]);
      expect(scopes.lookup(T, service)).toBe(0);
      expect(cache.scopeSync(T, service)).toBeNull();
      signer?.destroy();
    },
  );

  it("a fake Core holding the Core's own TLS certificate (its SPIFFE ID) cannot plant a key: its leases are not signed by the pinned key", async () => {
    const planted = randomBytes(32);
    const fake = await createMtlsServer({
      key: readFileSync(join(core.pki, 'core-key.pem')),
      cert: readFileSync(join(core.pki, 'core.pem')),
      ca: readFileSync(join(core.pki, 'ca.pem')),
      port: 0,
      identity: { allowed: () => true },
      routes: [
        {
          method: 'POST',
          path: '/v1/leases',
          bytes: ['recipientKey', 'nonce'],
          handler: async (ctx) => forgedLease(ctx.body as SeenRequest, planted),
        },
      ],
    });
    try {
      const { cache } = gateway(
        {},
        coreClientFor({ url: `https://127.0.0.1:${fake.port}`, pki: core.pki }, { retry: { maxAttempts: 1 } }),
      );
      await expect(cache.scope(T, 'fakecore')).rejects.toThrow(code('KEY_UNAVAILABLE'));
      expect(scopes.list(T, 'fakecore')).toEqual([]);
      expect(scopes.lookup(T, 'fakecore')).toBe(0);
    } finally {
      await fake.close();
    }
  });

  it('a replayed genuine lease (a reply captured from an earlier request, delivered again) is refused, and the current ACTIVE version is not demoted', async () => {
    const { cache, client } = gateway({ probeIntervalMs: 0 });
    const captured: unknown[] = [];
    let replay = false;
    intercept(client, async (_req, genuine) => {
      if (replay) return captured[0];
      const r = await genuine();
      captured.push(r);
      return r;
    });
    await cache.scope(T, 'replay'); // v1 ACTIVE: captured
    await admin(core).rotate(T, 'replay');
    await cache.ensureVersion(T, 'replay', 2); // a blob of v2: the next lease, v2 ACTIVE
    expect(states('replay')).toEqual([
      [1, 'DECRYPT_ONLY'],
      [2, 'ACTIVE'],
    ]);
    replay = true;
    // The next fetch (a blob of a version newer than the lease) gets the captured v1 ACTIVE lease back.
    await expect(cache.ensureVersion(T, 'replay', 3)).rejects.toThrow(code('KEY_UNAVAILABLE'));
    expect(states('replay')).toEqual([
      [1, 'DECRYPT_ONLY'],
      [2, 'ACTIVE'],
    ]);
    expect(createKey(cache.scopeSync(T, 'replay')!).version).toBe(2);
  });

  it('a genuine lease for another request of the same Gateway (another nonce) is refused and nothing is bound', async () => {
    const { cache, client } = gateway();
    intercept(client, (req) =>
      genuineFor({ tenant: req.tenant, service: req.service, recipientKey: req.recipientKey, nonce: randomBytes(16) }),
    );
    await expect(cache.scope(T, 'nonce')).rejects.toThrow(code('KEY_UNAVAILABLE'));
    expect(scopes.list(T, 'nonce')).toEqual([]);
    expect(scopes.lookup(T, 'nonce')).toBe(0);
  });

  it("a genuine lease for another Gateway's recipient key, re-sealed to this Gateway with the Core's signature kept, is refused and nothing is bound", async () => {
    const { cache, client } = gateway();
    // The other Gateway (the attacker) holds its own recipient key and opens what the Core sealed to it.
    const theirs = await hpkeSuite.kem.generateKeyPair();
    const theirPublic = Buffer.from(await hpkeSuite.kem.serializePublicKey(theirs.publicKey));
    intercept(client, async (req) => {
      const body = (await genuineFor({ ...req, recipientKey: theirPublic, nonce: req.nonce ?? randomBytes(16) })) as {
        versions: { enc: Buffer; sealed: Buffer }[];
      };
      const versions = await Promise.all(
        body.versions.map(async (v) => {
          const message = Buffer.from(
            await hpkeSuite.open({ recipientKey: theirs, enc: v.enc, info: LEASE_HPKE_INFO }, v.sealed),
          );
          return { ...v, ...(await coreSeal(req.recipientKey, message)) };
        }),
      );
      return { ...body, versions };
    });
    await expect(cache.scope(T, 'othergw')).rejects.toThrow(code('KEY_UNAVAILABLE'));
    expect(scopes.list(T, 'othergw')).toEqual([]);
    expect(scopes.lookup(T, 'othergw')).toBe(0);
  });

  it('the genuine leases of the same Core still bind (control)', async () => {
    const { cache } = gateway();
    const ref = await cache.scope(T, 'nonce');
    expect(ref.id).toBe(scopeRef(T, 'nonce')!.id);
    expect(states('nonce')).toEqual([[1, 'ACTIVE']]);
  });
});

describe('a planted lease through the running Gateway', () => {
  let stage: Stage;
  beforeAll(async () => {
    stage = await openStage({ tenants: { [T]: ['planted'] }, tokens: { app: { tenant: T, services: ['planted'] } } });
  });
  afterAll(async () => {
    await stage?.stop();
  });

  it('fails the app closed with KEY_UNAVAILABLE and a message that names nothing of the lease; nothing is bound', async () => {
    intercept(stage.gateway.core, (req) => forgedLease(req, randomBytes(32)));
    const c = await connect(stage.wsUrl, stage.tokens.app);
    try {
      const r = (await c.call([1, 'key.create', { service: 'planted' }])) as [
        number,
        number,
        { code: string; message: string },
      ];
      expect(refusal(r)).toBe('KEY_UNAVAILABLE');
      expect(r[2].message).not.toMatch(/signature|nonce|lease reply|INVALID_LEASE/);
      expect(scopes.list(T, 'planted')).toEqual([]);
    } finally {
      c.close();
    }
  });
});

describe('the Gateway pins its Core', () => {
  let dir: string;
  let core: CoreProcess;
  beforeAll(async () => {
    core = await startCoreProcess();
    dir = mkdtempSync(join(tmpdir(), 'krypton-gwconfig-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await core?.cleanup();
  });
  const config = (over: Record<string, unknown>) => {
    const file = join(dir, `gateway-${randomBytes(4).toString('hex')}.json`);
    const base = {
      coreUrl: core.url,
      coreSpiffeId: 'spiffe://krypton.dev/core',
      coreSigningKey: join(core.pki, 'core-sign.pub'),
      tls: {
        cert: join(core.pki, 'gateway.pem'),
        key: join(core.pki, 'gateway-key.pem'),
        ca: join(core.pki, 'ca.pem'),
      },
    };
    writeFileSync(file, JSON.stringify({ ...base, ...over }));
    return file;
  };

  it('a Gateway config without coreSpiffeId or coreSigningKey, or with a signing key that is not one, is refused with a message that says what to set', () => {
    expect(loadGatewayConfig(config({}), {})).toMatchObject({
      coreSpiffeId: 'spiffe://krypton.dev/core',
      coreSigningKey: join(core.pki, 'core-sign.pub'),
    });
    expect(() => loadGatewayConfig(config({ coreSpiffeId: undefined }), {})).toThrow(/coreSpiffeId is required/);
    expect(() => loadGatewayConfig(config({ coreSigningKey: undefined }), {})).toThrow(/coreSigningKey is required/);
    expect(() => loadGatewayConfig(config({ coreSigningKey: join(core.pki, 'ca.pem') }), {})).toThrow(
      /coreSigningKey .* is not an Ed25519 public key/,
    );
    expect(() => loadGatewayConfig(config({ coreSigningKey: join(core.pki, 'missing.pub') }), {})).toThrow(
      /coreSigningKey/,
    );
  });
});
