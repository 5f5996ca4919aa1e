/**
 * Attacks on the lease cache (review M3): one frame must not cause hundreds
 * of Core calls, names the Core refuses must be answered from memory for a
 * while without leaving entries behind, a tenant's scopes are capped, and a
 * frame's lease fetches run concurrently under the connection's budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningGateway } from '../../src/gateway/service.js';
import { connect } from '../gateway/ws-fixture.js';
import { ok, openStage, refusal, type Stage } from './stage.js';

/** A copy of an acme/app blob naming another 3-letter service (same layout, valid header). */
function renamed(blob: Buffer, service: string): Buffer {
  const b = Buffer.from(blob);
  b.write(service, 6 + b[4], 'latin1');
  return b;
}
const names = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => `${prefix}${i.toString(36).padStart(2, '0')}`);

/** Counts the Core calls a Gateway makes, and the most in flight at once. */
function countLeases(g: RunningGateway): { calls: number; maxInFlight: number } {
  const seen = { calls: 0, maxInFlight: 0 };
  let inFlight = 0;
  const lease = g.core.lease.bind(g.core);
  g.core.lease = async (...args) => {
    seen.calls++;
    seen.maxInFlight = Math.max(seen.maxInFlight, ++inFlight);
    try {
      return await lease(...args);
    } finally {
      inFlight--;
    }
  };
  return seen;
}

describe('flooding the lease cache', () => {
  let stage: Stage;
  let blob: Buffer;

  beforeAll(async () => {
    stage = await openStage({
      tenants: { acme: ['app', ...names(6, 's')] },
      tokens: { wide: { tenant: 'acme', services: ['*'] } },
    });
    const c = await stage.ws(stage.tokens.wide);
    blob = ok(await c.call([1, 'key.create', { service: 'app' }])).blob;
  });
  afterAll(async () => {
    await stage?.stop();
  });

  it('one decrypt frame of 300 blobs naming 300 services is BAD_REQUEST (at most 32 per frame), with no Core call', async () => {
    const c = await stage.ws(stage.tokens.wide);
    const served = await stage.leasesServed();
    const blobs = names(300, 'z').map((s) => renamed(blob, s));
    expect(refusal(await c.call([1, 'key.decrypt', { blobs }]))).toBe('BAD_REQUEST');
    // The same spread over the requests of one frame.
    const frame = (await c.call(blobs.map((b, i) => [i, 'key.decrypt', { blob: b }]))) as unknown[];
    expect(new Set(frame.map(refusal))).toEqual(new Set(['BAD_REQUEST']));
    expect(await stage.leasesServed()).toBe(served);
  });

  it('blobs naming unknown services are one Core call per service, then answered from memory; no entry stays in the table', async () => {
    const g = await stage.startGateway();
    const calls = countLeases(g);
    const c = await connect(`ws://127.0.0.1:${g.server.port}/v1/ws`, stage.tokens.wide);
    try {
      const blobs = names(20, 'u').map((s) => renamed(blob, s));
      expect(refusal(await c.call([1, 'key.decrypt', { blobs }]))).toBe('INVALID_BLOB');
      expect(calls.calls).toBe(20);
      expect(refusal(await c.call([2, 'key.decrypt', { blobs }]))).toBe('INVALID_BLOB');
      const creates = (await c.call(names(20, 'u').map((s, i) => [i, 'key.create', { service: s }]))) as unknown[];
      expect(new Set(creates.map(refusal))).toEqual(new Set(['UNKNOWN_SERVICE']));
      expect(calls.calls).toBe(20);
      expect(g.cache.stats().scopes).toEqual([]);
    } finally {
      c.close();
    }
  });

  it("a tenant's scopes are capped: the one past maxScopesPerTenant is OVERLOADED, and the held ones keep serving", async () => {
    const g = await stage.startGateway({ maxScopesPerTenant: 3 });
    const c = await connect(`ws://127.0.0.1:${g.server.port}/v1/ws`, stage.tokens.wide);
    try {
      for (const s of names(3, 's')) ok(await c.call([1, 'key.create', { service: s }]));
      expect(refusal(await c.call([2, 'key.create', { service: 's03' }]))).toBe('OVERLOADED');
      ok(await c.call([3, 'key.create', { service: 's00' }]));
      expect(g.cache.stats().scopes).toHaveLength(3);
    } finally {
      c.close();
    }
  });

  it("a frame's lease fetches run concurrently, at most the connection's budget at a time", async () => {
    const g = await stage.startGateway({ limits: { maxLeaseFetchesPerConnection: 2 } });
    const calls = countLeases(g);
    const c = await connect(`ws://127.0.0.1:${g.server.port}/v1/ws`, stage.tokens.wide);
    try {
      const replies = (await c.call(names(6, 's').map((s, i) => [i, 'key.create', { service: s }]))) as unknown[];
      replies.forEach(ok);
      expect(calls.calls).toBe(6);
      expect(calls.maxInFlight).toBe(2);
    } finally {
      c.close();
    }
  });
});
