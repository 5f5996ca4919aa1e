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
    else {
      switch (t) {
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xc4: case 0xd9:
          if (at + 1 > n) return 'malformed';
          skip = 1 + b[at]!;
          break;
        case 0xc5: case 0xda:
          if (at + 2 > n) return 'malformed';
          skip = 2 + ((b[at]! << 8) | b[at + 1]!);
          break;
        case 0xc6: case 0xdb:
          if (at + 4 > n) return 'malformed';
          skip = 4 + ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!;
          break;
        case 0xdc: case 0xde:
          if (at + 2 > n) return 'malformed';
          children = ((b[at]! << 8) | b[at + 1]!) * (t === 0xde ? 2 : 1);
          at += 2;
          break;
        case 0xdd: case 0xdf:
          if (at + 4 > n) return 'malformed';
          children = (((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!) * (t === 0xdf ? 2 : 1);
          at += 4;
          break;
        default:
          return 'malformed'; // 0xc1 (never used) and every extension type
      }
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
