import { describe, expect, it } from 'vitest';
import { ConnectorError } from '../src/sync/connector.ts';
import { useNetSuiteTarget } from './helpers/netsuite-target.ts';

/*
 * The NetSuite target's documents no pipeline booked (reads.ts `unlinkedDocuments`) against the
 * simulated account, its documents keyed in as a person would: the window's days both included
 * and none outside, the customers asked (and any customer's under a reference asked), none of the
 * linked ids, nothing voided or deleted, each kind as documents() reads it, one SuiteQL query per
 * 1,000 customers and per 1,000 references paged to the end, and NetSuite's refusal thrown as a
 * ConnectorError.
 */

const start = useNetSuiteTarget({ clientId: 'unlinked-client', certificateId: 'unlinked-cert' });

async function setup() {
  const { s, target, ctx } = await start();
  const a = s.account;
  const item = [...a.items.values()][0]!.id;
  const vat = a.taxCodes.find((t) => t.rate === '21')!.id;
  const lines = (net: string) => ({ items: [{ item: { id: item }, rate: net, quantity: '1', taxCode: { id: vat } }] });
  // What a person keys into the account: customers, invoices (net plus 21% VAT), credit memos, payments, refunds.
  const book = {
    customer: (code: string) => a.upsertCustomer(null, code, { companyName: code }).id,
    invoice: (externalId: string, customer: string, net: string, tranDate: string) =>
      a.upsertTxn('invoice', null, externalId, { entity: { id: customer }, tranDate, item: lines(net) }).id,
    creditMemo: (externalId: string, customer: string, net: string, tranDate: string) =>
      a.upsertTxn('creditMemo', null, externalId, { entity: { id: customer }, tranDate, item: lines(net) }).id,
    payment: (externalId: string, customer: string, amount: string, tranDate: string) =>
      a.upsertPayment(null, externalId, { customer: { id: customer }, payment: amount, tranDate }).id,
    refund: (externalId: string, customer: string, payment: string, amount: string, tranDate: string) =>
      a.upsertRefund(null, externalId, {
        customer: { id: customer },
        tranDate,
        apply: { items: [{ doc: { id: payment }, apply: true, amount }] },
      }).id,
  };
  const unlinked = async (
    customerTargetIds: string[],
    from: string,
    to: string,
    o: { references?: string[]; linked?: string[] } = {},
  ) =>
    (
      await target.unlinkedDocuments!(
        ctx,
        { customerTargetIds, references: o.references ?? [], linkedTargetIds: o.linked ?? [] },
        from,
        to,
      )
    ).sort((x, y) => Number(x.targetId) - Number(y.targetId));
  const ids = async (...args: Parameters<typeof unlinked>) => (await unlinked(...args)).map((d) => d.targetId);
  const queries = () => s.requests.filter((r) => r.route === '/query/v1/suiteql').length;
  return { s, a, target, ctx, book, unlinked, ids, queries };
}

