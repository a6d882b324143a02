import { describe, expect, it } from 'vitest';
import { formatAmount } from '../src/domain/money.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { CompanyFile } from '../src/connectors/myob/simulator-store.ts';
import { MYOB_LISTS as LISTS, myobListRequests as listRequests, useMyobTarget } from './helpers/myob-target.ts';

/*
 * MYOB's documents no pipeline booked (unlinkedDocuments, reads.ts) against the simulated company
 * file, its documents keyed in as a person keys them in AccountRight: sales of every layout
 * (invoices, and credits as negative sales), customer payments and credit refunds listed by
 * customer and window. Both ends of the window are inclusive and asked of MYOB; only the customers
 * asked for, never another's under a pipeline's reference; what a pipeline booked is left out
 * whatever the case of its UID; a deleted document is gone; each kind is described as documents()
 * describes it; many customers go many a request, a list longer than a page is read to its end;
 * MYOB's refusals are ConnectorErrors.
 */

const CLIENT = { clientId: 'unlinked-api-key', clientSecret: 'unlinked-secret-0123456789' };
const FILE = '55555555-6666-4777-8888-999999999999';
const start = useMyobTarget(CLIENT, FILE);

async function setup(maxAttempts?: number, maxPages?: number) {
  const { s, f, target, ctx } = await start(maxAttempts, maxPages);
  const unlinked = (customerTargetIds: string[], from: string, to: string, linkedTargetIds: string[] = []) =>
    target.unlinkedDocuments!(ctx, { customerTargetIds, references: [], linkedTargetIds }, from, to);
  return { s, f, target, ctx, unlinked, books: books(f) };
}

/** Documents keyed into the company file as AccountRight does, amounts exclusive of the 10 % GST code. */
function books(f: CompanyFile) {
  const gst = f.taxCodes.find((t) => t.Code === 'GST')!.UID;
  const fre = f.taxCodes.find((t) => t.Code === 'FRE')!.UID;
  const sales = f.accounts.find((a) => a.DisplayID === '4-1000')!.UID;
  const bank = f.accounts.find((a) => a.DisplayID === '1-1110')!.UID;
  const amount = (minor: bigint) => formatAmount(minor, 'AUD');
  return {
    customer: (name: string) => f.upsertCard('customer', null, { CompanyName: name, IsIndividual: false }).UID,
    /** A sale (negative: a customer credit, without tax) of `minor` before tax, dated a day or a day and time. */
    sale: (customer: string, date: string, minor: bigint, reference = '') =>
      f.createSale({
        Date: date.length > 10 ? date : `${date}T00:00:00`,
        Customer: { UID: customer },
        CustomerPurchaseOrderNumber: reference,
        Lines: [{ Total: amount(minor), Account: { UID: sales }, TaxCode: { UID: minor < 0n ? fre : gst } }],
      }).UID,
    payment: (customer: string, date: string, invoice: string, minor: bigint, memo = '') =>
      f.createPayment({
        DepositTo: 'Account',
        Account: { UID: bank },
        Customer: { UID: customer },
        Date: `${date}T00:00:00`,
        Memo: memo,
        AmountReceived: amount(minor),
        Invoices: [{ UID: invoice, Type: 'Invoice', AmountApplied: amount(minor) }],
      }).UID,
    refund: (customer: string, date: string, credit: string, minor: bigint) =>
      f.createRefund({
        Account: { UID: bank },
        Invoice: { UID: credit },
        Customer: { UID: customer },
        Date: `${date}T00:00:00`,
        Amount: amount(minor),
        Memo: 'Refund of credit',
      }).UID,
  };
}

const ids = (docs: { targetId: string }[]) => docs.map((d) => d.targetId).sort();

