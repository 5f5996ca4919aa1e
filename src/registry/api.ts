/** The Registry's admin API (mTLS, admin identities only). */
import { errors } from '../errors.js';
import type { Route } from '../http/index.js';
import type { TenantRegistry } from './registry.js';

export function registryRoutes(
  registry: TenantRegistry,
  admins: ReadonlySet<string>,
  status: () => Promise<unknown>,
): Route[] {
  const allow = (id: string) => admins.has(id);
  const p = (params: Record<string, string>, name: string) => params[name] ?? '';
  return [
    { method: 'GET', path: '/v1/registry/tenants', allow, handler: async () => ({ tenants: await registry.list() }) },
    {
      method: 'POST',
      path: '/v1/registry/tenants/:tenant',
      allow,
      handler: (ctx) => registry.onboard(p(ctx.params, 'tenant')),
    },
    {
      method: 'DELETE',
      path: '/v1/registry/tenants/:tenant',
      allow,
      handler: (ctx) => registry.offboard(p(ctx.params, 'tenant')),
    },
    {
      method: 'POST',
      path: '/v1/registry/tenants/:tenant/services/:service',
      allow,
      handler: (ctx) => {
        const body = ctx.body ?? {};
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw errors.badRequest('body must be an object {rotateAfterSeconds?}');
        for (const k of Object.keys(body))
          if (k !== 'rotateAfterSeconds') throw errors.badRequest(`unknown field "${k}"`);
        return registry.defineScope(
          p(ctx.params, 'tenant'),
          p(ctx.params, 'service'),
          (body as { rotateAfterSeconds?: unknown }).rotateAfterSeconds,
        );
      },
    },
    {
      method: 'DELETE',
      path: '/v1/registry/tenants/:tenant/services/:service',
      allow,
      handler: (ctx) => registry.deleteScope(p(ctx.params, 'tenant'), p(ctx.params, 'service')),
    },
    { method: 'GET', path: '/v1/registry/status', allow, handler: status },
  ];
}
