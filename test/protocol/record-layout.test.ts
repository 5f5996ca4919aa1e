/**
 * The [L4 || blob] record has one home (src/protocol/record-layout.ts), its
 * sizes read from the addon. The offsets below are derived from the addon's
 * own exports, so a layout restated anywhere with other numbers, or sizes
 * hardcoded apart from the addon's, makes these fail.
 */
import { unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KryptonError } from '../../src/errors.js';
import { CreateRecords, encodeJson, encodeMsgpack } from '../../src/gateway/frame/encode.js';
import { addon } from '../../src/native/addon.js';
import {
  batchResults,
  blobInfo,
  createInto,
  createKey,
  createKeys,
  generateKey,
  openBlob,
  openBlobs,
  scopeRef,
  scopes,
  type ScopeRef,
} from '../../src/native/index.js';
import { MAX_BLOB_BYTES as FRAME_MAX_BLOB_BYTES } from '../../src/protocol/gateway-frame.js';
import {
  BLOB_FIXED_BYTES,
  blobSize,
  L4_BYTES,
  MAX_BLOB_BYTES,
  openedBytes,
  openedL4,
  RECORD_BLOB_AT,
  RECORD_L4_AT,
  recordAt,
  recordBlob,
  recordBlobBytes,
  recordL4,
  recordSize,
} from '../../src/protocol/record-layout.js';

const ADDON_L4 = addon.L4_BYTES as number;
const ADDON_FIXED = addon.BLOB_FIXED_BYTES as number;
const T = 'acme';
const S = 'layout.test';

/** Records whose every byte says where it is: record i, byte k holds (i * 7 + k) & 0xff. */
function patterned(n: number, rec: number): Buffer {
  const b = Buffer.alloc(n * rec);
  for (let i = 0; i < n; i++) for (let k = 0; k < rec; k++) b[i * rec + k] = (i * 7 + k) & 0xff;
  return b;
}

describe('the sizes come from the addon', () => {
  it('L4_BYTES and BLOB_FIXED_BYTES are the addon exports (32 and 82, docs/design.md section 3)', () => {
    expect(L4_BYTES).toBe(ADDON_L4);
    expect(BLOB_FIXED_BYTES).toBe(ADDON_FIXED);
    expect([ADDON_L4, ADDON_FIXED]).toEqual([32, 82]);
  });

  it('the largest blob is the fixed bytes and two 64-byte ids, the same binding the frame rules use', () => {
    expect(MAX_BLOB_BYTES).toBe(ADDON_FIXED + 64 + 64);
    expect(FRAME_MAX_BLOB_BYTES).toBe(MAX_BLOB_BYTES);
  });

  it('a record is the L4 then the blob', () => {
    expect(RECORD_L4_AT).toBe(0);
    expect(RECORD_BLOB_AT).toBe(ADDON_L4);
    expect(blobSize(T, S)).toBe(ADDON_FIXED + T.length + S.length);
    expect(recordSize(T, S)).toBe(ADDON_L4 + ADDON_FIXED + T.length + S.length);
    expect(recordBlobBytes(recordSize(T, S))).toBe(blobSize(T, S));
    expect(openedBytes(5)).toBe(5 * ADDON_L4);
  });
});

