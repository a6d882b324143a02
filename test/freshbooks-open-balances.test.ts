import { beforeAll, describe, expect, it } from 'vitest';
import { directCustomer as customer, targetIdOf, thrown } from './helpers/direct-target.ts';
import { useFreshBooksAccount } from './helpers/freshbooks.ts';
import type { TargetConnector } from '../src/sync/target.ts';
import type { FreshBooksSimulator } from '../src/connectors/freshbooks/simulator.ts';

/*
 * Each client's open balance in FreshBooks as at a day (src/connectors/freshbooks/balances.ts),
 * read from the simulated account's lists by client and date: what a person does in FreshBooks
 * (an invoice deleted or left a draft, a credit note, a payment above its invoice) counts as
 * FreshBooks counts it, a document dated after the day does not, and another client's never does.
 */

const z = useFreshBooksAccount({
  accountId: 'Bal1',
  seed: 5,
  app: { clientId: 'fb-balances-client', clientSecret: 'fb-balances-secret-0123456789' },
  customers: [
    ['A', 'Ann Balance'],
    ['B', 'Bob Balance'],
  ],
});
const { ctx, acc, keyed } = z;
const { invoice, paid, credit } = keyed;
let sim: FreshBooksSimulator;
let target: TargetConnector;
let ann: string;
let bob: string;
beforeAll(() => {
  ({ sim, target } = z);
  [ann, bob] = z.customers as [string, string];
});
const balances = (ids: string[], asAt: string) => target.openBalances!(ctx(), ids, asAt);

describe('FreshBooks: each client’s open balance as at a day', () => {
  it('counts invoices, credit notes and payments dated up to the day, the day itself included; drafts and deleted invoices count nothing', async () => {
    const i1 = invoice(ann, 'OB-I1', '100.00', '2026-11-02');
    invoice(ann, 'OB-I2', '20.00', '2026-11-30');
    const later = invoice(ann, 'OB-I3', '50.00', '2026-12-03');
    invoice(ann, 'OB-I4', '70.00', '2026-11-10', false);
    acc().deleteInvoice(invoice(ann, 'OB-I5', '30.00', '2026-11-05'));
    paid(i1, '40.00', '2026-11-05');
    paid(later, '25.00', '2026-12-04');
    credit(ann, '10.00', '2026-11-15');
    credit(ann, '5.00', '2026-12-01');
    // Bob's invoice under Ann's reference is Bob's only.
    invoice(bob, 'OB-I1', '999.00', '2026-11-02');

    // 100 + 20 − 40 − 10; after the day: + 50 − 25 − 5.
    expect(await balances([bob, ann], '2026-11-30')).toEqual(
      [
        { customerTargetId: ann, currency: 'EUR', balance: 7000n },
        { customerTargetId: bob, currency: 'EUR', balance: 99900n },
      ].sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId)),
    );
    expect(await balances([ann], '2026-12-31')).toEqual([{ customerTargetId: ann, currency: 'EUR', balance: 9000n }]);
    expect(await balances([ann], '2026-11-29')).toEqual([{ customerTargetId: ann, currency: 'EUR', balance: 5000n }]);
    expect(await balances([ann], '2026-10-31')).toEqual([]);
  });

  it('counts a payment above its invoice once (its overpayment credit is part of it), and credit set against an invoice not at all', async () => {
    const [carl] = (await target.upsertCustomers(ctx(), [customer('C', 'Carl Balance')])).map(targetIdOf) as [string];
    const i1 = invoice(carl, 'OB-C1', '100.00', '2026-11-02');
    // Paid 130.00: 30.00 of it FreshBooks keeps as Carl's credit, an overpayment credit note.
    paid(i1, '130.00', '2026-11-03');
    const i2 = invoice(carl, 'OB-C2', '50.00', '2026-11-04');
    // That credit set against the second invoice: a payment of type Credit moves it, nothing more.
    paid(i2, '30.00', '2026-11-05', 'Credit');
    expect([...acc().creditNotes.values()].filter((n) => n.clientid === carl).map((n) => n.credit_type)).toEqual([
      'overpayment',
    ]);
    // 100 + 50 − 130.
    expect(await balances([carl], '2026-11-30')).toEqual([{ customerTargetId: carl, currency: 'EUR', balance: 2000n }]);
  });

  it('asks for invoices 100 clients a request and pages them, payments and credit notes a client a request; ignores ids that cannot be FreshBooks’', async () => {
    const many = Array.from({ length: 101 }, (_, k) => acc().upsertClient(null, { organization: `Many ${k}` }).id);
    for (let k = 0; k < 101; k++) invoice(many[0]!, `OB-M${k}`, '1.00', '2026-11-02');
    invoice(many[100]!, 'OB-M-last', '7.00', '2026-11-02');
    const from = sim.requests.length;
    const got = await balances([...many, 'C-17', ''], '2026-11-30');
    expect(got).toEqual(
      [
        { customerTargetId: many[0]!, currency: 'EUR', balance: 10100n },
        { customerTargetId: many[100]!, currency: 'EUR', balance: 700n },
      ].sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId)),
    );
    const asked = sim.requests.slice(from);
    const invoices = asked.filter((r) => r.route === '/invoices/invoices');
    // Two batches (100 and 1); the first has two pages of 100.
    expect(invoices.map((r) => [r.query.getAll('search[customerids][]').length, r.query.get('page')])).toEqual([
      [100, '1'],
      [100, '2'],
      [1, '1'],
    ]);
    expect(asked).toHaveLength(3 + 2 * 101);
    for (const r of asked) {
      expect(r.query.get('search[date_max]')).toBe('2026-12-01');
      expect(r.query.get('per_page')).toBe('100');
    }
    expect(asked.filter((r) => r.route === '/payments/payments').map((r) => r.query.get('search[clientid]'))).toEqual(
      [...many].sort(),
    );
  });

  it('a FreshBooks error is a ConnectorError: a 500 retryable', async () => {
    sim.failNext(500);
    const err = await thrown(balances([ann], '2026-11-30'));
    expect(err.retryable).toBe(true);
    expect(sim.violations).toEqual([]);
  });
});
