import { h } from 'preact';
import { CustomerPage, CustomersPage, CustomersQuery, loadCustomerDetail, loadCustomers } from '../pages/customers.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendPage } from '../render.ts';

/** GET /customers (search) and /customers/{code} (balance, credit, aging, open items). */
export function registerCustomerPages(d: Dashboard): void {
  const { db } = d.services;
  d.page('/customers', async (ctx, request, reply) => {
    const data = await loadCustomers(db, ctx.viewer.entity.id, CustomersQuery.parse(request.query ?? {}), ctx.now);
    return sendPage(reply, h(CustomersPage, { ctx, data }));
  });
  d.page('/customers/:code', async (ctx, request, reply) => {
    const { code } = request.params as { code: string };
    const data = await loadCustomerDetail(db, ctx.viewer.entity.id, code.slice(0, 100), ctx.now);
    return sendPage(reply, h(CustomerPage, { ctx, data }));
  });
}
