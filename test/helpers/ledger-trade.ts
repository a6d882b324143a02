import type { Database } from '../../src/db/database.ts';
import type { Client } from './app.ts';
import { invoice, postInvoice, postReceipt, receipt } from './ledger.ts';

/*
 * A day's trading in the embedded ledger, for the ledger → platform tests (test/xero-ledger-source
 * and test/quickbooks-ledger-source): invoices, receipts posted with the invoice they pay, a
 * receipt spread over two invoices with part of it left unallocated, and credit notes set against
 * the invoice they credit; and what each invoice and customer owes in the ledger afterwards.
 */

export async function creditNote(c: Client, customerCode: string, net: string) {
  const r = await c.post('/v1/sales/credit-notes', {
    customerCode,
    creditNoteDate: '2026-11-06',
    externalReference: `CN-${Math.random().toString(36).slice(2, 8)}`,
    lines: [{ glAccountCode: '4000', taxCode: 'STD', description: 'Returned', netAmount: net, taxRate: '0.21' }],
  });
  if (r.status !== 201) throw new Error(`credit note failed: ${JSON.stringify(r.body)}`);
  return r.body as { transactionId: number };
}

export async function allocate(c: Client, debit: number, credit: number, amount: string) {
  const r = await c.post('/v1/allocations', {
    transactionId1: debit,
    transactionId2: credit,
    amount,
    date: '2026-11-07',
    reference: 'TEST',
  });
  if (r.status !== 201) throw new Error(`allocation failed: ${JSON.stringify(r.body)}`);
  return r.body as { allocationId: number };
}

/**
 * A day's sales for at least seven customers: three invoices each; the first three pay an invoice
 * at the till (receipt and allocation in one posting); the next two pay 250 spread 100 + 50 over
 * two invoices afterwards, 100 left unallocated; the next two get a credit note of 20 net set in
 * full (24.20) against their third invoice.
 */
export async function trade(c: Client, customers: string[], round: number): Promise<void> {
  const invoices: { id: number; customer: string }[] = [];
  for (const [i, code] of customers.entries())
    for (let k = 0; k < 3; k++)
      invoices.push({ id: (await postInvoice(c, code, `${100 + i * 10 + k + round}`)).transactionId, customer: code });
  for (const code of customers.slice(0, 3)) {
    const r = await c.post('/v1/sales/post-pay-allocate', {
      batchInvoice: invoice(code, '50'),
      receipt: receipt(code, '60.50'),
      performExternalReferenceDuplicateCheckOnInvoice: true,
      performExternalReferenceDuplicateCheckOnReceipt: true,
      performAllocation: true,
      allocationReference: 'TILL',
    });
    if (r.status !== 201) throw new Error(`post-pay-allocate failed: ${JSON.stringify(r.body)}`);
  }
  for (const code of customers.slice(3, 5)) {
    const mine = invoices.filter((x) => x.customer === code);
    const rec = await postReceipt(c, code, '250');
    await allocate(c, mine[0]!.id, rec.transactionId, '100');
    await allocate(c, mine[1]!.id, rec.transactionId, '50');
  }
  for (const code of customers.slice(5, 7)) {
    const mine = invoices.filter((x) => x.customer === code);
    const note = await creditNote(c, code, '20');
    await allocate(c, mine[2]!.id, note.transactionId, '24.20');
  }
}

/** What each customer owes in the ledger, by customer code, in cents. */
export async function ledgerBalances(db: Database, entityId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ customer_code: string; owed: string }>(
    `SELECT customer_code, sum(CASE WHEN side = 'debit' THEN gross ELSE -gross END)::text AS owed
       FROM transactions WHERE entity_id = $1 AND type IN ('SI', 'SN', 'SR') GROUP BY customer_code`,
    [entityId],
  );
  return Object.fromEntries(rows.map((r) => [r.customer_code, Number(r.owed)]));
}

/** Each ledger invoice's outstanding amount, by its ledger reference (`SI-<number>`), in cents. */
export async function ledgerDue(db: Database, entityId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ ref: string; due: string }>(
    `SELECT 'SI-' || t.number AS ref,
            (t.gross - coalesce((SELECT sum(a.amount) FROM allocations a
                                   WHERE a.debit_transaction_id = t.id
                                     AND NOT EXISTS (SELECT 1 FROM allocation_reversals r WHERE r.allocation_id = a.id)), 0))::text AS due
       FROM transactions t WHERE t.entity_id = $1 AND t.type = 'SI'`,
    [entityId],
  );
  return Object.fromEntries(rows.map((r) => [r.ref, Number(r.due)]));
}
