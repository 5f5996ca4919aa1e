/**
 * Checks a msgpack frame's structure before it is decoded: nesting depth,
 * element counts, lengths that fit the buffer, and no extension types. A
 * hostile frame is refused without the decoder allocating for it.
 */
export interface ScanLimits {
  maxDepth: number;
  /** Total elements across all arrays and maps. */
  maxElements: number;
}

export type ScanResult = 'ok' | 'too-deep' | 'too-many' | 'malformed';

/** Bytes after the type byte of a fixed-size number (uint, int, float); 0 for every other type byte. */
const FIXED_SIZE = new Uint8Array(256);
/** Width of the length after the type byte of a bin, str, array 16/32 or map 16/32; 0 for every other type byte. */
const LENGTH_WIDTH = new Uint8Array(256);
for (const [t, size] of [
  [0xcc, 1],
  [0xcd, 2],
  [0xce, 4],
  [0xcf, 8],
  [0xd0, 1],
  [0xd1, 2],
  [0xd2, 4],
  [0xd3, 8],
  [0xca, 4],
  [0xcb, 8],
]) {
  FIXED_SIZE[t!] = size!;
}
for (const [t, width] of [
  [0xc4, 1],
  [0xc5, 2],
  [0xc6, 4],
  [0xd9, 1],
  [0xda, 2],
  [0xdb, 4],
  [0xdc, 2],
  [0xdd, 4],
  [0xde, 2],
  [0xdf, 4],
]) {
  LENGTH_WIDTH[t!] = width!;
}

/** The big-endian length of `width` bytes at `at`, or -1 when the buffer ends first. */
function readLength(b: Uint8Array, at: number, width: number): number {
  if (at + width > b.length) return -1;
  if (width === 1) return b[at]!;
  if (width === 2) return (b[at]! << 8) | b[at + 1]!;
  return ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!;
}

export function scanMsgpack(b: Uint8Array, limits: ScanLimits): ScanResult {
  const stack: number[] = [];
  let at = 0;
  let elements = 0;
  let values = 1; // the top-level value
  const n = b.length;
  while (values > 0 || stack.length > 0) {
    if (values === 0) {
      values = stack.pop()!;
      continue;
    }
    if (at >= n) return 'malformed';
    const t = b[at++]!;
    values--;
    let skip = 0;
    let children = -1;
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) skip = 0;
    else if (t >= 0x80 && t <= 0x8f) children = (t & 0x0f) * 2;
    else if (t >= 0x90 && t <= 0x9f) children = t & 0x0f;
    else if (t >= 0xa0 && t <= 0xbf) skip = t & 0x1f;
    else if (FIXED_SIZE[t] !== 0) skip = FIXED_SIZE[t]!;
    else {
      const width = LENGTH_WIDTH[t]!;
      if (width === 0) return 'malformed'; // 0xc1 (never used) and every extension type
      const len = readLength(b, at, width);
      if (len < 0) return 'malformed';
      at += width;
      if (t === 0xdc || t === 0xdd) children = len;
      else if (t === 0xde || t === 0xdf) children = len * 2;
      else skip = len; // bin, str
    }
    if (children >= 0) {
      elements += children;
      if (elements > limits.maxElements) return 'too-many';
      if (children > n - at) return 'malformed'; // each element needs at least one byte
      stack.push(values);
      if (stack.length > limits.maxDepth) return 'too-deep';
      values = children;
      continue;
    }
    at += skip;
    if (at > n) return 'malformed';
  }
  return at === n ? 'ok' : 'malformed';
}
