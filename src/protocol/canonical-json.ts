/**
 * Canonical JSON: object keys sorted (by UTF-16 code units), recursively, no
 * whitespace. What is signed or MACed as JSON (Orbital events, audit rows)
 * is hashed in this form, so the bytes do not depend on the order in which
 * a producer built an object or a driver returned columns.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // Matches JSON.stringify for primitives; undefined, functions and symbols become null.
    return JSON.stringify(value) ?? 'null';
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return canonicalJson((value as { toJSON: () => unknown }).toJSON());
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    // Like JSON.stringify: keys whose value cannot be represented are left out.
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}
