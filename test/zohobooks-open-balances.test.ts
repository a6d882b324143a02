import { beforeAll, describe, expect, it } from 'vitest';
import {
  directCustomer as customer,
  directPayment as payment,
  directRefund as refund,
  targetIdOf,
  thrown,
} from './helpers/direct-target.ts';
import { useZohoOrganisation } from './helpers/zohobooks.ts';
import type { TargetConnector } from '../src/sync/target.ts';
import type { ZohoBooksSimulator } from '../src/connectors/zohobooks/simulator.ts';

/*
 * Each customer's open balance in Zoho Books as at a day (src/connectors/zohobooks/balances.ts),
 * read from the simulated organisation's lists by date, whole or customer by customer, whichever
 * costs fewer requests: what a person does in Zoho (an invoice voided or left a draft, a payment
 * keyed on account, a credit note refunded) counts as Zoho counts it, a document dated after the
 * day does not, and another customer's never does. A refund is found by its own id, asked alone,
 * as reconciliation's source side asks.
 */

const z = useZohoOrganisation({
  orgId: '70000000003',
  name: 'Zoho Balances BV',
  seed: 11,
  app: { clientId: '1000.BALANCESCLIENT', clientSecret: 'zoho-balances-secret-0123456789' },
  customers: [
    ['B1', 'Ann Balance'],
    ['B2', 'Bob Balance'],
    ['B3', 'Carl Balance'],
  ],
});
const { ctx, org, keyed } = z;
const { invoice, creditNote, paid } = keyed;
let sim: ZohoBooksSimulator;
let target: TargetConnector;
let ann: string;
let bob: string;
let carl: string;
beforeAll(() => {
  ({ sim, target } = z);
  [ann, bob, carl] = z.customers as [string, string, string];
});
const balances = (ids: string[], asAt: string) => target.openBalances!(ctx(), ids, asAt);

