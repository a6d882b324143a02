import { h } from 'preact';
import { DomainError } from '../../domain/errors.ts';
import { recordAudit } from '../../ledger/audit.ts';
import { reversalAudit, reverseGeneralJournal } from '../../ledger/posting/journal-reversal.ts';
import { TransactionPage, loadTransactionDetail } from '../pages/transaction-detail.tsx';
import { TransactionsPage, TransactionsQuery, loadTransactions } from '../pages/transactions.tsx';
import type { Dashboard } from '../plugin.ts';
import { sendPage } from '../render.ts';
import { assertMayChange } from '../session.ts';

/** A transaction id from the address; anything else is as unknown as one that does not exist. */
function transactionId(id: string): number {
  const n = /^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : NaN;
  if (!Number.isSafeInteger(n)) throw new DomainError('NOT_FOUND', `No transaction ${id.slice(0, 20)} in this entity.`);
  return n;
}

/** The reversal date a form sent (the ledger checks it is a date); the journal's own when left empty. */
function reversalDate(body: unknown): string | undefined {
  const date = (body as Record<string, unknown> | null)?.date;
  if (date === undefined || date === '') return undefined;
  if (typeof date !== 'string')
    throw new DomainError('VALIDATION_ERROR', 'Give one reversal date.', [{ field: 'date', message: 'not one date' }]);
  return date;
}

/**
 * GET /transactions (search, newest first, keyset-paged), /transactions/{id} (journal, allocations,
 * PDF, a receipt's fee, a journal's reversal) and POST /transactions/{id}/reverse ("Reverse journal").
 */
export function registerTransactionPages(d: Dashboard): void {
  const { db } = d.services;
  d.page('/transactions', async (ctx, request, reply) => {
    const data = await loadTransactions(db, ctx.viewer.entity.id, TransactionsQuery.parse(request.query ?? {}));
    return sendPage(reply, h(TransactionsPage, { ctx, data }));
  });
  d.page('/transactions/:id', async (ctx, request, reply) => {
    // Another entity's transaction is as unknown as one that does not exist.
    const n = transactionId((request.params as { id: string }).id);
    const data = await loadTransactionDetail(db, ctx.viewer.entity, n);
    return sendPage(reply, h(TransactionPage, { ctx, data }));
  });
  // "Reverse journal" (POST /v1/journals/{id}/reverse): then the reversal's page.
  d.action('/transactions/:id/reverse', async (ctx, request, reply) => {
    assertMayChange(request, d.services, ctx.viewer, 'accountant');
    const id = transactionId((request.params as { id: string }).id);
    const date = reversalDate(request.body);
    const reversed = await db.transaction(async (tx) => {
      const posted = await reverseGeneralJournal({ db: tx, entity: ctx.viewer.entity, actor: ctx.viewer.actor }, id, {
        date,
      });
      await recordAudit(tx, { entityId: ctx.viewer.entity.id, actor: ctx.viewer.actor, ...reversalAudit(id, posted) });
      return posted;
    });
    const next = `/transactions/${reversed.id}`;
    if (request.headers['hx-request']) return reply.status(200).header('hx-redirect', next).send('');
    return reply.redirect(next, 303);
  });
}
