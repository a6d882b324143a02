import { h } from 'preact';
import { DomainError } from '../../domain/errors.ts';
import { TransactionPage, loadTransactionDetail } from '../pages/transaction-detail.tsx';
import { TransactionsPage, TransactionsQuery, loadTransactions } from '../pages/transactions.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendPage } from '../render.ts';

/** GET /transactions (search, newest first, keyset-paged) and /transactions/{id} (journal, allocations, PDF). */
export function registerTransactionPages(d: Dashboard): void {
  const { db } = d.services;
  d.page('/transactions', async (ctx, request, reply) => {
    const data = await loadTransactions(db, ctx.viewer.entity.id, TransactionsQuery.parse(request.query ?? {}));
    return sendPage(reply, h(TransactionsPage, { ctx, data }));
  });
  d.page('/transactions/:id', async (ctx, request, reply) => {
    const { id } = request.params as { id: string };
    // Another entity's transaction is as unknown as one that does not exist.
    const n = /^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : NaN;
    if (!Number.isSafeInteger(n))
      throw new DomainError('NOT_FOUND', `No transaction ${id.slice(0, 20)} in this entity.`);
    const data = await loadTransactionDetail(db, ctx.viewer.entity, n);
    return sendPage(reply, h(TransactionPage, { ctx, data }));
  });
}
