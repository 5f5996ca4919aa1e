/** What an operation needs: the caller's tenant, the lease cache, bulk threads, and the connection's fetch budget. */
import type { ScopeRef } from '../../native/index.js';
import type { BulkPool } from '../bulk.js';
import type { LeaseCache } from '../lease-cache.js';
import type { LeaseBudget } from './lease-budget.js';

export interface OpContext {
  tenant: string;
  cache: LeaseCache;
  bulk: BulkPool | null;
  budget: LeaseBudget;
}

/** The leased scope now, or a promise of it (fetched under the connection's budget). */
export function leasedScope(ctx: OpContext, service: string): ScopeRef | Promise<ScopeRef> {
  return ctx.cache.scopeSync(ctx.tenant, service) ?? ctx.budget.run(() => ctx.cache.scope(ctx.tenant, service));
}
