/**
 * The one permission check of every operation that touches a key (docs/design.md
 * section 4): a token names one tenant and the services it may use. A create
 * names its service; a blob names its tenant and service in its header, and
 * a blob this token may not use (malformed, another tenant's, a service
 * outside the token) is refused with the very answer a tampered blob gets,
 * INVALID_BLOB, before any lookup or crypto: nothing tells a caller which
 * other tenants or services exist.
 */
import { errors, KryptonError } from '../../errors.js';
import { blobInfo } from '../../native/index.js';
import type { GatewayRequest } from '../../protocol/gateway-frame.js';
import { allows, type TokenGrant } from '../tokens.js';

/** The scope a blob names (its tenant is the caller's, checked). */
export interface BlobScope {
  service: string;
  version: number;
}

const NONE: readonly BlobScope[] = Object.freeze([]);

/** The scope of a blob the grant may open; INVALID_BLOB otherwise. */
export function blobScopeFor(grant: TokenGrant, blob: Uint8Array): BlobScope {
  const info = blobInfo(blob);
  if (info === null || info.tenant !== grant.tenant || !allows(grant, info.service)) throw errors.invalidBlob();
  return { service: info.service, version: info.version };
}

/**
 * Checks a request against the grant; throws FORBIDDEN (a create outside
 * the token's services) or INVALID_BLOB. Returns the scopes its blobs name.
 */
export function authorize(grant: TokenGrant, r: GatewayRequest): readonly BlobScope[] {
  switch (r.op) {
    case 'ping':
      return NONE;
    case 'key.create':
      if (!allows(grant, r.service)) throw new KryptonError('FORBIDDEN', 'this token may not use that service');
      return NONE;
    case 'key.info':
      return [blobScopeFor(grant, r.blob)];
    case 'key.decrypt':
    case 'key.rewrap': {
      const out = new Array<BlobScope>(r.blobs.length);
      for (let i = 0; i < out.length; i++) out[i] = blobScopeFor(grant, r.blobs[i]!);
      return out;
    }
  }
}
