import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import {
  type SimulatedGrant,
  callContext,
  directCustomer as customer,
  directInvoice as invoice,
  directPayment,
  simulatedGrant,
  targetIdOf,
} from './helpers/direct-target.ts';
import { directFreshBooksTarget, freshBooksTokens } from './helpers/freshbooks.ts';
import type { Database } from '../src/db/database.ts';
import { type FreshBooksSimulator, startFreshBooksSimulator } from '../src/connectors/freshbooks/simulator.ts';
import type { AccountOptions } from '../src/connectors/freshbooks/simulator-store.ts';

/*
 * A payment provider's fee in FreshBooks, the target against its simulator: an expense in the Bank
 * Fees category before the payment, which keeps its gross amount; found again rather than booked
 * twice after a lost answer; each client's own under a shared reference; the category from
 * `accounts.fees` or the account's one bank-fees category, anything else refused naming the setting.
 */

const CLIENT = { clientId: 'fb-fees-client', clientSecret: 'fb-fees-secret-0123456789' };
/** Accounts of the simulated FreshBooks, one per chart of categories. */
const CHARTS: Record<string, AccountOptions['categories']> = {
  Fees1: {},
  Fees2: {},
  Fees3: {},
  Fees4: {},
  Fees5: {},
  Fees6: {},
  Staff: {},
  Reads: {},
  NoFees: { 'Bank Fees': null },
  TwoFees: { 'Merchant Fees': { parent: 'Other Expenses' } },
  Custom: { 'Stripe charges': { parent: 'Other Expenses' }, 'Old fees': { deleted: true } },
};
let db: Database;
let sim: FreshBooksSimulator;
let grant: SimulatedGrant;
const ctx = () => callContext(db);

beforeAll(async () => {
  db = await createTestDatabase();
  sim = await startFreshBooksSimulator({
    ...CLIENT,
    accounts: Object.fromEntries(Object.entries(CHARTS).map(([id, categories]) => [id, { categories }])),
    seed: 7,
  });
  grant = simulatedGrant(() => freshBooksTokens(sim, CLIENT), sim.issueRefreshToken());
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});

/** A target on account `acc` with two clients (A, B), each with an invoice of 121.00 (I1, I2). */
async function setup(acc: string, extra: Record<string, unknown> = {}) {
  const target = directFreshBooksTarget(db, sim, { app: CLIENT, accountId: acc, grant, settings: extra });
  const clients = (
    await target.upsertCustomers(ctx(), [customer('A', `Client A ${acc}`), customer('B', `Client B ${acc}`)])
  ).map(targetIdOf);
  const invoices = (await target.createInvoices(ctx(), [invoice(`I1`, clients[0]!), invoice(`I2`, clients[1]!)])).map(
    targetIdOf,
  );
  const a = sim.account(acc);
  const pay = (n: 1 | 2, fee: string | null | undefined, reference = `P${n}`) =>
    directPayment(reference, clients[n - 1]!, invoices[n - 1]!, '121.00', {
      invoiceExternalReference: `I${n}`,
      ...(fee === undefined ? {} : { fee }),
    });
  const category = (name: string) => a.categories.find((c) => c.category === name)!.categoryid;
  return { target, clients, invoices, a, pay, category, expenses: () => [...a.expenses.values()] };
}