describe('slicing records', () => {
  const rec = ADDON_L4 + ADDON_FIXED + T.length + S.length;

  it('cuts record i at the exact offsets, as views of the buffer', () => {
    const n = 4;
    const records = patterned(n, rec);
    for (let i = 0; i < n; i++) {
      expect(recordAt(i, rec)).toBe(i * rec);
      const l4 = recordL4(records, i, rec);
      const blob = recordBlob(records, i, rec);
      expect(l4.byteOffset - records.byteOffset).toBe(i * rec);
      expect(l4.length).toBe(ADDON_L4);
      expect(blob.byteOffset - records.byteOffset).toBe(i * rec + ADDON_L4);
      expect(blob.length).toBe(rec - ADDON_L4);
      expect(l4.equals(records.subarray(i * rec, i * rec + ADDON_L4))).toBe(true);
      expect(blob.equals(records.subarray(i * rec + ADDON_L4, (i + 1) * rec))).toBe(true);
      // Views: the slices and the records are the same memory.
      expect(l4.buffer).toBe(records.buffer);
      expect(blob.buffer).toBe(records.buffer);
    }
    // Put back together, the slices are the records, byte for byte.
    const parts = Array.from({ length: n }, (_, i) => [recordL4(records, i, rec), recordBlob(records, i, rec)]);
    const joined = Buffer.concat(parts.flat());
    expect(joined.equals(records)).toBe(true);
  });

  it('cuts the L4s of a batch open at 32-byte steps', () => {
    const out = patterned(1, openedBytes(3));
    for (let i = 0; i < 3; i++) {
      expect(openedL4(out, i).equals(out.subarray(i * ADDON_L4, (i + 1) * ADDON_L4))).toBe(true);
    }
  });

  it('the reply encoders frame each record by the same offsets (msgpack and JSON)', () => {
    const records = patterned(5, rec);
    const v = new CreateRecords(records, rec, 1, 3);
    const m = unpack(encodeMsgpack(v)) as { keys: { plaintext: Uint8Array; blob: Uint8Array }[] };
    const j = JSON.parse(encodeJson(v).toString()) as { keys: { plaintext: string; blob: string }[] };
    for (let k = 0; k < 3; k++) {
      expect(Buffer.from(m.keys[k].plaintext).equals(recordL4(records, 1 + k, rec))).toBe(true);
      expect(Buffer.from(m.keys[k].blob).equals(recordBlob(records, 1 + k, rec))).toBe(true);
      expect(j.keys[k].plaintext).toBe(recordL4(records, 1 + k, rec).toString('base64'));
      expect(j.keys[k].blob).toBe(recordBlob(records, 1 + k, rec).toString('base64'));
    }
  });
});

describe('round trips through the addon', () => {
  let scope: ScopeRef;
  beforeAll(() => {
    scopes.bind(T, S, 1, 'ACTIVE', generateKey());
    scope = scopeRef(T, S)!;
  });
  afterAll(() => {
    scopes.evict(T, S);
  });

  it('the addon writes records of recordSize, and each blob opens to the L4 before it', () => {
    expect(scope.recordBytes).toBe(recordSize(T, S));
    const n = 6;
    const records = Buffer.alloc(n * scope.recordBytes);
    expect(createInto(scope, n, undefined, records)).toBe(1);
    for (let i = 0; i < n; i++) {
      const blob = recordBlob(records, i, scope.recordBytes);
      expect(blobInfo(blob)).toEqual({ tenant: T, service: S, version: 1 });
      expect(openBlob(T, blob).equals(recordL4(records, i, scope.recordBytes))).toBe(true);
    }
  });

  it('createKey and createKeys hand out the same slices', () => {
    const one = createKey(scope);
    expect(one.plaintext.length).toBe(ADDON_L4);
    expect(one.blob.length).toBe(blobSize(T, S));
    expect(one.blob.byteOffset - one.plaintext.byteOffset).toBe(RECORD_BLOB_AT);
    const { keys } = createKeys(scope, 3);
    keys.forEach((k, i) => {
      expect(k.plaintext.byteOffset - keys[0].plaintext.byteOffset).toBe(i * scope.recordBytes);
      expect(k.blob.byteOffset - k.plaintext.byteOffset).toBe(RECORD_BLOB_AT);
      expect(openBlob(T, k.blob).equals(k.plaintext)).toBe(true);
    });
  });

  it('a batch open gives back the L4s at their offsets; a failed entry is its error, its bytes zero', () => {
    const { keys } = createKeys(scope, 3);
    const bad = Buffer.from(keys[1].blob);
    bad[bad.length - 1] ^= 1;
    const opened = openBlobs(T, [keys[0].blob, bad, keys[2].blob]);
    expect((opened[0] as Buffer).equals(keys[0].plaintext)).toBe(true);
    expect(opened[1]).toEqual(expect.objectContaining({ code: 'INVALID_BLOB' }));
    expect((opened[2] as Buffer).equals(keys[2].plaintext)).toBe(true);

    const out = patterned(1, openedBytes(2));
    const results = batchResults('open', [keys[0].blob, keys[1].blob], out, Uint8Array.of(0, 3));
    expect((results[0] as Buffer).byteOffset - out.byteOffset).toBe(0);
    expect((results[0] as Buffer).length).toBe(ADDON_L4);
    expect(results[1]).toBeInstanceOf(KryptonError);
    expect(out.subarray(ADDON_L4, 2 * ADDON_L4).every((b) => b === 0)).toBe(true);
  });
});