describe('NetSuite documents no pipeline booked', () => {
  it('reads the window’s first and last days, and nothing the day before or the day after', async () => {
    const { book, ids } = await setup();
    const c = book.customer('C');
    book.invoice('INV-0', c, '10.00', '2026-10-31');
    const first = book.invoice('INV-1', c, '10.00', '2026-11-01');
    const middle = book.payment('PAY-1', c, '5.00', '2026-11-15');
    const last = book.creditMemo('CN-1', c, '10.00', '2026-11-30');
    book.invoice('INV-2', c, '10.00', '2026-12-01');
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual([first, middle, last]);
  });

  it('reads the customers asked only, and any customer’s document under a reference asked', async () => {
    const { book, ids } = await setup();
    const c = book.customer('C');
    const d = book.customer('D');
    const e = book.customer('E');
    const mine = book.invoice('INV-1', c, '10.00', '2026-11-10');
    const theirs = book.invoice('INV-2', d, '10.00', '2026-11-10');
    const referenced = book.payment('PAY-9', e, '10.00', '2026-11-10');
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual([mine]);
    expect(await ids([c], '2026-11-01', '2026-11-30', { references: ['PAY-9', 'NOT-HELD'] })).toEqual([
      mine,
      referenced,
    ]);
    // Under a reference, still only in the window.
    expect(await ids([], '2026-12-01', '2026-12-31', { references: ['PAY-9'] })).toEqual([]);
    // Ids and references that cannot be NetSuite's go into no query; nothing asked, nothing read.
    expect(await ids(['CUST-9', ''], '2026-11-01', '2026-11-30', { references: ["x' OR 1=1", ''] })).toEqual([]);
    expect(await ids([d, c, d], '2026-11-01', '2026-11-30')).toEqual([mine, theirs]);
  });

  it('leaves out the ids pipelines booked', async () => {
    const { book, ids } = await setup();
    const c = book.customer('C');
    const booked = book.invoice('INV-1', c, '10.00', '2026-11-10');
    const hand = book.invoice('INV-2', c, '10.00', '2026-11-10');
    const pay = book.payment('PAY-1', c, '10.00', '2026-11-11');
    expect(await ids([c], '2026-11-01', '2026-11-30', { linked: [booked, pay, '999999'] })).toEqual([hand]);
    expect(await ids([c], '2026-11-01', '2026-11-30', { references: ['INV-1'], linked: [booked] })).toEqual([
      hand,
      pay,
    ]);
  });

  it('leaves out what was voided or deleted in NetSuite', async () => {
    const { a, book, ids } = await setup();
    const c = book.customer('C');
    const kept = book.invoice('INV-1', c, '10.00', '2026-11-10');
    const voided = book.invoice('INV-2', c, '10.00', '2026-11-10');
    const deleted = book.creditMemo('CN-1', c, '10.00', '2026-11-10');
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual([kept, voided, deleted]);
    a.void(voided);
    a.txns.delete(deleted);
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual([kept]);
    expect(await ids([], '2026-11-01', '2026-11-30', { references: ['INV-2', 'CN-1'] })).toEqual([]);
  });

  it('reads each kind with its gross and customer, as documents() reads it', async () => {
    const { book, unlinked, target, ctx } = await setup();
    const c = book.customer('C');
    const d = book.customer('D');
    const inv = book.invoice('INV-1', c, '100.00', '2026-11-10');
    const cn = book.creditMemo('CN-1', d, '10.00', '2026-11-11');
    const pay = book.payment('PAY-1', c, '150.00', '2026-11-12');
    const refund = book.refund('RF-1', c, pay, '29.00', '2026-11-13');
    const got = await unlinked([c, d], '2026-11-01', '2026-11-30');
    expect(got.map((x) => [x.targetId, x.kind, x.customerTargetId, x.externalReference, x.gross])).toEqual([
      [inv, 'invoice', c, 'INV-1', 12100n],
      // As documents() reads a credit memo: NetSuite's total, negative (reconciliation takes its size).
      [cn, 'creditNote', d, 'CN-1', -1210n],
      [pay, 'payment', c, 'PAY-1', 15000n],
      [refund, 'refund', c, 'RF-1', 2900n],
    ]);
    const read = await target.documents!(ctx, [inv, cn, pay, refund]);
    expect(got).toEqual([inv, cn, pay, refund].map((id) => read.get(id)));
  });

  it('reads the reference of a document booked under another customer’s reference without its customer', async () => {
    const { book, unlinked } = await setup();
    const c = book.customer('C');
    const d = book.customer('D');
    book.invoice('INV-1', c, '10.00', '2026-11-10');
    const shared = book.invoice(`INV-1__c${d}`, d, '20.00', '2026-11-10');
    const got = await unlinked([d], '2026-11-01', '2026-11-30');
    expect(got.map((x) => [x.targetId, x.externalReference, x.customerTargetId])).toEqual([[shared, 'INV-1', d]]);
  });

  it('asks one SuiteQL query per 1,000 customers and per 1,000 references', async () => {
    const { book, ids, queries } = await setup();
    const customers = Array.from({ length: 1500 }, (_, i) => book.customer(`C${i}`));
    const other = book.customer('OTHER');
    const docs = customers.map((c, i) => book.invoice(`INV-${i}`, c, '10.00', '2026-11-10'));
    const referenced = book.invoice('REF-1499', other, '10.00', '2026-11-10');
    let before = queries();
    expect(await ids(customers, '2026-11-01', '2026-11-30')).toEqual(docs);
    expect(queries() - before).toBe(2);
    const references = Array.from({ length: 1500 }, (_, i) => `REF-${i}`);
    before = queries();
    expect(await ids(customers.slice(0, 10), '2026-11-01', '2026-11-30', { references })).toEqual([
      ...docs.slice(0, 10),
      referenced,
    ]);
    expect(queries() - before).toBe(3);
  });

  it('follows the pages of a query to the end', async () => {
    const { book, ids, queries } = await setup();
    const c = book.customer('C');
    const docs = Array.from({ length: 2100 }, (_, i) => book.payment(`PAY-${i}`, c, '1.00', '2026-11-10'));
    const before = queries();
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual(docs);
    expect(queries() - before).toBe(3);
  });

  it('throws NetSuite’s refusal, and a day that is no date, as ConnectorErrors', async () => {
    const { s, book, ids, queries } = await setup();
    const c = book.customer('C');
    const inv = book.invoice('INV-1', c, '10.00', '2026-11-10');
    s.failNext(400);
    const refused = await ids([c], '2026-11-01', '2026-11-30').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectorError);
    expect([(refused as ConnectorError).status, (refused as ConnectorError).retryable]).toEqual([400, false]);
    expect((refused as ConnectorError).message).toMatch(/SuiteQL query was refused \(400 UNEXPECTED_ERROR/);
    const before = queries();
    const bad = await ids([c], "2026-11-01') OR (1=1", '2026-11-30').catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConnectorError);
    expect((bad as ConnectorError).message).toMatch(/not a date/);
    expect(queries()).toBe(before);
    expect(await ids([c], '2026-11-01', '2026-11-30')).toEqual([inv]);
  });
});
