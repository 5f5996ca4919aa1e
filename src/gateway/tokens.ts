/**
 * App tokens: a bearer token maps to one tenant and a set of services. The
 * Gateway keeps only SHA-256 digests of tokens (a stolen token file grants
 * nothing), and the tenant always comes from the token, never the request.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { errors } from '../errors.js';
import { isValidId } from '../native/index.js';

export interface TokenGrant {
  id: string;
  tenant: string;
  /** Services the token may use; ['*'] for all of the tenant's. */
  services: string[];
}

interface TokenRecord extends TokenGrant {
  sha256: string;
  createdAt: string;
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

export class TokenStore {
  private readonly byDigest = new Map<string, TokenGrant>();

  constructor(records: readonly TokenRecord[] = []) {
    for (const r of records) this.byDigest.set(r.sha256, { id: r.id, tenant: r.tenant, services: r.services });
  }

  static load(file: string): TokenStore {
    if (!existsSync(file)) return new TokenStore();
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { tokens?: TokenRecord[] };
    return new TokenStore(parsed.tokens ?? []);
  }

  /** The grant of a bearer token, or null. */
  verify(token: string): TokenGrant | null {
    if (token.length < 20 || token.length > 200) return null;
    return this.byDigest.get(digest(token)) ?? null;
  }

  /** The grant from an `Authorization: Bearer ...` header value, or null. */
  fromHeader(header: string | undefined): TokenGrant | null {
    if (header === undefined || !header.startsWith('Bearer ')) return null;
    return this.verify(header.slice(7).trim());
  }
}

export function allows(grant: TokenGrant, service: string): boolean {
  return grant.services.includes('*') || grant.services.includes(service);
}

/** Creates a token for (tenant, services), records its digest in file (0600) and returns the token. */
export function createToken(file: string, tenant: string, services: string[]): { token: string; grant: TokenGrant } {
  if (!isValidId(tenant)) throw errors.badRequest('tenant must be 1-64 characters of [A-Za-z0-9._~-]');
  if (services.length === 0 || !services.every((s) => s === '*' || isValidId(s))) throw errors.badRequest('services must be ids or *');
  const token = `kt_${randomBytes(32).toString('base64url')}`;
  const record: TokenRecord = {
    id: randomBytes(6).toString('hex'),
    tenant,
    services,
    sha256: digest(token),
    createdAt: new Date().toISOString(),
  };
  const existing = existsSync(file) ? ((JSON.parse(readFileSync(file, 'utf8')) as { tokens?: TokenRecord[] }).tokens ?? []) : [];
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify({ tokens: [...existing, record] }, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
  return { token, grant: { id: record.id, tenant, services } };
}
