/**
 * What each Core event does to the lease cache. Handlers are idempotent:
 * after a reconnect the stream may replay events we already applied.
 */
import type { CoreEvent } from './event-follower.js';
import { revokeVersion, type ScopeEntry } from './scope-entry.js';

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
  revokeTenant(tenant: string): void;
  /** Lifts revokeTenant. */
  restoreTenant(tenant: string): void;
}

/** Applies one event; true when it took a key away from a scope we held (counted as a revocation delay). */
export function applyEvent(target: EventTarget, ev: CoreEvent): boolean {
  switch (ev.type) {
    case 'revocation': {
      if (ev.tenant === null || ev.service === null || ev.version === null) return false;
      const e = target.find(ev.tenant, ev.service);
      if (e === undefined) return false;
      const held = e.ref !== null && e.versions.has(ev.version);
      if (e.ref !== null || e.inflight !== null) {
        // Destroy now; with a fetch in flight the tombstone also stops that lease from binding it.
        revokeVersion(e, ev.version);
      } else {
        // Nothing bound: remember it without creating a native scope for it.
        e.revoked.add(ev.version);
      }
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
      let held = false;
      for (const e of target.tenantEntries(ev.tenant)) {
        held ||= e.ref !== null;
        target.drop(e);
      }
      return held;
    }
    case 'tenant.restored': {
      // Relinked: drop the refusals cached for it, so its next request leases again now.
      if (ev.tenant === null) return false;
      target.restoreTenant(ev.tenant);
      for (const e of target.tenantEntries(ev.tenant)) if (e.ref === null) target.drop(e);
      return false;
    }
    case 'serving.paused': {
      // The Core's deadman switch: no key may be served until it resumes,
      // so nothing leased before may be either. The next request asks the
      // Core, which answers KEY_UNAVAILABLE until it hears its CMK Server.
      let held = false;
      for (const e of target.allEntries()) {
        held ||= e.ref !== null;
        target.drop(e);
      }
      return held;
    }
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