describe('MYOB documents no pipeline booked', () => {
  it('reads the window asked, both days included, of every kind, and asks MYOB for it', async () => {
    const { s, unlinked, books: b } = await setup();
    const c = b.customer('Cosmo Pty Ltd');
    const before = b.sale(c, '2026-10-31', 1000n);
    const first = b.sale(c, '2026-11-01', 2000n);
    const last = b.sale(c, '2026-11-30', 3000n);
    const after = b.sale(c, '2026-12-01', 4000n);
    // Keyed in AccountRight with a time of day: the last second of the day before, and of the last day.
    const lateBefore = b.sale(c, '2026-10-31T23:59:59', 600n);
    const lateLast = b.sale(c, '2026-11-30T23:59:59', 700n);
    const credit = b.sale(c, '2026-11-02', -5000n);
    const payBefore = b.payment(c, '2026-10-31', before, 1100n);
    const payFirst = b.payment(c, '2026-11-01', first, 2200n);
    const payLast = b.payment(c, '2026-11-30', last, 3300n);
    b.payment(c, '2026-12-01', after, 4400n);
    const refundBefore = b.refund(c, '2026-10-31', credit, 100n);
    const refundFirst = b.refund(c, '2026-11-01', credit, 200n);
    const refundLast = b.refund(c, '2026-11-30', credit, 300n);
    b.refund(c, '2026-12-01', credit, 400n);
    s.requests.length = 0;
    const docs = await unlinked([c], '2026-11-01', '2026-11-30');
    expect(ids(docs)).toEqual([first, last, lateLast, credit, payFirst, payLast, refundFirst, refundLast].sort());
    // The window is asked of MYOB, not only checked on the answer.
    const asked = listRequests(s);
    expect(asked.map((r) => r.route)).toEqual(LISTS);
    for (const r of asked)
      expect(r.query.get('$filter')).toBe(
        `(Customer/UID eq guid'${c}') and Date ge datetime'2026-11-01T00:00:00' and Date lt datetime'2026-12-01T00:00:00'`,
      );
    // One day: that day alone.
    expect(ids(await unlinked([c], '2026-10-31', '2026-10-31'))).toEqual(
      [before, lateBefore, payBefore, refundBefore].sort(),
    );
    expect(s.violations).toEqual([]);
  });

  it('describes each kind as documents() does: invoice, credit note (its gross positive), payment, refund', async () => {
    const { target, ctx, unlinked, books: b } = await setup();
    const c = b.customer('Cosmo');
    const inv = b.sale(c, '2026-11-02', 10000n, 'HAND-1');
    const credit = b.sale(c, '2026-11-03', -3000n, 'HAND-2');
    const pay = b.payment(c, '2026-11-04', inv, 4000n, 'HAND-3');
    const refund = b.refund(c, '2026-11-05', credit, 1000n);
    const docs = new Map((await unlinked([c], '2026-11-01', '2026-11-30')).map((d) => [d.targetId, d]));
    expect([...docs.keys()].sort()).toEqual([inv, credit, pay, refund].sort());
    expect(docs.get(inv)).toMatchObject({
      kind: 'invoice',
      customerTargetId: c,
      externalReference: 'HAND-1',
      date: '2026-11-02',
      currency: 'AUD',
      gross: 11000n,
      lines: 1,
    });
    expect(docs.get(credit)).toMatchObject({ kind: 'creditNote', customerTargetId: c, gross: 3000n });
    expect(docs.get(pay)).toMatchObject({
      kind: 'payment',
      customerTargetId: c,
      externalReference: 'HAND-3',
      date: '2026-11-04',
      gross: 4000n,
    });
    expect(docs.get(refund)).toMatchObject({ kind: 'refund', customerTargetId: c, date: '2026-11-05', gross: 1000n });
    // Exactly as documents() reads each back by UID.
    const read = await target.documents!(ctx, [inv, credit, pay]);
    for (const id of [inv, credit, pay]) expect(docs.get(id)).toEqual(read.get(id));
    expect(docs.get(refund)).toEqual((await target.documents!(ctx, [refund], { kind: 'refund' })).get(refund));
  });

  it("answers only for the customers asked, never another's under the same reference; ids that are no GUID are left out", async () => {
    const { unlinked, books: b } = await setup();
    const [c, d, e] = [b.customer('Cosmo'), b.customer('Dune'), b.customer('Eiger')];
    const ic = b.sale(c, '2026-11-02', 10000n, 'SHOP-1001');
    const id = b.sale(d, '2026-11-02', 20000n, 'SHOP-1001');
    const pd = b.payment(d, '2026-11-03', id, 22000n, 'SHOP-1001');
    const ie = b.sale(e, '2026-11-02', 40000n, 'SHOP-1001');
    b.payment(e, '2026-11-03', ie, 100n, 'SHOP-1001');
    const docs = await unlinked([c, 'CUST-0001', '', d.toUpperCase()], '2026-11-01', '2026-11-30');
    expect(ids(docs)).toEqual([ic, id, pd].sort());
    expect(await unlinked(['not-a-uid'], '2026-11-01', '2026-11-30')).toEqual([]);
    expect(await unlinked([], '2026-11-01', '2026-11-30')).toEqual([]);
  });

  it('leaves out what a pipeline booked, its UID in any case', async () => {
    const { unlinked, books: b } = await setup();
    const c = b.customer('Cosmo');
    const booked = b.sale(c, '2026-11-02', 10000n, 'SRC-1');
    const bookedPay = b.payment(c, '2026-11-03', booked, 5000n, 'SRC-2');
    const credit = b.sale(c, '2026-11-04', -2000n);
    const bookedRefund = b.refund(c, '2026-11-05', credit, 500n);
    const hand = b.sale(c, '2026-11-06', 3000n, 'HAND-1');
    const handPay = b.payment(c, '2026-11-07', hand, 1000n);
    const docs = await unlinked([c], '2026-11-01', '2026-11-30', [
      booked,
      bookedPay.toUpperCase(),
      credit,
      bookedRefund,
      'not-a-uid',
    ]);
    expect(ids(docs)).toEqual([hand, handPay].sort());
  });

  it('a sale, payment or refund deleted in MYOB is not in the books', async () => {
    const { f, unlinked, books: b } = await setup();
    const c = b.customer('Cosmo');
    const i1 = b.sale(c, '2026-11-02', 10000n);
    const i2 = b.sale(c, '2026-11-03', 20000n);
    const credit = b.sale(c, '2026-11-04', -1000n);
    const p = b.payment(c, '2026-11-05', i1, 11000n);
    const r = b.refund(c, '2026-11-06', credit, 1000n);
    expect(ids(await unlinked([c], '2026-11-01', '2026-11-30'))).toEqual([i1, i2, credit, p, r].sort());
    f.deletePayment(p);
    f.deleteRefund(r);
    f.deleteSale(i2);
    expect(ids(await unlinked([c], '2026-11-01', '2026-11-30'))).toEqual([i1, credit].sort());
  });

  it('asks for many customers a request and reads a list longer than a page to its end: 3 lists × 3 groups + 1 page for 60 customers', async () => {
    const { s, unlinked, books: b } = await setup();
    const customers = Array.from({ length: 60 }, (_, i) => b.customer(`Customer ${String(i).padStart(2, '0')}`));
    for (const c of customers) b.sale(c, '2026-11-02', 100n);
    // One customer with 1,005 sales more: its group's list of sales is two pages.
    const busy = customers[7]!;
    for (let i = 0; i < 1005; i++) b.sale(busy, '2026-11-03', 100n);
    s.requests.length = 0;
    const docs = await unlinked(customers, '2026-11-01', '2026-11-30');
    expect(docs).toHaveLength(60 + 1005);
    expect(new Set(docs.map((d) => d.customerTargetId))).toEqual(new Set(customers));
    const asked = listRequests(s);
    expect(asked.map((r) => r.route)).toEqual([
      ...Array<string>(4).fill('Sale/Invoice'),
      ...Array<string>(3).fill('Sale/CustomerPayment'),
      ...Array<string>(3).fill('Sale/CreditRefund'),
    ]);
    // 24 customers a request (the window's two clauses take one customer's room): 24, 24, 12.
    expect(
      asked.filter((r) => r.query.get('$skip') === null).map((r) => r.query.get('$filter')!.split(' or ').length),
    ).toEqual([24, 24, 12, 24, 24, 12, 24, 24, 12]);
    expect(asked.every((r) => r.query.get('$top') === '1000')).toBe(true);
    expect(asked.filter((r) => r.query.get('$skip') === '1000')).toHaveLength(1);
    expect(s.violations).toEqual([]);
  });

  it('refuses a list longer than it reads (2 pages of 1,000 here) rather than name part of it', async () => {
    const { s, unlinked, books: b } = await setup(undefined, 2);
    const c = b.customer('Busy Pty Ltd');
    for (let i = 0; i < 2001; i++) b.sale(c, '2026-11-03', 100n);
    s.requests.length = 0;
    const failed = await unlinked([c], '2026-11-01', '2026-11-30').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectorError);
    expect(failed).toMatchObject({ retryable: false, message: expect.stringMatching(/more than 2000 records/) });
    expect(listRequests(s)).toHaveLength(2);
  });

  it("MYOB's refusals are ConnectorErrors: a refused list, a server error, the key's rate refused five times over", async () => {
    const { s, unlinked, books: b } = await setup(1);
    const c = b.customer('Cosmo');
    b.sale(c, '2026-11-02', 100n);
    await unlinked([c], '2026-11-01', '2026-11-30'); // the company file's settings read
    s.failNext(400);
    const refused = await unlinked([c], '2026-11-01', '2026-11-30').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectorError);
    expect(refused).toMatchObject({ system: 'MYOB', status: 400, retryable: false });
    expect((refused as Error).message).toMatch(/GET Sale\/Invoice was refused \(400 InternalError/);
    s.failNext(500);
    const failed = await unlinked([c], '2026-11-01', '2026-11-30').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectorError);
    expect(failed).toMatchObject({ system: 'MYOB', status: 500, retryable: true });
    s.failNext(403, 403, 403, 403, 403);
    const limited = await unlinked([c], '2026-11-01', '2026-11-30').catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(ConnectorError);
    expect(limited).toMatchObject({ status: 403, retryable: true });
    expect((limited as Error).message).toMatch(/GET Sale\/Invoice was refused for the API key's rate/);
  });
});
