import { h } from 'preact';
import { CustomerPage, CustomersPage, CustomersQuery, loadCustomerDetail, loadCustomers } from '../pages/customers.tsx';
import { AgedDebtorsPage, AgedDebtorsQuery, loadAgedDebtors } from '../pages/aged-debtors.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendPage } from '../render.ts';

/** GET /customers (search), /customers/{code} (balance, credit, aging, open items) and /aged-debtors. */
export function registerCustomerPages(d: Dashboard): void {
  const { db } = d.services;
  d.page('/customers', async (ctx, request, reply) => {
    const data = await loadCustomers(db, ctx.viewer.entity.id, CustomersQuery.parse(request.query ?? {}), ctx.now);
    return sendPage(reply, h(CustomersPage, { ctx, data }));
  });
  d.page('/aged-debtors', async (ctx, request, reply) => {
    const query = AgedDebtorsQuery.parse(request.query ?? {});
    const data = await loadAgedDebtors(db, ctx.viewer.entity.id, query, ctx.now);
    return sendPage(reply, h(AgedDebtorsPage, { ctx, data }));
  });
  d.page('/customers/:code', async (ctx, request, reply) => {
    const { code } = request.params as { code: string };
    const data = await loadCustomerDetail(db, ctx.viewer.entity.id, code.slice(0, 100), ctx.now);
    return sendPage(reply, h(CustomerPage, { ctx, data }));
  });
}
