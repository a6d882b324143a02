import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../src/sync/connector.ts';
import { useNetSuiteTarget } from './helpers/netsuite-target.ts';

/*
 * The NetSuite target's open balances (balances.ts) against the simulated account, its documents
 * keyed into the account as a person would: the A/R each customer's transactions posted up to the
 * day asked (that day included), its own only (also where another customer holds a document under
 * the same reference), voided and deleted transactions counting nothing, money on account counted,
 * a customer refund counted as its documents() read tells it, one SuiteQL query per 1,000
 * customers, and NetSuite's refusal thrown as a ConnectorError.
 */

const start = useNetSuiteTarget({ clientId: 'balances-client', certificateId: 'balances-cert' });

async function setup() {
  const { s, target, ctx } = await start();
  const a = s.account;
  const item = [...a.items.values()][0]!.id;
  const vat = a.taxCodes.find((t) => t.rate === '21')!.id;
  // What a person keys into the account: customers, invoices (net plus 21% VAT), credit memos, payments, refunds.
  const book = {
    customer: (code: string) => a.upsertCustomer(null, code, { companyName: code }).id,
    invoice: (externalId: string, customer: string, net: string, tranDate: string) =>
      a.upsertTxn('invoice', null, externalId, {
        entity: { id: customer },
        tranDate,
        item: { items: [{ item: { id: item }, rate: net, quantity: '1', taxCode: { id: vat } }] },
      }).id,
    creditMemo: (externalId: string, customer: string, net: string, tranDate: string) =>
      a.upsertTxn('creditMemo', null, externalId, {
        entity: { id: customer },
        tranDate,
        item: { items: [{ item: { id: item }, rate: net, quantity: '1', taxCode: { id: vat } }] },
      }).id,
    payment: (externalId: string, customer: string, amount: string, tranDate: string, invoice?: string) =>
      a.upsertPayment(null, externalId, {
        customer: { id: customer },
        payment: amount,
        tranDate,
        ...(invoice ? { apply: { items: [{ doc: { id: invoice }, apply: true, amount }] } } : {}),
      }).id,
    refund: (externalId: string, customer: string, payment: string, amount: string, tranDate: string) =>
      a.upsertRefund(null, externalId, {
        customer: { id: customer },
        tranDate,
        apply: { items: [{ doc: { id: payment }, apply: true, amount }] },
      }).id,
  };
  const balances = async (ids: string[], asAt: string) =>
    (await target.openBalances!(ctx, ids, asAt)).map((b) => [b.customerTargetId, b.currency, b.balance]);
  const queries = () => s.requests.filter((r) => r.route === '/query/v1/suiteql').length;
  return { s, a, target, ctx, book, balances, queries };
}

describe('NetSuite open balances', () => {
  it('counts what is dated up to the day asked, that day included, and nothing after', async () => {
    const { book, balances } = await setup();
    const c = book.customer('C');
    const i1 = book.invoice('INV-1', c, '100.00', '2026-11-10');
    book.invoice('INV-2', c, '50.00', '2026-12-03');
    book.payment('PAY-1', c, '50.00', '2026-11-20', i1);
    book.payment('PAY-2', c, '21.00', '2026-12-04');
    expect(await balances([c], '2026-11-09')).toEqual([]);
    expect(await balances([c], '2026-11-10')).toEqual([[c, 'EUR', 12100n]]);
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 7100n]]);
    expect(await balances([c], '2026-12-03')).toEqual([[c, 'EUR', 13150n]]);
    expect(await balances([c], '2026-12-31')).toEqual([[c, 'EUR', 11050n]]);
  });

  it('answers for the customers asked only, each its own, also under a reference another customer holds', async () => {
    const { a, book, balances } = await setup();
    const c = book.customer('C');
    const d = book.customer('D');
    const idle = book.customer('E');
    book.invoice('INV-1', c, '100.00', '2026-11-10');
    // D's invoice under the same reference: its external id carries its customer (documents.ts).
    book.invoice(`INV-1__c${d}`, d, '50.00', '2026-11-10');
    book.creditMemo('CN-1', d, '10.00', '2026-11-11');
    expect(a.invoices().map((t) => t.externalId)).toEqual(['INV-1', `INV-1__c${d}`]);
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 12100n]]);
    expect(await balances([d], '2026-11-30')).toEqual([[d, 'EUR', 4840n]]);
    // Ids that cannot be NetSuite's are left out; a customer with nothing has no row.
    expect(await balances([d, 'CUST-9', c, '', idle, c], '2026-11-30')).toEqual([
      [c, 'EUR', 12100n],
      [d, 'EUR', 4840n],
    ]);
    expect(await balances(['not-an-id'], '2026-11-30')).toEqual([]);
  });

  it('counts nothing of an invoice voided or deleted in NetSuite', async () => {
    const { a, book, balances } = await setup();
    const c = book.customer('C');
    book.invoice('INV-1', c, '100.00', '2026-11-10');
    const voided = book.invoice('INV-2', c, '10.00', '2026-11-10');
    const deleted = book.invoice('INV-3', c, '20.00', '2026-11-10');
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 15730n]]);
    a.void(voided);
    a.txns.delete(deleted);
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 12100n]]);
  });

  it('counts money on account, and a refund of it as its documents() read tells the refund', async () => {
    const { book, balances, target, ctx } = await setup();
    const c = book.customer('C');
    book.invoice('INV-1', c, '100.00', '2026-11-10');
    const pay = book.payment('PAY-1', c, '150.00', '2026-11-12');
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', -2900n]]);
    const refund = book.refund('RF-1', c, pay, '29.00', '2026-12-01');
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', -2900n]]);
    expect(await balances([c], '2026-12-01')).toEqual([[c, 'EUR', 0n]]);
    // The source side adds a refund as documents() reports it, asked alone: the same amount.
    const [read] = [...(await target.documents!(ctx, [refund], { kind: 'refund' })).values()];
    expect([read?.kind, read?.balanceEffect ?? read?.gross]).toEqual(['refund', 2900n]);
  });

  it('asks one SuiteQL query per 1,000 customers', async () => {
    const { book, balances, queries } = await setup();
    const customers = Array.from({ length: 1500 }, (_, i) => book.customer(`C${i}`));
    for (const [i, c] of customers.entries()) book.invoice(`INV-${i}`, c, '10.00', '2026-11-10');
    const before = queries();
    const got = await balances(customers, '2026-11-30');
    expect(got).toHaveLength(1500);
    expect(new Set(got.map(([id]) => id))).toEqual(new Set(customers));
    expect(got.every(([, currency, balance]) => currency === 'EUR' && balance === 1210n)).toBe(true);
    expect(queries() - before).toBe(2);
  });

  it('throws NetSuite’s refusal and its lost answers as ConnectorErrors, retryable where they are', async () => {
    const { s, book, balances } = await setup();
    const c = book.customer('C');
    book.invoice('INV-1', c, '100.00', '2026-11-10');
    s.failNext(400);
    const refused = await balances([c], '2026-11-30').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectorError);
    expect([(refused as ConnectorError).status, (refused as ConnectorError).retryable]).toEqual([400, false]);
    expect((refused as ConnectorError).message).toMatch(/SuiteQL query was refused \(400 UNEXPECTED_ERROR/);
    s.failNext(500);
    const failed = await balances([c], '2026-11-30').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectorError);
    expect((failed as ConnectorError).retryable).toBe(true);
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 12100n]]);
  });
});
