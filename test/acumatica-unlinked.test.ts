import { beforeAll, describe, expect, it } from 'vitest';
import type { AcumaticaSimulator } from '../src/connectors/acumatica/simulator.ts';
import { BALANCE_PAGE, CUSTOMERS_PER_REQUEST } from '../src/connectors/acumatica/balances.ts';
import { REFERENCES_PER_REQUEST } from '../src/connectors/acumatica/reads.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetCallContext, TargetConnector, TargetDocument } from '../src/sync/target.ts';
import { specValidator } from './helpers/openapi-requests.ts';
import {
  directCustomer,
  directInvoice as invoice,
  directPayment as payment,
  targetIdOf,
} from './helpers/direct-target.ts';
import { useAcumaticaTarget } from './helpers/acumatica-target.ts';

/*
 * Documents in Acumatica that no pipeline booked (the target's `unlinkedDocuments`), against the
 * simulated instance: released invoices, credit memos, payments and refunds of the customers asked,
 * dated in the window (both ends included); what any pipeline booked, unreleased, voided and other
 * types left out; customers batched and documents paged as the open balances read them, every
 * request checked against the official contract; Acumatica's errors as ConnectorErrors.
 */

const validate = specValidator('test/acumatica-unlinked.test.ts', 'acumatica/Default_24.200.001.openapi.json');
const PASSWORD = 'acu-unlinked-SECRET-0123456789';
const FROM = '2026-11-01';
const TO = '2026-11-30';
const w = (value: unknown) => ({ value });
const at = (date: string) => w(`${date}T00:00:00+00:00`);
let sim: AcumaticaSimulator;
let ctx: TargetCallContext;
let target: TargetConnector;
useAcumaticaTarget({ validate, password: PASSWORD, pipelineName: 'acu-unlinked' }, (t) => ({ sim, ctx, target } = t));

/** An invoice or credit memo a person keys in Acumatica (Invoices and Memos): one line at 21%, released unless told; its id. */
function keyDoc(
  type: 'Invoice' | 'Credit Memo',
  customer: string,
  ref: string,
  date: string,
  net: string,
  release = true,
) {
  const put = sim.books.putInvoice({
    Type: w(type),
    Customer: w(customer),
    Date: at(date),
    CustomerOrder: w(ref),
    Hold: w(false),
    Details: [{ Qty: w('1'), UnitPrice: w(net), TaxCategory: w('STANDARD') }],
  });
  expect(put.status).toBe(200);
  const key = `${type}/${(put.body.ReferenceNbr as { value: string }).value}`;
  if (release) expect(sim.books.releaseDocument(key)).toBeNull();
  return key;
}

/** A payment, refund or prepayment a person keys in Acumatica (Payments and Applications), released; its id. */
function keyPayment(
  type: 'Payment' | 'Refund' | 'Prepayment',
  customer: string,
  ref: string,
  date: string,
  amount: string,
  applyTo?: string,
) {
  const put = sim.books.putPayment({
    Type: w(type),
    CustomerID: w(customer),
    ApplicationDate: at(date),
    PaymentRef: w(ref),
    PaymentAmount: w(amount),
    CashAccount: w('10200'),
    Hold: w(false),
    ...(applyTo
      ? {
          DocumentsToApply: [
            { DocType: w(applyTo.split('/')[0]), ReferenceNbr: w(applyTo.split('/')[1]), AmountPaid: w(amount) },
          ],
        }
      : {}),
  });
  expect(put.status).toBe(200);
  const key = `${type}/${(put.body.ReferenceNbr as { value: string }).value}`;
  expect(sim.books.releasePayment(key)).toBeNull();
  return key;
}

async function customers(...codes: string[]) {
  const r = await target.upsertCustomers(
    ctx,
    codes.map((c) => directCustomer(c, `Customer ${c}`)),
  );
  return r.map(targetIdOf);
}
const unlinked = (ids: string[], linked: string[], from = FROM, to = TO, references: string[] = []) =>
  target.unlinkedDocuments!(ctx, { customerTargetIds: ids, references, linkedTargetIds: linked }, from, to);
