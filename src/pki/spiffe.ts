/**
 * SPIFFE IDs in certificates. The Core's callers are identified by the one
 * `spiffe://` URI SAN in their client certificate (docs/design.md section 5).
 */
import { x509 } from './x509.js';

// SPIFFE ID syntax (spiffe/standards SPIFFE-ID.md section 2): lowercase trust
// domain, path segments of [A-Za-z0-9._-] that are not '.' or '..', no query,
// fragment, port or userinfo.
const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

export function isSpiffeId(value: string): boolean {
  if (!SPIFFE_ID.test(value) || value.length > 2048) return false;
  return !value
    .slice('spiffe://'.length)
    .split('/')
    .slice(1)
    .some((s) => s === '.' || s === '..');
}

/** All URI SANs that start with `spiffe://`, valid or not, so a caller can count them. */
export function spiffeUrisOf(cert: string | BufferSource): string[] {
  const parsed = new x509.X509Certificate(cert);
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  if (!san) return [];
  return san.names.items.filter((n) => n.type === 'url' && n.value.startsWith('spiffe://')).map((n) => n.value);
}

/** The certificate's SPIFFE ID when it has exactly one valid one, else undefined. */
export function singleSpiffeId(cert: string | BufferSource): string | undefined {
  const ids = spiffeUrisOf(cert);
  return ids.length === 1 && isSpiffeId(ids[0]!) ? ids[0] : undefined;
}