describe('Zoho Books: each customer’s open balance as at a day', () => {
  it('counts invoices, credit notes and payments (unapplied too) dated up to the day, the day itself included; drafts and voided ones count nothing', async () => {
    const i1 = invoice(ann, 'OB-I1', '100.00', '2026-11-02');
    invoice(ann, 'OB-I2', '20.00', '2026-11-30');
    invoice(ann, 'OB-I3', '50.00', '2026-12-03');
    invoice(ann, 'OB-I4', '70.00', '2026-11-10', false);
    const voided = invoice(ann, 'OB-I5', '30.00', '2026-11-05');
    org().voidInvoice(voided);
    paid(ann, 'OB-P1', '40.00', '2026-11-05', i1);
    // Money on account: a payment a person keyed in Zoho, applied to nothing.
    paid(ann, 'OB-P2', '15.00', '2026-11-20');
    paid(ann, 'OB-P3', '25.00', '2026-12-02');
    creditNote(ann, 'OB-N1', '10.00', '2026-11-15');
    creditNote(ann, 'OB-N2', '5.00', '2026-12-01');
    // Bob's invoice under Ann's reference is Bob's only.
    invoice(bob, 'OB-I1', '999.00', '2026-11-02');

    // 100 + 20 − 40 − 15 − 10; after the day: + 50 − 25 − 5.
    expect(await balances([ann, bob], '2026-11-30')).toEqual([
      { customerTargetId: ann, currency: 'EUR', balance: 5500n },
      { customerTargetId: bob, currency: 'EUR', balance: 99900n },
    ]);
    expect(await balances([ann], '2026-12-31')).toEqual([{ customerTargetId: ann, currency: 'EUR', balance: 7500n }]);
    // The day before OB-I2 is dated.
    expect(await balances([ann], '2026-11-29')).toEqual([{ customerTargetId: ann, currency: 'EUR', balance: 3500n }]);
    // Before anything: nothing held, no row.
    expect(await balances([ann], '2026-10-31')).toEqual([]);
  });

  it('asks only for the customers given, one customer a list, and ignores ids that cannot be Zoho’s', async () => {
    const from = sim.requests.length;
    expect(await balances(['C-17', '', 'abc', bob], '2026-11-30')).toEqual([
      { customerTargetId: bob, currency: 'EUR', balance: 99900n },
    ]);
    const lists = sim.requests.slice(from);
    expect(lists.map((r) => [r.route, r.query.get('customer_id')])).toEqual([
      ['/invoices', bob],
      ['/creditnotes', bob],
      ['/customerpayments', bob],
      ['/creditnotes/refunds', bob],
    ]);
    for (const r of lists.slice(0, 3)) expect(r.query.get('date_before')).toBe('2026-12-01');
  });

  it('counts a refund of a payment and of a credit note as Zoho books them, dated up to the day; the refund found by its id alone', async () => {
    const p = targetIdOf((await target.createPayments!(ctx(), [payment('OB-P4', carl, null, '30.00')]))[0]);
    const back = targetIdOf((await target.createRefunds!(ctx(), [refund('OB-R1', carl, p, '10.00')]))[0]);
    const note = creditNote(carl, 'OB-N3', '12.00', '2026-11-03');
    // A person refunds part of the credit note in Zoho.
    org().refundCreditNote(note, 500n, '2026-11-08', 'OB-NR1');
    expect(await balances([carl], '2026-11-30')).toEqual([
      { customerTargetId: carl, currency: 'EUR', balance: -2700n },
    ]);
    expect(await balances([carl], '2026-11-07')).toEqual([
      { customerTargetId: carl, currency: 'EUR', balance: -3200n },
    ]);
    expect(await balances([carl], '2026-11-05')).toEqual([
      { customerTargetId: carl, currency: 'EUR', balance: -4200n },
    ]);

    // Reconciliation's source side asks for refunds alone, and counts each as read: the same 10.00.
    const alone = await target.documents!(ctx(), [back], { kind: 'refund' });
    expect(alone.get(back)).toMatchObject({
      kind: 'refund',
      customerTargetId: carl,
      externalReference: 'OB-R1',
      date: '2026-11-06',
      currency: 'EUR',
      gross: 1000n,
    });
    expect(alone.get(back)?.balanceEffect ?? alone.get(back)?.gross).toBe(1000n);
    // Asked for payments, a refund id is not one.
    expect((await target.documents!(ctx(), [back], { kind: 'payment' })).size).toBe(0);
    // A refund whose payment is gone (deleted in Zoho) is not found.
    const held = org().refunds.find((r) => r.reference_number === 'OB-R1')!;
    expect((await target.documents!(ctx(), [`${held.payment_id}9:${held.payment_refund_id}`])).size).toBe(0);
  });

  it('reads every page of 200, and a payment’s refunds only where it has refunded something', async () => {
    const [dan, eve] = (
      await target.upsertCustomers(ctx(), [customer('B4', 'Dan Balance'), customer('B5', 'Eve Balance')])
    ).map(targetIdOf) as [string, string];
    for (let k = 0; k < 201; k++) invoice(dan, `OB-D${k}`, '1.00', '2026-11-02');
    paid(dan, 'OB-DP', '1.50', '2026-11-03');
    invoice(eve, 'OB-E1', '7.00', '2026-11-02');
    const from = sim.requests.length;
    expect(await balances([eve, dan], '2026-11-30')).toEqual([
      { customerTargetId: dan, currency: 'EUR', balance: 19950n },
      { customerTargetId: eve, currency: 'EUR', balance: 700n },
    ]);
    const asked = sim.requests.slice(from);
    // Two customers, so each list is first read whole for the organisation, up to two pages: all
    // four end within them (some 200 invoices up to the day, on two pages), so 5 requests where
    // customer by customer took 9 (four lists each and Dan's invoices a second page).
    expect(asked).toHaveLength(5);
    expect(
      asked.filter((r) => r.route === '/invoices').map((r) => [r.query.get('page'), r.query.get('customer_id')]),
    ).toEqual([
      ['1', null],
      ['2', null],
    ]);
    for (const r of asked) expect(r.query.get('per_page')).toBe('200');
  });

  it('a Zoho error is a ConnectorError: a 500 retryable, nothing answered', async () => {
    const end = sim.failWhile((r) => r.route === '/creditnotes');
    try {
      const err = await thrown(balances([ann], '2026-11-30'));
      expect(err.retryable).toBe(true);
    } finally {
      end();
    }
    expect(sim.violations).toEqual([]);
  });

  it('for many customers reads the organisation’s whole lists when they are short: a few requests, not four a customer, the balances of customer by customer, and customers not asked count nothing', async () => {
    const many = (
      await target.upsertCustomers(
        ctx(),
        Array.from({ length: 12 }, (_, k) => customer(`BM${k}`, `Many Balance ${k}`)),
      )
    ).map(targetIdOf);
    many.forEach((id, k) => {
      invoice(id, `OB-M${k}`, `${k + 1}.00`, '2026-11-02');
      if (k % 2 === 0) paid(id, `OB-MP${k}`, '0.50', '2026-11-03');
      if (k % 3 === 0) creditNote(id, `OB-MN${k}`, '0.25', '2026-11-04');
    });
    // One of them has refunded money of a payment: its refunds are read under it, one request more.
    const p = targetIdOf((await target.createPayments!(ctx(), [payment('OB-MP-R', many[1]!, null, '3.00')]))[0]);
    targetIdOf((await target.createRefunds!(ctx(), [refund('OB-MR', many[1]!, p, '1.00')]))[0]);
    const asAt = '2026-11-30';

    const from = sim.requests.length;
    const whole = await balances(many, asAt);
    const asked = sim.requests.slice(from);
    // Each asked alone is read by its own customer filter: the other way gives the same balances.
    const alone = [];
    for (const id of [...many].sort()) alone.push(...(await balances([id], asAt)));
    expect(whole).toEqual(alone);
    // Ann, Bob, Carl, Dan and Eve hold documents on the same lists, and none is answered.
    expect(whole.map((b) => b.customerTargetId)).toEqual([...many].sort());
    // 1.00 − 0.50 − 0.25; 2.00 − 3.00 + 1.00 refunded.
    expect(whole.find((b) => b.customerTargetId === many[0])).toEqual({
      customerTargetId: many[0],
      currency: 'EUR',
      balance: 25n,
    });
    expect(whole.find((b) => b.customerTargetId === many[1])?.balance).toBe(0n);

    // The organisation's lists up to the day, 200 a page, none by customer, and only the asked
    // customer's refunded payment read further (Carl's is not): a few requests, not 4 × 12.
    const dated = (rows: Iterable<{ date: string }>) => [...rows].filter((d) => d.date <= asAt).length;
    const pagesOf = (n: number) => Array.from({ length: Math.max(1, Math.ceil(n / 200)) }, (_, i) => String(i + 1));
    expect(asked.map((r) => [r.route, r.query.get('customer_id'), r.query.get('page')])).toEqual([
      ...pagesOf(dated(org().invoices.values())).map((n) => ['/invoices', null, n]),
      ...pagesOf(dated(org().creditNotes.values())).map((n) => ['/creditnotes', null, n]),
      ...pagesOf(dated(org().payments.values())).map((n) => ['/customerpayments', null, n]),
      [`/customerpayments/${p}/refunds`, null, '1'],
      ...pagesOf(org().creditNoteRefunds.length).map((n) => ['/creditnotes/refunds', null, n]),
    ]);
    expect(asked.length).toBeLessThanOrEqual(6);
    for (const r of asked.filter((x) => !x.route.endsWith('/refunds') || x.route === '/creditnotes/refunds'))
      expect(r.query.get('date_before')).toBe(r.route === '/creditnotes/refunds' ? null : '2026-12-01');
  });

  it('reads a list longer than its budget (a page a customer) customer by customer, with the right balances, at most that budget more than customer by customer', async () => {
    const [fay, gus] = (
      await target.upsertCustomers(ctx(), [customer('B6', 'Fay Balance'), customer('B7', 'Gus Balance')])
    ).map(targetIdOf) as [string, string];
    for (let k = 0; k < 201; k++) invoice(fay, `OB-F${k}`, '0.10', '2026-11-02');
    invoice(gus, 'OB-G1', '3.00', '2026-11-02');
    creditNote(gus, 'OB-GN', '1.00', '2026-11-03');
    // Bob's 200 invoices more make the organisation's list longer than two pages.
    for (let k = 0; k < 200; k++) invoice(bob, `OB-BX${k}`, '1.00', '2026-11-02');
    const asAt = '2026-11-30';

    const from = sim.requests.length;
    const got = await balances([fay, gus], asAt);
    const asked = sim.requests.slice(from);
    const expected = [
      { customerTargetId: fay, currency: 'EUR', balance: 2010n },
      { customerTargetId: gus, currency: 'EUR', balance: 200n },
    ].sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId));
    expect(got).toEqual(expected);
    const alone = [...(await balances([fay], asAt)), ...(await balances([gus], asAt))];
    expect(got).toEqual(alone.sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId)));

    // Invoices: two pages of the whole list, more remaining, then each customer's (Fay's on two
    // pages); the other three lists end within their two pages.
    const [first, second] = [fay, gus].sort();
    const invoicesOf = (id: string) => (id === fay ? ['1', '2'] : ['1']);
    expect(asked.map((r) => [r.route, r.query.get('customer_id'), r.query.get('page')])).toEqual([
      ['/invoices', null, '1'],
      ['/invoices', null, '2'],
      ...invoicesOf(first!).map((n) => ['/invoices', first, n]),
      ...invoicesOf(second!).map((n) => ['/invoices', second, n]),
      ['/creditnotes', null, '1'],
      ['/customerpayments', null, '1'],
      ['/creditnotes/refunds', null, '1'],
    ]);
    // Customer by customer alone: 3 invoice requests and 2 for each other list, 9; the whole way's
    // wasted pages add at most 2 a list.
    expect(asked.length).toBeLessThanOrEqual(9 + 4 * 2);
  });

  it('ties each credit note refund of the whole list to its credit note’s customer, and reads that list customer by customer too when it is long', async () => {
    const [hal, ida] = (
      await target.upsertCustomers(ctx(), [customer('B8', 'Hal Balance'), customer('B9', 'Ida Balance')])
    ).map(targetIdOf) as [string, string];
    const nh = creditNote(hal, 'OB-HN', '20.00', '2026-11-03');
    org().refundCreditNote(nh, 300n, '2026-11-09', 'OB-HR1');
    org().refundCreditNote(nh, 200n, '2026-12-02', 'OB-HR2');
    const ni = creditNote(ida, 'OB-IN', '8.00', '2026-11-04');
    org().refundCreditNote(ni, 800n, '2026-11-10', 'OB-IR');
    // Carl's refund of 5.00 (OB-NR1) is on the same list, another customer's.
    const asAt = '2026-11-30';
    // −20.00 + 3.00 (2.00 refunded after the day); −8.00 + 8.00.
    const expected = [
      { customerTargetId: hal, currency: 'EUR', balance: -1700n },
      { customerTargetId: ida, currency: 'EUR', balance: 0n },
    ].sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId));

    let from = sim.requests.length;
    expect(await balances([hal, ida], asAt)).toEqual(expected);
    const refundLists = () =>
      sim.requests
        .slice(from)
        .filter((r) => r.route === '/creditnotes/refunds')
        .map((r) => r.query.get('customer_id'));
    expect(refundLists()).toEqual([null]);

    // Bob's 401 refunds of a cent make the list longer than two pages: read by customer, the same.
    const nb = creditNote(bob, 'OB-BN', '10.00', '2026-11-01');
    for (let k = 0; k < 401; k++) org().refundCreditNote(nb, 1n, '2026-11-05', `OB-BR${k}`);
    from = sim.requests.length;
    expect(await balances([hal, ida], asAt)).toEqual(expected);
    expect(refundLists()).toEqual([null, null, ...[hal, ida].sort()]);
  });
});
