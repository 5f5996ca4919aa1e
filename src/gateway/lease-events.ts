/**
 * What each Core event does to the lease cache. Handlers are idempotent:
 * after a reconnect the stream may replay events we already applied. Every
 * change to a scope goes through the target, which applies each one on its
 * own: one scope that fails to drop cannot keep the others serving.
 */
import type { CoreEvent } from '../protocol/core-events.js';
import type { ScopeEntry } from './scope-entry.js';

/** The parts of the cache an event may touch. */
export interface EventTarget {
  find(tenant: string, service: string): ScopeEntry | undefined;
  tenantEntries(tenant: string): ScopeEntry[];
  /** Every scope held or being fetched. */
  allEntries(): ScopeEntry[];
  /** Fetch a fresh lease in the background (single-flight). */
  refresh(e: ScopeEntry): void;
  /** Zeroize the scope and forget it. */
  drop(e: ScopeEntry): void;
  /** Destroy one version's key now; a fetch in flight cannot bring it back. */
  revokeVersion(e: ScopeEntry, version: number): void;
  revokeTenant(tenant: string): void;
  /** Lifts revokeTenant and the failures remembered for the tenant. */
  restoreTenant(tenant: string): void;
  /** Forgets remembered fetch failures of a tenant (null: of every tenant). */
  forgetFailures(tenant: string | null): void;
}

/** Applies one event; true when it took a key away from a scope we held (counted as a revocation delay). */
export function applyEvent(target: EventTarget, ev: CoreEvent): boolean {
  switch (ev.type) {
    case 'revocation': {
      if (ev.tenant === null || ev.service === null || ev.version === null) return false;
      const e = target.find(ev.tenant, ev.service);
      if (e === undefined) return false;
      const held = e.ref !== null && e.versions.has(ev.version);
      // Destroy now; with a fetch in flight the tombstone also stops that lease from binding it.
      target.revokeVersion(e, ev.version);
      return held;
    }
    case 'rotation': {
      if (ev.tenant === null || ev.service === null) return false;
      const e = target.find(ev.tenant, ev.service);
      if (e === undefined) return false;
      e.wantEpoch = Math.max(e.wantEpoch, ev.epoch);
      if (e.ref !== null) target.refresh(e);
      return false;
    }
    case 'tenant.revoked': {
      if (ev.tenant === null) return false;
      target.revokeTenant(ev.tenant);
      target.forgetFailures(ev.tenant);
      return dropAll(target, target.tenantEntries(ev.tenant));
    }
    case 'tenant.restored':
      // Relinked: drop the refusals remembered for it, so its next request leases again now.
      if (ev.tenant !== null) target.restoreTenant(ev.tenant);
      return false;
    case 'serving.paused':
      // The Core's deadman switch: no key may be served until it resumes,
      // so nothing leased before may be either. The next request asks the
      // Core, which answers KEY_UNAVAILABLE until it hears its CMK Server.
      return dropAll(target, target.allEntries());
    case 'serving.resumed':
      target.forgetFailures(null);
      return false;
    case 'scope.deleted': {
      if (ev.tenant === null || ev.service === null) return false;
      const e = target.find(ev.tenant, ev.service);
      if (e !== undefined) target.drop(e);
      return false;
    }
    default:
      return false;
  }
}

/** Drops each entry (the target applies each drop on its own); true when one of them was held. */
function dropAll(target: EventTarget, entries: ScopeEntry[]): boolean {
  let held = false;
  for (const e of entries) {
    held ||= e.ref !== null;
    target.drop(e);
  }
  return held;
}
