/**
 * The count rule has one home (src/protocol/gateway-frame.ts): an integer
 * from 1 to MAX_BATCH. Every entrance that takes a count or a list of blobs
 * (the frame decoder, the addon's wrappers, the bulk worker task) refuses
 * the same values with the same error, because they all call it.
 */
import { describe, expect, it } from 'vitest';
import { KryptonError } from '../../src/errors.js';
import runBulk from '../../src/native/bulk-task.js';
import {
  createKeys,
  MAX_BATCH as NATIVE_MAX_BATCH,
  MAX_CONTEXT_BYTES as NATIVE_MAX_CONTEXT,
  openBlobs,
  rewrapBlobs,
  type ScopeRef,
} from '../../src/native/index.js';
import {
  checkCount,
  isBatchSize,
  MAX_BATCH,
  MAX_CONTEXT_BYTES,
  parseRequest,
  RefusedRequest,
  requireBlobList,
  requireCount,
} from '../../src/protocol/gateway-frame.js';

const BAD_COUNTS: unknown[] = [0, -1, MAX_BATCH + 1, 1.5, '3', NaN, Infinity, null, true, [3], 2 ** 53];
const GOOD_COUNTS = [1, 2, 256, MAX_BATCH];
const COUNT_MESSAGE = `count must be an integer from 1 to ${MAX_BATCH}`;
const BLOBS_MESSAGE = `blobs must hold 1 to ${MAX_BATCH} blobs`;

function refusal(fn: () => unknown): KryptonError {
  try {
    fn();
  } catch (err) {
    if (err instanceof KryptonError) return err;
    throw err;
  }
  throw new Error('not refused');
}

// Never used: every bad count is refused before the scope is read.
const NO_SCOPE = { tenant: 'acme', service: 'app', id: 0, recordBytes: 0 } as ScopeRef;

describe('the count rule (src/protocol/gateway-frame.ts)', () => {
  it('is 1 to 4096, the limits the addon wrappers use being the same bindings', () => {
    expect(MAX_BATCH).toBe(4096);
    expect(NATIVE_MAX_BATCH).toBe(MAX_BATCH);
    expect(NATIVE_MAX_CONTEXT).toBe(MAX_CONTEXT_BYTES);
  });

  it.each(BAD_COUNTS.map((v) => [v]))('refuses %j', (v) => {
    expect(isBatchSize(v)).toBe(false);
    const e = refusal(() => requireCount(v));
    expect(e.code).toBe('BAD_REQUEST');
    expect(e.message).toBe(COUNT_MESSAGE);
    expect(refusal(() => checkCount(v)).message).toBe(COUNT_MESSAGE);
  });

  it.each(GOOD_COUNTS.map((v) => [v]))('accepts %j', (v) => {
    expect(isBatchSize(v)).toBe(true);
    expect(requireCount(v)).toBe(v);
    expect(checkCount(v)).toBe(v);
  });

  it('an absent count is allowed in a request (one key), not where a count is required', () => {
    expect(checkCount(undefined)).toBeUndefined();
    expect(refusal(() => requireCount(undefined)).message).toBe(COUNT_MESSAGE);
  });

  it.each(BAD_COUNTS.map((v) => [v]))('every entrance refuses count %j with the same error', async (v) => {
    const parsed = parseRequest([7, 'key.create', { service: 'app', count: v }]);
    expect(parsed).toBeInstanceOf(RefusedRequest);
    expect((parsed as RefusedRequest).error.message).toBe(COUNT_MESSAGE);
    expect((parsed as RefusedRequest).id).toBe(7);
    expect(refusal(() => createKeys(NO_SCOPE, v as number)).message).toBe(COUNT_MESSAGE);
    const bulk = runBulk({ op: 'create', tenant: 'acme', service: 'app', count: v as number });
    expect(bulk).toEqual({ op: 'failed', code: 'BAD_REQUEST', message: COUNT_MESSAGE });
  });

  it('every entrance accepts a count of MAX_BATCH', () => {
    const parsed = parseRequest([7, 'key.create', { service: 'app', count: MAX_BATCH }]);
    expect(parsed).toEqual({ op: 'key.create', id: 7, service: 'app', count: MAX_BATCH });
    // Past the count rule, the bulk task looks for the scope: none is leased here.
    const bulk = runBulk({ op: 'create', tenant: 'acme', service: 'unleased', count: MAX_BATCH });
    expect(bulk).toMatchObject({ op: 'failed', code: 'KEY_UNAVAILABLE' });
  });
});

describe('the blob-list rule: 1 to MAX_BATCH blobs', () => {
  const blob = new Uint8Array(100);
  const lists: [string, unknown][] = [
    ['an empty list', []],
    [`${MAX_BATCH + 1} blobs`, new Array<Uint8Array>(MAX_BATCH + 1).fill(blob)],
    ['not a list', blob],
    ['a map', { 0: blob, length: 1 }],
  ];

  it.each(lists)('refuses %s, at every entrance', (_name, list) => {
    expect(refusal(() => requireBlobList(list)).message).toBe(BLOBS_MESSAGE);
    const parsed = parseRequest([9, 'key.decrypt', { blobs: list }]);
    expect((parsed as RefusedRequest).error.message).toBe(BLOBS_MESSAGE);
    expect(refusal(() => openBlobs('acme', list as Uint8Array[])).message).toBe(BLOBS_MESSAGE);
    expect(refusal(() => rewrapBlobs('acme', list as Uint8Array[])).message).toBe(BLOBS_MESSAGE);
  });

  it('accepts 1 and MAX_BATCH blobs', () => {
    expect(requireBlobList([blob])).toHaveLength(1);
    expect(requireBlobList(new Array<Uint8Array>(MAX_BATCH).fill(blob))).toHaveLength(MAX_BATCH);
    const parsed = parseRequest([9, 'key.decrypt', { blobs: new Array<Uint8Array>(MAX_BATCH).fill(blob) }]);
    expect(parsed).not.toBeInstanceOf(RefusedRequest);
  });
});