/** What was found, as [reference, kind, customer, date, gross], by reference. */
const rows = (docs: TargetDocument[]) =>
  docs
    .map((d) => [d.externalReference, d.kind, d.customerTargetId, d.date, d.gross])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
/** Requests under the endpoint (sign-in and sign-out are not) that `fn` makes. */
async function requests<T>(fn: () => Promise<T>): Promise<{ value: T; n: number }> {
  const before = sim.stats.counted;
  const value = await fn();
  return { value, n: sim.stats.counted - before };
}

let a = '';
let b = '';
let c = '';
const booked: string[] = [];

describe('unlinkedDocuments', () => {
  beforeAll(async () => {
    [a, b, c] = (await customers('UL-A', 'UL-B', 'UL-C')) as [string, string, string];
    // What the pipeline booked for A: I1 and its payment P1.
    const [i1] = (await target.createInvoices(ctx, [invoice('UL-I1', a, '100.00', '0.21', '2026-11-02')])).map(
      targetIdOf,
    );
    const [p1] = (await target.createPayments!(ctx, [payment('UL-P1', a, i1!, '50.00', { date: '2026-11-03' })])).map(
      targetIdOf,
    );
    booked.push(i1!, p1!);
    // Keyed in Acumatica by hand for A: invoices on the window's ends and the days either side, a
    // credit memo, a payment and a refund in the window.
    keyDoc('Invoice', a, 'H-FROM', FROM, '10.00');
    keyDoc('Invoice', a, 'H-TO', TO, '20.00');
    keyDoc('Invoice', a, 'H-BEFORE', '2026-10-31', '30.00');
    keyDoc('Invoice', a, 'H-AFTER', '2026-12-01', '40.00');
    keyDoc('Credit Memo', a, 'H-NOTE', '2026-11-10', '5.00');
    // The refund pays back part of what the payment holds unapplied.
    keyPayment('Refund', a, 'H-REFUND', '2026-11-13', '4.00', keyPayment('Payment', a, 'H-PAY', '2026-11-12', '30.00'));
    // Not in the books: an unreleased invoice, a voided one, a voided payment (and its Voided Payment).
    keyDoc('Invoice', a, 'H-SAVED', '2026-11-14', '60.00', false);
    sim.books.voidInvoice(keyDoc('Invoice', a, 'H-VOIDED', '2026-11-15', '70.00'));
    sim.books.voidPayment(keyPayment('Payment', a, 'H-PAY-VOIDED', '2026-11-16', '8.00'), '2026-11-17');
    // A type the connector does not book.
    keyPayment('Prepayment', a, 'H-PREPAY', '2026-11-18', '9.00');
    // B's invoice; C (not the pipeline's) under one of the pipeline's references.
    keyDoc('Invoice', b, 'H-B', '2026-11-15', '50.00');
    keyDoc('Invoice', c, 'UL-I1', '2026-11-15', '90.00');
  });

  it('names the invoices, credit memos, payments and refunds of the customers asked dated in the window, both ends included', async () => {
    expect(rows(await unlinked([a, b], booked))).toEqual([
      ['H-B', 'invoice', b, '2026-11-15', 6050n],
      ['H-FROM', 'invoice', a, FROM, 1210n],
      ['H-NOTE', 'creditNote', a, '2026-11-10', 605n],
      ['H-PAY', 'payment', a, '2026-11-12', 3000n],
      ['H-REFUND', 'refund', a, '2026-11-13', 400n],
      ['H-TO', 'invoice', a, TO, 2420n],
    ]);
    expect(rows(await unlinked([a, b], booked, '2026-10-31', '2026-10-31'))).toEqual([
      ['H-BEFORE', 'invoice', a, '2026-10-31', 3630n],
    ]);
    expect(rows(await unlinked([a, b], booked, '2026-12-01', '2026-12-01'))).toEqual([
      ['H-AFTER', 'invoice', a, '2026-12-01', 4840n],
    ]);
  });

  it('reads only the customers asked: another customer’s documents are not named, even under the pipeline’s references', async () => {
    expect(rows(await unlinked([b], booked, FROM, TO, ['UL-I1', 'UL-P1']))).toEqual([
      ['H-B', 'invoice', b, '2026-11-15', 6050n],
    ]);
    // Ids that cannot be a CustomerID are no customers; none asks nothing.
    expect(await requests(() => unlinked(['', ' UL-A', 'X'.repeat(31)], []))).toEqual({ value: [], n: 0 });
  });

  it('leaves out what a pipeline booked, by the ids it booked them under (`Type/ReferenceNbr`, in any case)', async () => {
    expect(booked.map((id) => id.split('/')[0])).toEqual(['Invoice', 'Payment']);
    const refs = async (linked: string[]) => (await unlinked([a], linked)).map((d) => d.externalReference).sort();
    const hand = ['H-FROM', 'H-NOTE', 'H-PAY', 'H-REFUND', 'H-TO'];
    expect(await refs([])).toEqual([...hand, 'UL-I1', 'UL-P1'].sort());
    expect(await refs(booked)).toEqual(hand);
    expect(await refs(booked.map((id) => id.toLowerCase()))).toEqual(hand);
    // The same number under another type is another document.
    expect(await refs(booked.map((id) => id.replace(/^Invoice\//, 'Credit Memo/')))).toEqual([...hand, 'UL-I1'].sort());
  });

  it('describes each document as documents() reads it back', async () => {
    const found = await unlinked([a, b], booked);
    const read = await target.documents!(
      ctx,
      found.map((d) => d.targetId),
      { fees: true },
    );
    expect(found).toEqual(found.map((d) => read.get(d.targetId)));
    expect(found.some((d) => d.voided)).toBe(false);
  });

  it(`batches ${CUSTOMERS_PER_REQUEST} customers a request, pages ${BALANCE_PAGE} documents, and reads those found by id`, async () => {
    // Customer ids of 30 characters (the longest): the filters stay under IIS's 2,048.
    const ids = Array.from({ length: 2 * CUSTOMERS_PER_REQUEST + 1 }, (_, i) => `UL-M${String(i).padStart(26, '0')}`);
    for (const id of ids) expect(sim.books.putCustomer({ CustomerID: w(id), CustomerName: w(id) }).status).toBe(200);
    for (const id of ids) keyDoc('Invoice', id, `M-${id}`, '2026-11-02', '1.00');
    // The first customer holds a page of invoices outside the window, the second a page inside it.
    for (let i = 0; i < BALANCE_PAGE; i++) keyDoc('Invoice', ids[0]!, `OLD-${i}`, '2026-10-02', '1.00');
    for (let i = 0; i < BALANCE_PAGE; i++) keyDoc('Invoice', ids[1]!, `MORE-${i}`, '2026-11-03', '1.00');
    const { value, n } = await requests(() => unlinked(ids, []));
    expect(value).toHaveLength(ids.length + BALANCE_PAGE);
    expect(value.every((d) => d.kind === 'invoice' && d.gross === 121n && d.lines === 1)).toBe(true);
    // Invoice: the first batch two pages (525 in the window), the others one; Payment: one a batch.
    // Then the 551 found, 40 a request.
    expect(REFERENCES_PER_REQUEST).toBe(40);
    expect(n).toBe(2 + 1 + 1 + 3 + Math.ceil((ids.length + BALANCE_PAGE) / REFERENCES_PER_REQUEST));
  });

  it('answers Acumatica’s errors as ConnectorErrors, retryable when asking again may help', async () => {
    sim.failNext(500);
    const busy = await unlinked([a], booked).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ConnectorError);
    expect(busy).toMatchObject({ status: 500, retryable: true });
    expect((busy as Error).message).not.toContain(PASSWORD);
    sim.failNext(400);
    const refused = await unlinked([a], booked).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectorError);
    expect(refused).toMatchObject({ status: 400, retryable: false });
    expect((refused as Error).message).toContain('Simulated 400');
    // And answers again once Acumatica does.
    expect(await unlinked([a], booked)).toHaveLength(5);
  });
});
