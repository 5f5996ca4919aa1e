/**
 * Failed lease fetches remembered per (tenant, service) for a short while,
 * so a flood of requests naming services the Core refuses is answered from
 * memory. Bounded per tenant: when full, the oldest failure goes first.
 */
import type { KryptonError } from '../errors.js';

interface Miss {
  error: KryptonError;
  until: number;
}

export class MissCache {
  private readonly byTenant = new Map<string, Map<string, Miss>>();

  constructor(private readonly maxPerTenant: number) {}

  /** The remembered failure, or null when there is none or it is over. */
  get(tenant: string, service: string, now: number): KryptonError | null {
    const services = this.byTenant.get(tenant);
    const m = services?.get(service);
    if (m === undefined) return null;
    if (now < m.until) return m.error;
    services!.delete(service);
    if (services!.size === 0) this.byTenant.delete(tenant);
    return null;
  }

  set(tenant: string, service: string, error: KryptonError, until: number): void {
    let services = this.byTenant.get(tenant);
    if (services === undefined) this.byTenant.set(tenant, (services = new Map<string, Miss>()));
    services.delete(service); // re-inserted last: Map order is age order
    if (services.size >= this.maxPerTenant) services.delete(services.keys().next().value!);
    services.set(service, { error, until });
  }

  forgetTenant(tenant: string): void {
    this.byTenant.delete(tenant);
  }

  clear(): void {
    this.byTenant.clear();
  }

  size(): number {
    let n = 0;
    for (const s of this.byTenant.values()) n += s.size;
    return n;
  }
}
