import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../src/sync/connector.ts';
import { useNetSuiteTarget } from './helpers/netsuite-target.ts';

/*
 * The NetSuite target's open balances (balances.ts) against the simulated account, its documents
 * keyed into the account as a person would: the A/R each customer's transactions posted up to the
 * day asked (that day included), its own only (also where another customer holds a document under
 * the same reference), journal entries against A/R counted for the customer each line names (a
 * write-off, a move between customers), voided transactions as the ledger holds them in both of
 * NetSuite's void modes, deleted ones counting nothing, money on account counted, a customer
 * refund counted as its documents() read tells it, one SuiteQL query per 1,000 customers, and
 * NetSuite's refusal thrown as a ConnectorError.
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
    // A journal entry keyed by hand: no name on its header, each line's account, side and name.
    journal: (tranDate: string, lines: { account: string; debit?: string; credit?: string; entity?: string }[]) =>
      a.upsertJournal(null, '', {
        tranDate,
        line: {
          items: lines.map((l) => ({
            account: { id: l.account },
            ...(l.debit ? { debit: l.debit } : {}),
            ...(l.credit ? { credit: l.credit } : {}),
            ...(l.entity ? { entity: { id: l.entity } } : {}),
          })),
        },
      }).id,
  };
  const account = (type: string) => [...a.chart.values()].find((g) => g.acctType === type)!.id;
  // The chart's A/R account, and a bad-debt expense account a person adds to it.
  const receivable = account('AcctRec');
  a.chart.set('9001', {
    id: '9001',
    acctNumber: '6900',
    acctName: 'Bad Debt Expense',
    acctType: 'Expense',
    isInactive: false,
  });
  const badDebt = '9001';
  const balances = async (ids: string[], asAt: string) =>
    (await target.openBalances!(ctx, ids, asAt)).map((b) => [b.customerTargetId, b.currency, b.balance]);
  const queries = () => s.requests.filter((r) => r.route === '/query/v1/suiteql').length;
  return { s, a, target, ctx, book, balances, queries, receivable, badDebt, bank: account('Bank') };
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

  it('counts a journal entry crediting A/R for the customer its line names, from its day on', async () => {
    const { a, book, balances, receivable, badDebt } = await setup();
    const c = book.customer('C');
    const d = book.customer('D');
    book.invoice('INV-1', c, '100.00', '2026-11-10');
    book.invoice('INV-2', d, '50.00', '2026-11-10');
    // Bad debts written off: expense debited, A/R credited with the customer as the line's name.
    const off = book.journal('2026-11-20', [
      { account: badDebt, debit: '21.00' },
      { account: receivable, credit: '21.00', entity: c },
    ]);
    book.journal('2026-12-05', [
      { account: badDebt, debit: '10.00' },
      { account: receivable, credit: '10.00', entity: c },
    ]);
    // A journal entry has no name on its header: the customer is its A/R line's only.
    expect(a.journals.get(off)?.lines.map((l) => l.entity)).toEqual([null, c]);
    expect(await balances([c], '2026-11-19')).toEqual([[c, 'EUR', 12100n]]);
    expect(await balances([c], '2026-11-20')).toEqual([[c, 'EUR', 10000n]]);
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 10000n]]);
    expect(await balances([c, d], '2026-12-31')).toEqual([
      [c, 'EUR', 9000n],
      [d, 'EUR', 6050n],
    ]);
  });

  it('moves an amount between two customers with a journal entry of two A/R lines', async () => {
    const { book, balances, receivable } = await setup();
    const c = book.customer('C');
    const d = book.customer('D');
    book.invoice('INV-1', c, '100.00', '2026-11-10');
    book.invoice('INV-2', d, '50.00', '2026-11-10');
    // Part of C's debt reclassified to D (say, its parent company): A/R debited for D, credited for C.
    book.journal('2026-11-15', [
      { account: receivable, debit: '30.00', entity: d },
      { account: receivable, credit: '30.00', entity: c },
    ]);
    expect(await balances([c, d], '2026-11-14')).toEqual([
      [c, 'EUR', 12100n],
      [d, 'EUR', 6050n],
    ]);
    expect(await balances([c, d], '2026-11-30')).toEqual([
      [c, 'EUR', 9100n],
      [d, 'EUR', 9050n],
    ]);
    // Asked for one of them alone, each its own side.
    expect(await balances([d], '2026-11-30')).toEqual([[d, 'EUR', 9050n]]);
  });

  it('counts a journal line on A/R for the customer it names only, and no line on another account', async () => {
    const { book, balances, receivable, badDebt, bank } = await setup();
    const c = book.customer('C');
    const d = book.customer('D');
    book.invoice('INV-1', c, '100.00', '2026-11-10');
    book.invoice('INV-2', d, '50.00', '2026-11-10');
    // D's write-off, C named on its expense line: the A/R line is D's, C's line is not on A/R.
    book.journal('2026-11-20', [
      { account: badDebt, debit: '5.00', entity: c },
      { account: receivable, credit: '5.00', entity: d },
    ]);
    // A/R touched with no name on the line: no customer's.
    book.journal('2026-11-21', [
      { account: receivable, debit: '7.00' },
      { account: bank, credit: '7.00' },
    ]);
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', 12100n]]);
    expect(await balances([d], '2026-11-30')).toEqual([[d, 'EUR', 5550n]]);
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

  it('counts an invoice voided directly as at no day, before the void or after', async () => {
    const { a, book, balances } = await setup();
    const c = book.customer('C');
    book.invoice('INV-1', c, '100.00', '2026-11-10');
    const voided = book.invoice('INV-2', c, '10.00', '2026-11-12');
    expect(await balances([c], '2026-11-12')).toEqual([[c, 'EUR', 13310n]]);
    // Voided (reversing journals off, the default): its lines zero, no journal, no day of its own.
    a.void(voided);
    expect(a.journals.size).toBe(0);
    expect(await balances([c], '2026-11-12')).toEqual([[c, 'EUR', 12100n]]);
    expect(await balances([c], '2026-12-31')).toEqual([[c, 'EUR', 12100n]]);
  });

  it('counts a refund voided by reversing journal until the day of the void, and nothing from it', async () => {
    const { a, book, balances, receivable } = await setup();
    const c = book.customer('C');
    book.invoice('INV-1', c, '100.00', '2026-11-10');
    const pay = book.payment('PAY-1', c, '150.00', '2026-11-12');
    const refund = book.refund('RF-1', c, pay, '29.00', '2026-12-01');
    a.reversingJournals = true;
    // With the preference on NetSuite voids no invoice (nor credit memo): there is no Void to press.
    const inv = a.invoices()[0]!.id;
    expect(() => a.void(inv)).toThrow(/cannot void/);
    const journal = a.voidRefund(refund, '2026-12-10');
    // The refund stays as it posted, voided; the voiding journal credits A/R in the customer's name.
    expect([a.refunds.get(refund)?.voided, a.refunds.get(refund)?.apply.get(pay)]).toEqual([true, 2900n]);
    expect([journal?.tranDate, journal?.voidOf]).toEqual(['2026-12-10', refund]);
    expect(journal?.lines.filter((l) => l.account === receivable).map((l) => [l.credit, l.entity])).toEqual([
      [2900n, c],
    ]);
    expect(await balances([c], '2026-11-30')).toEqual([[c, 'EUR', -2900n]]);
    // Until the void the ledger holds the refund: the customer owes back what was refunded.
    expect(await balances([c], '2026-12-01')).toEqual([[c, 'EUR', 0n]]);
    expect(await balances([c], '2026-12-09')).toEqual([[c, 'EUR', 0n]]);
    // From the void's day the money is on account again, counted once.
    expect(await balances([c], '2026-12-10')).toEqual([[c, 'EUR', -2900n]]);
    expect(await balances([c], '2026-12-31')).toEqual([[c, 'EUR', -2900n]]);
  });

  it('counts a refund voided directly as at no day', async () => {
    const { a, book, balances } = await setup();
    const c = book.customer('C');
    book.invoice('INV-1', c, '100.00', '2026-11-10');
    const pay = book.payment('PAY-1', c, '150.00', '2026-11-12');
    const refund = book.refund('RF-1', c, pay, '29.00', '2026-12-01');
    expect(await balances([c], '2026-12-01')).toEqual([[c, 'EUR', 0n]]);
    expect(a.voidRefund(refund, '2026-12-10')).toBeNull();
    expect([a.refunds.get(refund)?.voided, a.journals.size]).toEqual([true, 0]);
    expect(await balances([c], '2026-12-01')).toEqual([[c, 'EUR', -2900n]]);
    expect(await balances([c], '2026-12-31')).toEqual([[c, 'EUR', -2900n]]);
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
