import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import {
  ONE_ATTEMPT,
  callContext,
  directCustomer,
  directInvoice,
  directPayment,
  directTargetDeps,
  targetIdOf as idOf,
  thrown,
} from './helpers/direct-target.ts';
import type { Database } from '../src/db/database.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import type { ItemResult, TargetConnector, TargetPayment } from '../src/sync/target.ts';
import { type OdooSimulator, startOdooSimulator } from '../src/connectors/odoo/simulator.ts';
import type { DatabaseOptions } from '../src/connectors/odoo/simulator-store.ts';
import { createOdooTarget } from '../src/connectors/odoo/target.ts';

/*
 * A payment provider's fee in the Odoo target (src/connectors/odoo/fees.ts) against its simulator
 * (16, 17, 18): the payment of what reached the bank with the fee written off in its own entry to
 * the bank fees account, its receivable settling the gross, set against its invoice; exactly once
 * through a lost answer to the create and to the reconciliation; the fees account from
 * `accounts.fees`, else the one named Bank Fees, else refused naming the setting; Odoo 18 without
 * an outstanding receipts account refused rather than booked without its fee; read back for
 * reconciliation.
 */

let db: Database;
const sims: OdooSimulator[] = [];
const ctx = () => callContext(db);

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  for (const s of sims) await s.close();
  await db.close();
});

interface Odoo {
  sim: OdooSimulator;
  target: TargetConnector;
  customer: string;
}

async function odoo(
  version: '16' | '17' | '18',
  company: DatabaseOptions = {},
  settings: Record<string, unknown> | ((sim: OdooSimulator) => Record<string, unknown>) = {},
): Promise<Odoo> {
  const sim = await startOdooSimulator({ version, company: { currency: 'EUR', ...company } });
  sims.push(sim);
  const extra = typeof settings === 'function' ? settings(sim) : settings;
  const target = createOdooTarget(
    directTargetDeps(
      db,
      {
        type: 'odoo',
        url: sim.url,
        database: sim.database,
        login: sim.login,
        apiKey: sim.issueApiKey(),
        version,
        limits: { callsPerMinute: 100_000 },
        ...extra,
      },
      'odoo-fees',
    ),
    { planner: createRatePlanner(db), client: ONE_ATTEMPT },
  );
  const [c] = await target.upsertCustomers(ctx(), [directCustomer('FC', 'Fee Customer')]);
  return { sim, target, customer: idOf(c) };
}

async function invoiceOf(o: Odoo, ref: string, customer = o.customer): Promise<string> {
  return idOf((await o.target.createInvoices(ctx(), [directInvoice(ref, customer)]))[0]);
}

const pay = (o: Odoo, p: TargetPayment): Promise<ItemResult[]> => o.target.createPayments!(ctx(), [p]);
const paymentsUnder = (o: Odoo, ref: string) => [...o.sim.db.payments.values()].filter((p) => p.ref === ref);
const bankFees = (o: Odoo) => o.sim.db.accounts.find((a) => a.name === 'Bank Fees')!.id;
const owes = (o: Odoo, invoiceId: string) =>
  o.sim.db.lines.get(o.sim.db.moves.get(Number(invoiceId))!.receivable)!.residual;
const settles = (o: Odoo, paymentId: number) =>
  -o.sim.db.lines.get(o.sim.db.payments.get(paymentId)!.receivable)!.balance;

