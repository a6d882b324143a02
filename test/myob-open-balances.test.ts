import { describe, expect, it } from 'vitest';
import { formatAmount } from '../src/domain/money.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { CompanyFile } from '../src/connectors/myob/simulator-store.ts';
import { myobListRequests as listRequests, useMyobTarget } from './helpers/myob-target.ts';

/*
 * MYOB's open balances (openBalances, reads.ts) against the simulated company file, its documents
 * keyed in as a person keys them in AccountRight: sales of every layout listed by customer and date,
 * customer payments and credit refunds likewise, summed. The day asked is inclusive and honoured
 * for every kind; another customer's documents never count, also under the same reference; a
 * deleted sale or payment counts nothing; a customer credit held on account and a payment before
 * its invoice count; a refund counts as documents() reports it; many customers go many a request,
 * a list longer than a page is read to its end; MYOB's refusals are ConnectorErrors.
 */

const CLIENT = { clientId: 'balances-api-key', clientSecret: 'balances-secret-0123456789' };
const FILE = '44444444-5555-4666-8777-888888888888';
const start = useMyobTarget(CLIENT, FILE);

async function setup(maxAttempts?: number, maxPages?: number) {
  const { s, f, target, ctx } = await start(maxAttempts, maxPages);
  return { s, f, target, ctx, books: books(f) };
}

