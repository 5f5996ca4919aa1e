/**
 * The caller's identity: the one `spiffe://` URI SAN of its client
 * certificate. The TLS handshake has already proven the chain; this decides
 * who the chain speaks for, once per session.
 */
import type { TLSSocket } from 'node:tls';
import { isSpiffeId, spiffeUrisOf } from '../pki/spiffe.js';

export type PeerIdentity = { ok: true; spiffeId: string } | { ok: false; reason: string };

export function peerIdentity(socket: TLSSocket): PeerIdentity {
  const cert = socket.getPeerX509Certificate();
  if (!cert) return { ok: false, reason: 'no client certificate' };
  let ids: string[];
  try {
    ids = spiffeUrisOf(cert.raw);
  } catch {
    return { ok: false, reason: 'unparseable client certificate' };
  }
  if (ids.length === 0) return { ok: false, reason: 'client certificate has no SPIFFE ID' };
  if (ids.length > 1) return { ok: false, reason: 'client certificate has more than one SPIFFE ID' };
  if (!isSpiffeId(ids[0]!)) return { ok: false, reason: 'client certificate SPIFFE ID is malformed' };
  return { ok: true, spiffeId: ids[0]! };
}