describe('a payment provider’s fee in FreshBooks', () => {
  it('is an expense in Bank Fees, dated the payment’s day, before the payment, which keeps its gross amount', async () => {
    const env = await setup('Fees1');
    const [r] = await env.target.createPayments!(ctx(), [env.pay(1, '2.50')]);
    const [e] = env.expenses();
    expect(r).toMatchObject({ ok: true, message: `fee EUR 2.50 booked as expense ${e!.id}` });
    expect(env.expenses()).toHaveLength(1);
    expect(e).toMatchObject({
      categoryid: env.category('Bank Fees'),
      staffid: '1',
      date: '2026-11-05',
      amount: 250n,
      currency: 'EUR',
      // Not assigned to the client: that would offer the fee for rebilling.
      clientid: null,
      notes: `Payment provider fee on P1\nledgerlink-ref: P1\nledgerlink-customer: ${env.clients[0]}`,
    });
    const payments = [...env.a.payments.values()];
    expect(payments.map((p) => p.amount)).toEqual([12100n]);
    expect(env.a.invoices.get(env.invoices[0]!)!.outstanding).toBe(0n);
    expect(sim.violations).toEqual([]);
  });

  it('after a lost answer is found, not booked again, and the payment follows', async () => {
    const env = await setup('Fees2');
    sim.dropNext(1, (q) => q.method === 'POST' && q.route === '/expenses/expenses');
    const p = env.pay(1, '2.50');
    await expect(env.target.createPayments!(ctx(), [p])).rejects.toMatchObject({ retryable: true });
    expect([env.expenses().length, env.a.payments.size]).toEqual([1, 0]);
    expect(await env.target.findByReference(ctx(), 'payment', 'P1', env.clients[0])).toBeNull();
    const [r] = await env.target.createPayments!(ctx(), [p]);
    expect(r).toMatchObject({ ok: true, message: `fee EUR 2.50 already booked as expense ${env.expenses()[0]!.id}` });
    expect([env.expenses().length, env.a.payments.size]).toEqual([1, 1]);
    expect(sim.duplicates('Fees2')).toEqual([]);
  });

  it('a payment FreshBooks refuses after its fee was booked says so, and the fee is not booked again', async () => {
    const env = await setup('Fees3');
    const p = env.pay(1, '2.50');
    // The invoice gone meanwhile: FreshBooks refuses the payment, after its fee was booked.
    const inv = env.a.invoices.get(env.invoices[0]!)!;
    env.a.invoices.delete(inv.id);
    const [refused] = await env.target.createPayments!(ctx(), [p]);
    expect(refused).toMatchObject({
      ok: false,
      error: {
        code: 'TARGET_REFUSED',
        message: expect.stringMatching(/\(its fee EUR 2\.50 is booked as expense \d+ and is not booked again/),
      },
    });
    env.a.invoices.set(inv.id, inv);
    const [r] = await env.target.createPayments!(ctx(), [p]);
    expect(r).toMatchObject({ ok: true, message: expect.stringMatching(/^fee EUR 2\.50 already booked/) });
    expect([env.expenses().length, env.a.payments.size]).toEqual([1, 1]);
  });

  it('under one reference shared by two clients’ payments, each gets its own fee, once', async () => {
    const env = await setup('Fees4');
    const both = [env.pay(1, '2.50', 'ORDER-1'), env.pay(2, '1.20', 'ORDER-1')];
    expect((await env.target.createPayments!(ctx(), both)).map((r) => r.ok)).toEqual([true, true]);
    const held = () =>
      env
        .expenses()
        .map((e) => [e.amount, /ledgerlink-customer: (.*)$/m.exec(e.notes)?.[1]])
        .sort();
    expect(held()).toEqual([
      [120n, env.clients[1]],
      [250n, env.clients[0]],
    ]);
    // The batch again (after a lost answer, say): each fee found, none booked twice.
    for (const id of env.invoices) env.a.invoices.get(id)!.outstanding = 12100n;
    const again = await env.target.createPayments!(ctx(), both);
    expect(again.map((r) => r.ok && /already booked/.test(r.message ?? ''))).toEqual([true, true]);
    expect(held()).toHaveLength(2);
  });

  it('an expense keyed by hand with the reference is the fee when its amount is, else the payment is parked', async () => {
    const env = await setup('Fees5');
    const byHand = (amount: string) =>
      env.a.createExpense({
        categoryid: env.category('Bank Fees'),
        staffid: '1',
        date: '2026-11-05',
        amount: { amount, code: 'EUR' },
        notes: 'Stripe\nledgerlink-ref: P1',
      });
    byHand('2.50');
    const [found] = await env.target.createPayments!(ctx(), [env.pay(1, '2.50')]);
    expect(found).toMatchObject({ ok: true, message: expect.stringMatching(/^fee EUR 2\.50 already booked/) });
    byHand('3.00');
    const [other] = await env.target.createPayments!(ctx(), [env.pay(2, '3.00', 'P1')]);
    expect(other).toMatchObject({ ok: false, error: { code: 'PAYMENT_FEE_AMBIGUOUS', field: 'fee' } });
    expect([env.expenses().length, env.a.payments.size]).toEqual([2, 1]);
  });

  it('books nothing beside the payment for a zero or absent fee; refuses a negative one', async () => {
    const env = await setup('Fees6');
    const results = await env.target.createPayments!(ctx(), [env.pay(1, '0.00'), env.pay(2, null)]);
    expect(results.map((r) => r.ok && r.message)).toEqual([undefined, undefined]);
    expect([env.expenses().length, env.a.payments.size]).toEqual([0, 2]);
    for (const id of env.invoices) env.a.invoices.get(id)!.outstanding = 12100n;
    const [negative] = await env.target.createPayments!(ctx(), [env.pay(1, '-1.00', 'P9')]);
    expect(negative).toMatchObject({ ok: false, error: { code: 'AMOUNT_INVALID', field: 'fee' } });
    expect(env.expenses()).toEqual([]);
  });

  it('is recorded for the staff member feesStaffId names; one FreshBooks does not know is refused in its words, the payment not sent', async () => {
    const env = await setup('Staff', { feesStaffId: 7 });
    env.a.staff.add('7');
    expect((await env.target.createPayments!(ctx(), [env.pay(1, '1.00')]))[0]!.ok).toBe(true);
    expect(env.expenses().map((e) => e.staffid)).toEqual(['7']);
    const unknown = await setup('Staff', { feesStaffId: 9 });
    const [r] = await unknown.target.createPayments!(ctx(), [unknown.pay(2, '2.00', 'P2s')]);
    expect(r).toMatchObject({
      ok: false,
      error: { code: 'TARGET_REFUSED', field: 'fee', message: expect.stringMatching(/Invalid value for staffid/) },
    });
    expect([env.expenses().length, env.a.payments.size]).toEqual([1, 1]);
  });

  it('goes to accounts.fees when it names a category, by name or id', async () => {
    const env = await setup('Custom', { accounts: { fees: 'stripe charges' } });
    expect((await env.target.createPayments!(ctx(), [env.pay(1, '1.00')]))[0]!.ok).toBe(true);
    const byId = await setup('Custom', { accounts: { fees: env.category('Stripe charges') } });
    expect((await byId.target.createPayments!(ctx(), [byId.pay(2, '2.00', 'P2b')]))[0]!.ok).toBe(true);
    expect(env.expenses().map((e) => e.categoryid)).toEqual([
      env.category('Stripe charges'),
      env.category('Stripe charges'),
    ]);
  });

  it.each([
    ['no bank-fees category', 'NoFees', {}, /has no Bank Fees expense category.*accounts\.fees/],
    [
      'two bank-fee categories',
      'TwoFees',
      {},
      /has 2 bank-fee categories \(Bank Fees \d+, Merchant Fees \d+\): choose one/,
    ],
    [
      'accounts.fees not a category',
      'Custom',
      { fees: 'Nope' },
      /accounts\.fees is "Nope", which is not an expense category/,
    ],
    ['accounts.fees a deleted category', 'Custom', { fees: 'Old fees' }, /accounts\.fees is "Old fees", which is not/],
    [
      'accounts.fees a cost of goods sold category',
      'Custom',
      { fees: 'Cost of Goods Sold' },
      /a cost of goods sold category/,
    ],
  ] as const)(
    'is refused with TARGET_SETTING_MISSING on accounts.fees: %s; the payment is not sent',
    async (_, acc, accounts, says) => {
      const env = await setup(acc, { accounts });
      const [payments, expenses] = [env.a.payments.size, env.expenses().length];
      const [r] = await env.target.createPayments!(ctx(), [env.pay(1, '2.50', `X-${acc}-${String(says).length}`)]);
      expect(r).toMatchObject({
        ok: false,
        error: { code: 'TARGET_SETTING_MISSING', field: 'accounts.fees', message: expect.stringMatching(says) },
      });
      expect([env.a.payments.size - payments, env.expenses().length - expenses]).toEqual([0, 0]);
    },
  );

  it('documents() reads back what FreshBooks holds now in a few lists: a deleted invoice voided, a payment’s fee or none', async () => {
    const env = await setup('Reads');
    const [paid] = (await env.target.createPayments!(ctx(), [env.pay(1, '2.50')])).map(targetIdOf);
    const ids = [...env.invoices, paid!];
    const reads = () => sim.requests.filter((r) => r.method === 'GET').length;
    let before = reads();
    const docs = await env.target.documents!(ctx(), ids, { fees: true });
    expect(
      ids.map((id) => docs.get(id) && [docs.get(id)!.kind, docs.get(id)!.externalReference, docs.get(id)!.gross]),
    ).toEqual([
      ['invoice', 'I1', 12100n],
      ['invoice', 'I2', 12100n],
      ['payment', 'P1', 12100n],
    ]);
    expect([docs.get(env.invoices[0]!)!.voided, docs.get(env.invoices[0]!)!.lines]).toEqual([undefined, 1]);
    const [fee] = env.expenses();
    expect(docs.get(paid!)!.fee).toEqual({
      targetId: fee!.id,
      label: `expense ${fee!.id}`,
      currency: 'EUR',
      amount: 250n,
    });
    // A list of invoices, one of payments for the id that is no invoice, one of the day's expenses.
    expect(reads() - before).toBe(3);
    // A person deletes invoice I2 in FreshBooks (it has no void): kept with vis_state 1, read as voided.
    env.a.deleteInvoice(env.invoices[1]!);
    before = reads();
    const after = await env.target.documents!(ctx(), ids, { fees: true });
    expect(ids.map((id) => after.get(id)?.voided ?? false)).toEqual([false, true, false]);
    // Deleted invoices are a list of their own (search[vis_state]=1); credit notes are read one by one.
    expect(
      sim.requests
        .slice(-(reads() - before))
        .filter((r) => r.method === 'GET')
        .map((r) => r.route),
    ).toEqual([
      '/invoices/invoices',
      '/payments/payments',
      '/invoices/invoices',
      `/credit_notes/credit_notes/${env.invoices[1]}`,
      '/expenses/expenses',
    ]);
    // The fee deleted there: the payment holds none.
    fee!.vis_state = 1;
    expect((await env.target.documents!(ctx(), [paid!], { fees: true })).get(paid!)!.fee).toBeNull();
    // Not asked for fees: not read.
    expect((await env.target.documents!(ctx(), [paid!])).get(paid!)!.fee).toBeUndefined();
    // Asked for a kind (FreshBooks numbers invoices and payments apart: invoice 7 is not payment 7),
    // only that kind is read: an invoice's id asked for as a payment is none, and the other way round.
    before = reads();
    expect([...(await env.target.documents!(ctx(), ids, { kind: 'payment' })).keys()]).toEqual([paid]);
    expect(reads() - before).toBe(1);
    expect([...(await env.target.documents!(ctx(), [env.invoices[0]!, paid!], { kind: 'invoice' })).keys()]).toEqual([
      env.invoices[0],
    ]);
    expect(env.target.feeRemedy!('missing', { targetId: paid!, reference: 'P1', currency: 'EUR', fee: null })).toMatch(
      /expense in the Bank Fees category .*ledgerlink-ref: P1/,
    );
    expect(sim.violations).toEqual([]);
  });
});