/** Documents keyed into the company file as AccountRight does, amounts tax inclusive of the 10 % GST code. */
function books(f: CompanyFile) {
  const gst = f.taxCodes.find((t) => t.Code === 'GST')!.UID;
  const fre = f.taxCodes.find((t) => t.Code === 'FRE')!.UID;
  const sales = f.accounts.find((a) => a.DisplayID === '4-1000')!.UID;
  const bank = f.accounts.find((a) => a.DisplayID === '1-1110')!.UID;
  const amount = (minor: bigint) => formatAmount(minor, 'AUD');
  return {
    customer: (name: string) => f.upsertCard('customer', null, { CompanyName: name, IsIndividual: false }).UID,
    /** A sale (negative: a customer credit) of `minor` without tax. */
    sale: (customer: string, date: string, minor: bigint, reference = '') =>
      f.createSale({
        Date: `${date}T00:00:00`,
        Customer: { UID: customer },
        CustomerPurchaseOrderNumber: reference,
        Lines: [{ Total: amount(minor), Account: { UID: sales }, TaxCode: { UID: minor < 0n ? fre : gst } }],
      }).UID,
    payment: (customer: string, date: string, invoice: string, minor: bigint) =>
      f.createPayment({
        DepositTo: 'Account',
        Account: { UID: bank },
        Customer: { UID: customer },
        Date: `${date}T00:00:00`,
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

describe('MYOB open balances', () => {
  it('counts sales, payments and refunds dated up to the day asked, that day included', async () => {
    const { s, target, ctx, books: b } = await setup();
    const c = b.customer('Cosmo Pty Ltd');
    const i1 = b.sale(c, '2026-11-10', 10000n); // 110.00 with GST
    b.sale(c, '2026-11-30', 2000n); // 22.00, on the day asked
    const i3 = b.sale(c, '2026-12-01', 5000n); // 55.00, the day after
    b.payment(c, '2026-11-20', i1, 5000n);
    b.payment(c, '2026-12-02', i1, 1000n); // after the day
    b.payment(c, '2026-12-05', i3, 5500n);
    expect(await target.openBalances!(ctx, [c], '2026-11-30')).toEqual([
      { customerTargetId: c, currency: 'AUD', balance: 11000n + 2200n - 5000n },
    ]);
    expect(await target.openBalances!(ctx, [c], '2026-12-31')).toEqual([
      { customerTargetId: c, currency: 'AUD', balance: 11000n + 2200n + 5500n - 5000n - 1000n - 5500n },
    ]);
    // Nothing dated up to the day: nothing owed, no row.
    expect(await target.openBalances!(ctx, [c], '2026-11-09')).toEqual([]);
    // The day is asked of MYOB, not only checked on the answer.
    const filters = listRequests(s).map((r) => r.query.get('$filter'));
    expect(filters[0]).toBe(`(Customer/UID eq guid'${c}') and Date lt datetime'2026-12-01T00:00:00'`);
    expect(s.violations).toEqual([]);
  });

  it("answers only for the customers asked, never another's under the same reference; ids that are no GUID are left out", async () => {
    const { target, ctx, books: b } = await setup();
    const [c, d, e] = [b.customer('Cosmo'), b.customer('Dune'), b.customer('Eiger')];
    const ic = b.sale(c, '2026-11-02', 10000n, 'SHOP-1001');
    const id = b.sale(d, '2026-11-02', 20000n, 'SHOP-1001');
    b.payment(d, '2026-11-03', id, 22000n);
    b.sale(e, '2026-11-02', 40000n, 'SHOP-1001');
    b.payment(c, '2026-11-04', ic, 1000n);
    expect(await target.openBalances!(ctx, [c, 'CUST-0001', '', d.toUpperCase()], '2026-11-30')).toEqual(
      [
        { customerTargetId: c, currency: 'AUD', balance: 11000n - 1000n },
        { customerTargetId: d.toUpperCase(), currency: 'AUD', balance: 0n },
      ].sort((x, y) => x.customerTargetId.localeCompare(y.customerTargetId)),
    );
    expect(await target.openBalances!(ctx, ['not-a-uid'], '2026-11-30')).toEqual([]);
  });

  it('a sale or payment deleted in MYOB counts nothing', async () => {
    const { f, target, ctx, books: b } = await setup();
    const c = b.customer('Cosmo');
    const i1 = b.sale(c, '2026-11-02', 10000n);
    const i2 = b.sale(c, '2026-11-03', 20000n);
    const p = b.payment(c, '2026-11-05', i1, 11000n);
    expect(await target.openBalances!(ctx, [c], '2026-11-30')).toEqual([
      { customerTargetId: c, currency: 'AUD', balance: 22000n },
    ]);
    f.deletePayment(p);
    f.deleteSale(i2);
    expect(await target.openBalances!(ctx, [c], '2026-11-30')).toEqual([
      { customerTargetId: c, currency: 'AUD', balance: 11000n },
    ]);
  });

  it('money on account counts: a customer credit not settled, a payment dated before the invoice it pays', async () => {
    const { target, ctx, books: b } = await setup();
    const c = b.customer('Cosmo');
    b.sale(c, '2026-11-06', -5000n); // a credit of 50.00 (no tax) held on account
    const later = b.sale(c, '2026-12-03', 10000n);
    b.payment(c, '2026-11-28', later, 11000n);
    expect(await target.openBalances!(ctx, [c], '2026-11-30')).toEqual([
      { customerTargetId: c, currency: 'AUD', balance: -5000n - 11000n },
    ]);
    expect(await target.openBalances!(ctx, [c], '2026-12-31')).toEqual([
      { customerTargetId: c, currency: 'AUD', balance: -5000n },
    ]);
  });

  it('a credit refunded owes again by the refund, as documents() reports the refund when asked for refunds alone', async () => {
    const { target, ctx, books: b } = await setup();
    const c = b.customer('Cosmo');
    b.sale(c, '2026-11-02', 10000n);
    const credit = b.sale(c, '2026-11-05', -3000n);
    const refund = b.refund(c, '2026-11-25', credit, 3000n);
    expect(await target.openBalances!(ctx, [c], '2026-11-20')).toEqual([
      { customerTargetId: c, currency: 'AUD', balance: 11000n - 3000n },
    ]);
    const [after] = await target.openBalances!(ctx, [c], '2026-11-30');
    expect(after?.balance).toBe(11000n);
    const read = (await target.documents!(ctx, [refund], { kind: 'refund' })).get(refund);
    expect(read).toMatchObject({
      kind: 'refund',
      customerTargetId: c,
      date: '2026-11-25',
      currency: 'AUD',
      gross: 3000n,
    });
    // What the source side adds for the refund is what the balance moved by.
    expect(11000n - 3000n + (read!.balanceEffect ?? read!.gross)).toBe(after!.balance);
  });

  it('asks for many customers a request and reads a list longer than a page to its end: 3 lists × 3 groups + 1 page for 60 customers', async () => {
    const { s, target, ctx, books: b } = await setup();
    const customers = Array.from({ length: 60 }, (_, i) => b.customer(`Customer ${String(i).padStart(2, '0')}`));
    for (const c of customers) b.sale(c, '2026-11-02', 100n);
    // One customer with 1,005 sales more: its group's list of sales is two pages.
    const busy = customers[7]!;
    for (let i = 0; i < 1005; i++) b.sale(busy, '2026-11-03', 100n);
    s.requests.length = 0;
    const rows = await target.openBalances!(ctx, customers, '2026-11-30');
    expect(rows).toHaveLength(60);
    expect(rows.find((r) => r.customerTargetId === busy)?.balance).toBe(110n * 1006n);
    expect(rows.filter((r) => r.customerTargetId !== busy).every((r) => r.balance === 110n)).toBe(true);
    const asked = listRequests(s);
    expect(asked.map((r) => r.route)).toEqual([
      ...Array<string>(4).fill('Sale/Invoice'),
      ...Array<string>(3).fill('Sale/CustomerPayment'),
      ...Array<string>(3).fill('Sale/CreditRefund'),
    ]);
    expect(asked.every((r) => r.query.get('$top') === '1000')).toBe(true);
    expect(asked.filter((r) => r.query.get('$skip') === '1000')).toHaveLength(1);
    expect(s.violations).toEqual([]);
  });

  it('refuses a list longer than it reads (50 pages of 1,000; 2 here) rather than sum part of it', async () => {
    const { s, target, ctx, books: b } = await setup(undefined, 2);
    const c = b.customer('Busy Pty Ltd');
    for (let i = 0; i < 2000; i++) b.sale(c, '2026-11-03', 100n);
    // Two pages whole: read.
    expect(await target.openBalances!(ctx, [c], '2026-11-30')).toEqual([
      { customerTargetId: c, currency: 'AUD', balance: 110n * 2000n },
    ]);
    b.sale(c, '2026-11-03', 100n);
    s.requests.length = 0;
    const failed = await target.openBalances!(ctx, [c], '2026-11-30').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectorError);
    expect(failed).toMatchObject({ retryable: false, message: expect.stringMatching(/more than 2000 records/) });
    expect(listRequests(s)).toHaveLength(2);
  });

  it("MYOB's refusals are ConnectorErrors: a server error, the key's rate refused five times over", async () => {
    const { s, target, ctx, books: b } = await setup(1);
    const c = b.customer('Cosmo');
    b.sale(c, '2026-11-02', 100n);
    await target.openBalances!(ctx, [c], '2026-11-30'); // the company file's settings read
    s.failNext(500);
    const failed = await target.openBalances!(ctx, [c], '2026-11-30').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConnectorError);
    expect(failed).toMatchObject({ system: 'MYOB', status: 500, retryable: true });
    s.failNext(403, 403, 403, 403, 403);
    const limited = await target.openBalances!(ctx, [c], '2026-11-30').catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(ConnectorError);
    expect(limited).toMatchObject({ status: 403, retryable: true });
    expect((limited as Error).message).toMatch(/GET Sale\/Invoice was refused for the API key's rate/);
  });
});
