import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import {
  ONE_ATTEMPT,
  type SimulatedGrant,
  callContext,
  directCustomer as customer,
  directTargetDeps,
  simulatedGrant,
  targetIdOf,
  thrown,
} from './helpers/direct-target.ts';
import type { Database } from '../src/db/database.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import type { TargetConnector } from '../src/sync/target.ts';
import { SYSTEM } from '../src/connectors/freshbooks/settings.ts';
import { type FreshBooksSimulator, startFreshBooksSimulator } from '../src/connectors/freshbooks/simulator.ts';
import { createFreshBooksTarget } from '../src/connectors/freshbooks/target.ts';

/*
 * Each client's open balance in FreshBooks as at a day (src/connectors/freshbooks/balances.ts),
 * read from the simulated account's lists by client and date: what a person does in FreshBooks
 * (an invoice deleted or left a draft, a credit note, a payment above its invoice) counts as
 * FreshBooks counts it, a document dated after the day does not, and another client's never does.
 */

const CLIENT = { clientId: 'fb-balances-client', clientSecret: 'fb-balances-secret-0123456789' };
const ACC = 'Bal1';
let db: Database;
let sim: FreshBooksSimulator;
let grant: SimulatedGrant;
let target: TargetConnector;
let ann: string;
let bob: string;
const ctx = () => callContext(db);
const acc = () => sim.account(ACC);
const balances = (ids: string[], asAt: string) => target.openBalances!(ctx(), ids, asAt);
const eur = (amount: string) => ({ amount, code: 'EUR' });

/** An invoice of one line at `cost` (no tax) keyed in FreshBooks by a person, marked sent unless a draft. */
function invoice(client: string, ref: string, cost: string, date: string, sent = true): string {
  const inv = acc().createInvoice({
    customerid: client,
    currency_code: 'EUR',
    create_date: date,
    po_number: ref,
    lines: [{ name: 'Service', qty: '1', unit_cost: eur(cost) }],
  });
  if (sent) acc().updateInvoice(inv.id, { action_mark_as_sent: true });
  return inv.id;
}
const paid = (invoiceId: string, amount: string, date: string, type = 'Check') =>
  acc().createPayment({ invoiceid: invoiceId, amount: eur(amount), date, type }).id;
const credit = (client: string, cost: string, date: string) =>
  acc().createCreditNote({
    clientid: client,
    currency_code: 'EUR',
    create_date: date,
    lines: [{ name: 'Credit', qty: '1', unit_cost: eur(cost) }],
  }).creditid;

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startFreshBooksSimulator({ ...CLIENT, accounts: { [ACC]: {} }, seed: 5 });
  grant = simulatedGrant(
    () => ({ system: SYSTEM, tokenUrl: sim.tokenUrl, ...CLIENT, clientAuthentication: 'body' }),
    sim.issueRefreshToken(),
  );
  target = createFreshBooksTarget(
    directTargetDeps(
      db,
      {
        type: 'freshbooks',
        ...CLIENT,
        refreshToken: grant.refreshToken,
        tenantId: ACC,
        baseUrl: sim.baseUrl,
        tokenUrl: sim.tokenUrl,
        limits: { callsPerMinute: 100_000 },
      },
      'freshbooks',
    ),
    { auth: grant.auth(), planner: createRatePlanner(db), client: ONE_ATTEMPT },
  );
  [ann, bob] = (await target.upsertCustomers(ctx(), [customer('A', 'Ann Balance'), customer('B', 'Bob Balance')])).map(
    targetIdOf,
  ) as [string, string];
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});

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