describe('Odoo: a payment provider’s fee', () => {
  for (const version of ['16', '17', '18'] as const)
    it(`${version}: the payment of what reached the bank, the fee written off to Bank Fees in its entry, the invoice paid in full`, async () => {
      const o = await odoo(version);
      expect(o.target.capabilities.fees).toBe(true);
      const inv = await invoiceOf(o, 'FI-1');
      const [r] = await pay(o, directPayment('FP-1', o.customer, inv, '121.00', { fee: '2.50' }));
      expect(r).toMatchObject({ ok: true, outcome: 'created' });
      expect(r).not.toHaveProperty('awaitsInvoice');
      const [p] = paymentsUnder(o, 'FP-1');
      expect(p!.amount).toBe(11850n);
      expect(p!.state).not.toBe('draft');
      expect(p!.write_offs).toEqual([
        expect.objectContaining({ account_id: bankFees(o), partner_id: Number(o.customer), balance: 250n }),
      ]);
      expect(settles(o, p!.id)).toBe(12100n);
      expect(owes(o, inv)).toBe(0n);
      // The write-off goes as Odoo 16–18 take it: a list of line values, both amount columns.
      const create = o.sim.calls.find((c) => c.model === 'account.payment' && c.modelMethod === 'create')!;
      expect((create.args[0] as Record<string, unknown>).write_off_line_vals).toEqual([
        expect.objectContaining({ account_id: bankFees(o), name: 'Payment provider fee FP-1' }),
      ]);
      expect(o.sim.violations).toEqual([]);
    });

  it('a zero or absent fee books the payment as before: through the wizard, no write-off', async () => {
    const o = await odoo('17');
    const inv = await invoiceOf(o, 'FI-2');
    for (const [ref, fee] of [
      ['FP-2', '0.00'],
      ['FP-3', null],
    ] as const)
      expect((await pay(o, directPayment(ref, o.customer, inv, '10.00', { fee })))[0]).toMatchObject({ ok: true });
    expect(
      paymentsUnder(o, 'FP-2')
        .concat(paymentsUnder(o, 'FP-3'))
        .map((p) => [p.amount, p.write_offs]),
    ).toEqual([
      [1000n, []],
      [1000n, []],
    ]);
    expect(
      o.sim.calls.filter((c) => c.model === 'account.payment.register' && c.modelMethod === 'create'),
    ).toHaveLength(2);
    expect(JSON.stringify(o.sim.calls.map((c) => c.args))).not.toContain('write_off_line_vals');
  });

  it('a lost answer to the create: the lookup finds the payment with its fee and says it awaits its invoice; applied once', async () => {
    const o = await odoo('17');
    const inv = await invoiceOf(o, 'FI-3');
    o.sim.dropNext(1, (c) => c.model === 'account.payment' && c.modelMethod === 'create');
    const d = directPayment('FP-4', o.customer, inv, '121.00', { fee: '1.20' });
    expect((await thrown(pay(o, d))).retryable).toBe(true);
    const found = await o.target.findByReference(ctx(), 'payment', 'FP-4', o.customer);
    expect(found).toMatchObject({ awaitsInvoice: true });
    const [p] = paymentsUnder(o, 'FP-4');
    expect(p).toMatchObject({ state: 'posted', amount: 11980n });
    expect(p!.write_offs.map((w) => w.balance)).toEqual([120n]);
    // The engine then applies it, as a payment that came before its invoice; twice applies nothing more.
    const early = {
      paymentSourceId: 'FP-4',
      paymentTargetId: found!.targetId,
      paymentReference: 'FP-4',
      customerTargetId: o.customer,
      invoiceTargetId: inv,
      invoiceReference: 'FI-3',
      currency: 'EUR',
    };
    expect((await o.target.applyEarlyPayments!(ctx(), [early]))[0]).toMatchObject({ ok: true });
    expect((await o.target.applyEarlyPayments!(ctx(), [early]))[0]).toMatchObject({ ok: true });
    expect(owes(o, inv)).toBe(0n);
    expect(o.sim.db.partials.filter((x) => x.credit_move_id === p!.receivable)).toHaveLength(1);
    // Applied, it is found as done.
    expect(await o.target.findByReference(ctx(), 'payment', 'FP-4', o.customer)).not.toHaveProperty('awaitsInvoice');
    expect(o.sim.duplicates()).toEqual([]);
  });

  it('a lost answer to setting it against the invoice: booked, awaiting its invoice, never a second payment', async () => {
    const o = await odoo('17');
    const inv = await invoiceOf(o, 'FI-4');
    o.sim.dropNext(1, (c) => c.modelMethod === 'js_assign_outstanding_line');
    const [r] = await pay(o, directPayment('FP-5', o.customer, inv, '121.00', { fee: '2.50' }));
    expect(r).toMatchObject({ ok: true, awaitsInvoice: true });
    expect(paymentsUnder(o, 'FP-5')).toHaveLength(1);
    expect(owes(o, inv)).toBe(0n);
  });

  it('more than the invoice owes: the invoice is paid, the rest stays open on the customer', async () => {
    const o = await odoo('17');
    const inv = await invoiceOf(o, 'FI-5');
    await pay(o, directPayment('FP-6', o.customer, inv, '150.00', { fee: '3.00' }));
    const [p] = paymentsUnder(o, 'FP-6');
    expect([p!.amount, settles(o, p!.id), owes(o, inv)]).toEqual([14700n, 15000n, 0n]);
    expect(o.sim.db.lines.get(p!.receivable)!.residual).toBe(-2900n);
  });

  it('the fees account: accounts.fees when set, checked; else the one named Bank Fees; else refused naming the setting', async () => {
    const fees = { code: '626000', name: 'Bank Fees', account_type: 'expense' };
    const chart = [{ code: '121000', name: 'Account Receivable', account_type: 'asset_receivable' }];
    const stripe = { code: '626100', name: 'Bank charges (Stripe)', account_type: 'expense' };
    const idOfCode = (code: string) => (sim: OdooSimulator) => ({
      accounts: { fees: sim.db.accounts.find((a) => a.code === code)!.id },
    });
    const cases: [DatabaseOptions, Parameters<typeof odoo>[2], RegExp][] = [
      [{ accounts: chart }, {}, /no expense account named Bank Fees.*accounts\.fees/],
      [
        { accounts: [...chart, fees, stripe] },
        {},
        /2 bank-fee accounts .*626000 Bank Fees.*626100 Bank charges \(Stripe\).*choose one in accounts\.fees/,
      ],
      [{}, { accounts: { fees: 999 } }, /accounts\.fees is 999, which is not an active account/],
      [{}, idOfCode('121000'), /121000 Account Receivable\), a asset_receivable account: name the expense account/],
    ];
    for (const [company, settings, says] of cases) {
      const o = await odoo('17', company, settings);
      const inv = await invoiceOf(o, 'FI-6');
      const [r] = await pay(o, directPayment('FP-7', o.customer, inv, '121.00', { fee: '2.50' }));
      expect(r).toEqual({
        ok: false,
        error: expect.objectContaining({ code: 'TARGET_SETTING_MISSING', field: 'accounts.fees', retryable: false }),
      });
      expect((r as { error: { message: string } }).error.message).toMatch(says);
      expect(paymentsUnder(o, 'FP-7')).toEqual([]);
    }
    // Chosen among two by the setting.
    const chosen = await odoo('17', { accounts: [...chart, fees, stripe] }, idOfCode('626100'));
    const inv = await invoiceOf(chosen, 'FI-7');
    expect(
      (await pay(chosen, directPayment('FP-8', chosen.customer, inv, '121.00', { fee: '2.50' })))[0],
    ).toMatchObject({
      ok: true,
    });
    expect(paymentsUnder(chosen, 'FP-8')[0]!.write_offs.map((w) => w.account_id)).toEqual([
      chosen.sim.db.accounts.find((a) => a.code === '626100')!.id,
    ]);
  });

  it('Odoo 18 without an outstanding receipts account: refused naming the journal, the draft removed, nothing booked', async () => {
    const o = await odoo('18', { outstandingAccount: false });
    const inv = await invoiceOf(o, 'FI-8');
    const [r] = await pay(o, directPayment('FP-9', o.customer, inv, '121.00', { fee: '2.50' }));
    expect(r).toEqual({
      ok: false,
      error: expect.objectContaining({ code: 'TARGET_SETTING_MISSING', field: 'journals.bank' }),
    });
    expect(paymentsUnder(o, 'FP-9')).toEqual([]);
    expect(owes(o, inv)).toBe(12100n);
  });

  it('a fee below zero, the whole payment or more, or not an amount in its currency is refused naming the fee', async () => {
    const o = await odoo('17');
    const inv = await invoiceOf(o, 'FI-9');
    const results = await o.target.createPayments!(ctx(), [
      directPayment('FP-10', o.customer, inv, '10.00', { fee: '-0.50' }),
      directPayment('FP-11', o.customer, inv, '10.00', { fee: '10.00' }),
      directPayment('FP-12', o.customer, inv, '10.00', { fee: '0.505' }),
    ]);
    expect(results).toEqual(
      [/below zero/, /is the whole payment \(10\.00\) or more/, /not an amount in EUR/].map((message) => ({
        ok: false,
        error: expect.objectContaining({
          code: 'AMOUNT_INVALID',
          field: 'fee',
          retryable: false,
          message: expect.stringMatching(message),
        }),
      })),
    );
    expect(o.sim.db.payments.size).toBe(0);
  });

  it('reads each payment’s fee back for reconciliation, two customers under one reference each their own; its gross what it settles', async () => {
    const o = await odoo('17');
    const [other] = await o.target.upsertCustomers(ctx(), [directCustomer('FD', 'Other Customer')]);
    const them = idOf(other);
    const [i1, i2] = [await invoiceOf(o, 'FI-10'), await invoiceOf(o, 'FI-11', them)];
    const ours = idOf((await pay(o, directPayment('FP-13', o.customer, i1, '121.00', { fee: '2.50' })))[0]);
    const theirs = idOf(
      (
        await pay(o, {
          ...directPayment('FP-13', them, i2, '121.00', { fee: '1.20' }),
          sourceId: 'FP-13b',
          idempotencyKey: 'key-FP-13b',
        })
      )[0],
    );
    const none = idOf((await pay(o, directPayment('FP-14', o.customer, null, '5.00')))[0]);
    const docs = await o.target.documents!(ctx(), [ours, theirs, none], { fees: true });
    const number = o.sim.db.payments.get(Number(ours.slice('payment:'.length)))!.name;
    expect(docs.get(ours)).toMatchObject({
      gross: 12100n,
      fee: { targetId: ours, label: `the fee line of payment ${number}`, currency: 'EUR', amount: 250n },
    });
    expect(docs.get(theirs)).toMatchObject({ gross: 12100n, fee: { amount: 120n }, customerTargetId: them });
    expect(docs.get(none)!.fee).toBeNull();
    expect((await o.target.documents!(ctx(), [ours])).get(ours)).not.toHaveProperty('fee');
    expect(o.sim.duplicates()).toEqual([]);
    expect(o.sim.violations).toEqual([]);
  });

  it('reconciliation reads what Odoo holds now: a cancelled invoice voided, a deleted id left out, every payment’s fee, a few requests a page', async () => {
    const o = await odoo('17');
    expect(o.target.capabilities.reconciliation).toBe(true);
    const [kept, cancelled] = [await invoiceOf(o, 'RI-1'), await invoiceOf(o, 'RI-2')];
    const paid = idOf((await pay(o, directPayment('RP-1', o.customer, kept, '121.00', { fee: '2.50' })))[0]);
    const none = idOf((await pay(o, directPayment('RP-2', o.customer, null, '5.00')))[0]);
    // More payments than a search_read answers without a limit (80): each one's fee is still read.
    const many = (
      await o.target.createPayments!(
        ctx(),
        Array.from({ length: 81 }, (_, i) => directPayment(`RP-M${i}`, o.customer, null, '5.00', { fee: '0.10' })),
      )
    ).map(idOf);
    // A person resets RI-2 to draft and cancels it in Odoo; an id Odoo no longer has (a draft deleted).
    o.sim.db.cancelMove(Number(cancelled));
    const gone = '987654321';
    const before = o.sim.calls.length;
    const docs = await o.target.documents!(ctx(), [kept, cancelled, gone, paid, none, ...many], { fees: true });
    expect(docs.get(kept)).toMatchObject({ kind: 'invoice', externalReference: 'RI-1', gross: 12100n, lines: 1 });
    expect(docs.get(kept)).not.toHaveProperty('voided');
    expect(docs.get(cancelled)).toMatchObject({ kind: 'invoice', externalReference: 'RI-2', voided: true });
    expect(docs.has(gone)).toBe(false);
    expect(docs.get(paid)).toMatchObject({ kind: 'payment', gross: 12100n, fee: { amount: 250n } });
    expect(docs.get(paid)).not.toHaveProperty('voided');
    expect(docs.get(none)!.fee).toBeNull();
    expect(many.map((id) => docs.get(id)?.fee?.amount)).toEqual(many.map(() => 10n));
    // Moves, payments, their receivable lines, the fees account, its lines: one request each.
    expect(o.sim.calls.slice(before).map((c) => `${c.model}.${c.modelMethod}`)).toEqual([
      'account.move.search_read',
      'account.payment.search_read',
      'account.move.line.search_read',
      'account.account.search_read',
      'account.move.line.search_read',
    ]);
    expect(o.sim.violations).toEqual([]);
  });

  it('says what to do about a fee reconciliation finds wrong', async () => {
    const o = await odoo('17');
    const fee = {
      targetId: 'payment:1',
      label: 'the fee line of payment PBNK1/2026/00001',
      currency: 'EUR',
      amount: 250n,
    };
    const at = (d: 'missing' | 'amount' | 'extra', f: typeof fee | null) =>
      o.target.feeRemedy!(d, { targetId: 'payment:1', reference: 'FP-1', currency: 'EUR', fee: f });
    expect(at('missing', null)).toMatch(/^reset payment FP-1 to draft in Odoo.*Mark as fully paid/);
    expect(at('amount', fee)).toBe(
      'if the source is right, correct the fee line of payment PBNK1/2026/00001 in Odoo; if Odoo is, correct the fee in the source',
    );
    expect(at('extra', fee)).toMatch(/^if the source is right, delete the fee line of payment/);
  });
});
