/**
 * The addon against node:crypto doing the same L4 work (fresh L4, random
 * 24-byte nonce, XAES-256-GCM with the blob header as AAD, blob encoding),
 * measured side by side in one run.
 */
import { blobHeader, createBlobNode, openBlobNode } from './lib/xaes-node.js';
import { measure, type Measurement } from './lib/measure.js';
import { randomBytes } from 'node:crypto';
import {
  createInto,
  createKey,
  createKeys,
  importKey,
  openBlob,
  openBlobs,
  scopeRef,
  scopes,
} from '../src/native/index.js';

export interface AddonRow {
  name: string;
  keysPerCall: number;
  krypton: Measurement;
  nodeCrypto: Measurement;
  ratio: number;
  target?: { maxNsPerKey?: number; minRatio?: number };
  pass?: boolean;
}

const TENANT = 'bench-tenant';
const SERVICE = 'bench.service';

export function runAddonBench(): AddonRow[] {
  const l3 = randomBytes(32);
  scopes.bind(TENANT, SERVICE, 1, 'ACTIVE', importKey(l3));
  const scope = scopeRef(TENANT, SERVICE)!;
  const header = blobHeader(TENANT, SERVICE, 1);

  const rows: AddonRow[] = [];
  const row = (name: string, n: number, ours: () => void, theirs: () => void, target?: AddonRow['target']) => {
    const krypton = measure(ours, n);
    const nodeCrypto = measure(theirs, n);
    const ratio = nodeCrypto.nsPerOp / krypton.nsPerOp;
    const pass =
      target === undefined
        ? undefined
        : (target.maxNsPerKey === undefined || krypton.nsPerOp < target.maxNsPerKey) &&
          (target.minRatio === undefined || ratio >= target.minRatio);
    rows.push({ name, keysPerCall: n, krypton, nodeCrypto, ratio, target, pass });
  };

  row(
    'create single',
    1,
    () => createKey(scope),
    () => createBlobNode(l3, header),
    { maxNsPerKey: 1500, minRatio: 10 },
  );
  for (const n of [64, 1024]) {
    row(
      `create batch ${n}`,
      n,
      () => createInto(scope, n, undefined, Buffer.allocUnsafe(n * scope.recordBytes)),
      () => {
        for (let i = 0; i < n; i++) createBlobNode(l3, header);
      },
      { maxNsPerKey: 600, minRatio: 25 },
    );
  }

  const theirs = Array.from({ length: 1024 }, () => createBlobNode(l3, header).subarray(32));
  const ours = createKeys(scope, 1024).keys.map((k) => k.blob);
  let i = 0;
  row(
    'open single',
    1,
    () => openBlob(TENANT, ours[i++ & 1023]!),
    () => openBlobNode(l3, theirs[i++ & 1023]!),
  );
  for (const n of [64, 1024]) {
    const mine = ours.slice(0, n);
    const other = theirs.slice(0, n);
    row(
      `open batch ${n}`,
      n,
      () => openBlobs(TENANT, mine),
      () => {
        for (const b of other) openBlobNode(l3, b);
      },
    );
  }
  scopes.evict(TENANT, SERVICE);
  return rows;
}
