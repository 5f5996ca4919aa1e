/** The CMK Server's admin API (mTLS, admin identities only). */
import { errors } from '../errors.js';
import type { Route } from '../http/index.js';
import type { LinkManager } from './links.js';

export function cmkRoutes(links: LinkManager, admins: ReadonlySet<string>, status: () => Promise<unknown>): Route[] {
  const allow = (id: string) => admins.has(id);
  return [
    { method: 'GET', path: '/v1/cmk/links', allow, handler: async () => ({ links: await links.links() }) },
    {
      method: 'POST',
      path: '/v1/cmk/tenants/:tenant/l1',
      allow,
      handler: (ctx) => {
        const body = ctx.body;
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw errors.badRequest('body must be an object {kind, ref}');
        for (const k of Object.keys(body))
          if (k !== 'kind' && k !== 'ref') throw errors.badRequest(`unknown field "${k}"`);
        const { kind, ref } = body as { kind?: unknown; ref?: unknown };
        return links.link(ctx.params.tenant ?? '', kind, ref);
      },
    },
    {
      method: 'DELETE',
      path: '/v1/cmk/tenants/:tenant/l1',
      allow,
      handler: (ctx) => links.unlink(ctx.params.tenant ?? ''),
    },
    { method: 'GET', path: '/v1/cmk/status', allow, handler: status },
  ];
}
