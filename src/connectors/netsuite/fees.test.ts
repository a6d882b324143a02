import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { CanonicalPayment } from '../../sync/canonical.ts';
import type { RatePlanner } from '../../sync/remote/contracts.ts';
import type { TargetCallContext, TargetConnector, TargetDeps, TargetPayment } from '../../sync/target.ts';
import { type NetSuiteSimulator, startNetSuiteSimulator, testKeyPair, writes } from './simulator.ts';
import { DEFAULT_CHART, type GlAccount } from './simulator-store.ts';
import { createNetSuiteTarget } from './target.ts';

/*
 * Payment providers' fees in NetSuite, the connector against the simulated account without the
 * engine: a journal entry from the fees expense account to the account the money went to, booked
 * before its payment, found (not booked again) when the payment is sent again after a lost answer,
 * each customer's own where two payments share a reference; the fees account set, discovered, or
 * refused naming the setting; nothing extra for a payment without a fee; read back for
 * reconciliation.
 */

const KEYS = testKeyPair();
const CLIENT = { clientId: 'fees-client', certificateId: 'fees-cert' };
const log = pino({ level: 'silent' });
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
let sim: NetSuiteSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

interface Setup {
  s: NetSuiteSimulator;
  target: TargetConnector;
  ctx: TargetCallContext;
  customers: string[];
  invoices: string[];
  account: (name: string) => string;
}

async function setup(
  o: { chart?: Omit<GlAccount, 'id'>[]; settings?: (account: (name: string) => string) => object } = {},
): Promise<Setup> {
  const s = await startNetSuiteSimulator({
    accountId: '1234567',
    clients: [{ ...CLIENT, publicKey: KEYS.publicKey }],
    items: ['Sales'],
    chart: o.chart,
  });
  sim = s;
  const account = (name: string) => [...s.account.chart.values()].find((a) => a.acctName === name)!.id;
  const deps = {
    db: {} as never,
    log,
    mapping: {} as never,
    settings: {
      type: 'netsuite',
      accountId: '1234567',
      ...CLIENT,
      privateKey: KEYS.privateKey,
      currency: 'EUR',
      defaultItemId: [...s.account.items.values()][0]!.id,
      taxRates: { '0.21': s.account.taxCodes.find((t) => t.rate === '21')!.id },
      baseUrl: s.baseUrl,
      tokenUrl: s.tokenUrl,
      ...o.settings?.(account),
    },
    entityId: 'e',
    pipelineId: 'p',
    pipelineName: 'unit',
    box: {} as never,
  } satisfies TargetDeps;
  const target = createNetSuiteTarget(deps, { planner, client: { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: 1 } });
  const ctx = { db: {} as never, log, actor: 'pipeline:unit' };
  const customers: string[] = [];
  const invoices: string[] = [];
  for (const n of [1, 2]) {
    const [c] = await target.upsertCustomers(ctx, [
      {
        sourceId: `C${n}`,
        code: `CUST-${n}`,
        targetId: null,
        record: { kind: 'customer', sourceId: `C${n}`, name: `Shop ${n}` },
      },
    ]);
    customers.push(c!.ok ? c!.targetId : '');
    const [i] = await target.createInvoices(ctx, [
      {
        sourceId: `I${n}`,
        customerTargetId: customers[n - 1]!,
        productTargetIds: {},
        idempotencyKey: `I${n}`,
        record: {
          kind: 'invoice',
          sourceId: `I${n}`,
          customerSourceId: `C${n}`,
          externalReference: `INV-${n}`,
          invoiceDate: '2026-03-01',
          description: '',
          dueDate: '2026-03-31',
          currency: 'EUR',
          lines: [{ description: 'Goods', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
        },
      },
    ]);
    invoices.push(i!.ok ? i!.targetId : '');
  }
  return { s, target, ctx, customers, invoices, account };
}

function payment(t: Setup, n: 1 | 2, fee: string | null | undefined, reference = `PAY-${n}`): TargetPayment {
  const record: CanonicalPayment = {
    kind: 'payment',
    sourceId: `P${n}`,
    customerSourceId: `C${n}`,
    externalReference: reference,
    invoiceExternalReference: `INV-${n}`,
    date: '2026-03-05',
    currency: 'EUR',
    amount: '121.00',
    description: '',
    ...(fee !== undefined ? { fee } : {}),
  };
  return {
    sourceId: `P${n}`,
    record,
    customerTargetId: t.customers[n - 1]!,
    invoiceTargetId: t.invoices[n - 1]!,
    bankAccountCode: '',
    idempotencyKey: `P${n}`,
  };
}

const journals = (s: NetSuiteSimulator) =>
  [...s.account.journals.values()].map((j) => ({
    externalId: j.externalId,
    memo: j.memo,
    lines: j.lines.map((l) => ({
      account: l.account,
      debit: l.debit,
      credit: l.credit,
      memo: l.memo,
      entity: l.entity,
    })),
  }));
const writesOf = (s: NetSuiteSimulator, type: string) => s.requests.filter((r) => writes(r, type)).length;

describe('payment providers’ fees in NetSuite', () => {
  it('books the fee as a journal entry from the bank-fees expense account to the bank, before the gross payment', async () => {
    const t = await setup();
    const [r] = await t.target.createPayments!(t.ctx, [payment(t, 1, '2.50')]);
    expect(r).toMatchObject({
      ok: true,
      message: expect.stringMatching(/^fee EUR 2\.50 booked as journal entry JE1$/),
    });
    expect(journals(t.s)).toEqual([
      {
        externalId: `PAY-1__fee__c${t.customers[0]}`,
        memo: 'Payment provider fee on PAY-1',
        lines: [
          {
            account: t.account('Bank Service Charges'),
            debit: 250n,
            credit: 0n,
            memo: 'PAY-1',
            entity: t.customers[0],
          },
          { account: t.account('Checking'), debit: 0n, credit: 250n, memo: 'PAY-1', entity: t.customers[0] },
        ],
      },
    ]);
    // The payment stays gross and pays its invoice in full.
    const [p] = [...t.s.account.payments.values()];
    expect(p).toMatchObject({ payment: 12100n, undepFunds: true });
    expect(t.s.account.remaining(t.s.account.txns.get(t.invoices[0]!)!)).toBe(0n);
    // Written before the payment.
    const order = t.s.requests
      .filter((x) => writes(x, 'journalEntry') || writes(x, 'customerPayment'))
      .map((x) => x.route.split('/')[1]);
    expect(order.slice(-2)).toEqual(['journalEntry', 'customerPayment']);
    expect(t.s.violations).toEqual([]);
  });

  it('credits the account payments go to when they skip Undeposited Funds, and the fees account set', async () => {
    const chart = [
      ...DEFAULT_CHART,
      { acctNumber: '1010', acctName: 'Payouts', acctType: 'Bank', isInactive: false },
      { acctNumber: '6160', acctName: 'Stripe costs', acctType: 'OthExpense', isInactive: false },
    ];
    const t = await setup({
      chart,
      settings: (account) => ({
        undepositedFunds: false,
        accounts: { bank: account('Payouts'), fees: account('Stripe costs') },
      }),
    });
    const [r] = await t.target.createPayments!(t.ctx, [payment(t, 1, '1.20')]);
    expect(r!.ok).toBe(true);
    expect(journals(t.s)[0]!.lines.map((l) => [l.account, l.debit, l.credit])).toEqual([
      [t.account('Stripe costs'), 120n, 0n],
      [t.account('Payouts'), 0n, 120n],
    ]);
    expect([...t.s.account.payments.values()][0]).toMatchObject({ undepFunds: false, account: t.account('Payouts') });
  });

  it('books no second fee when the payment is sent again after a lost answer, and finds it before writing', async () => {
    const t = await setup();
    // The fee is committed, then NetSuite stops answering before the payment is written.
    const lift = t.s.failWhile((r) => r.route.startsWith('/customerPayment/'));
    await expect(t.target.createPayments!(t.ctx, [payment(t, 1, '2.50')])).rejects.toThrow();
    lift();
    expect(t.s.account.payments.size).toBe(0);
    expect(t.s.account.journals.size).toBe(1);
    const writes = writesOf(t.s, 'journalEntry');
    const [r] = await t.target.createPayments!(t.ctx, [payment(t, 1, '2.50')]);
    expect(r).toMatchObject({ ok: true, message: 'fee EUR 2.50 already booked as journal entry JE1' });
    expect(writesOf(t.s, 'journalEntry')).toBe(writes);
    // The fee's own answer lost after it committed: the engine sends the payment again, the fee is found.
    t.s.dropNext(1, (x) => x.route.startsWith('/journalEntry/'));
    await expect(t.target.createPayments!(t.ctx, [payment(t, 2, '0.75')])).rejects.toThrow();
    const [again] = await t.target.createPayments!(t.ctx, [payment(t, 2, '0.75')]);
    expect(again).toMatchObject({ ok: true, message: 'fee EUR 0.75 already booked as journal entry JE2' });
    expect(t.s.account.journals.size).toBe(2);
    expect(t.s.account.payments.size).toBe(2);
    expect(t.s.duplicates()).toEqual([]);
  });

  it('books each customer’s own fee and payment where two payments share a reference, and reads them back', async () => {
    const t = await setup();
    const results = await t.target.createPayments!(t.ctx, [
      payment(t, 1, '2.50', 'ORDER-7'),
      payment(t, 2, '1.20', 'ORDER-7'),
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    const held = [...t.s.account.payments.values()];
    expect(held.map((p) => [p.customer, p.payment])).toEqual([
      [t.customers[0], 12100n],
      [t.customers[1], 12100n],
    ]);
    expect(journals(t.s).map((j) => [j.lines[0]!.entity, j.lines[0]!.debit])).toEqual([
      [t.customers[0], 250n],
      [t.customers[1], 120n],
    ]);
    // Sent again: both found, nothing written twice.
    await t.target.createPayments!(t.ctx, [payment(t, 1, '2.50', 'ORDER-7'), payment(t, 2, '1.20', 'ORDER-7')]);
    expect([t.s.account.payments.size, t.s.account.journals.size]).toEqual([2, 2]);
    for (const [n, r] of results.entries())
      expect(await t.target.findByReference(t.ctx, 'payment', 'ORDER-7', t.customers[n])).toMatchObject({
        targetId: r.ok ? r.targetId : '',
        customerTargetId: t.customers[n],
      });
    const ids = results.map((r) => (r.ok ? r.targetId : ''));
    const docs = await t.target.documents!(t.ctx, ids, { lines: false, fees: true });
    expect(ids.map((id) => [docs.get(id)!.externalReference, docs.get(id)!.fee?.amount])).toEqual([
      ['ORDER-7', 250n],
      ['ORDER-7', 120n],
    ]);
    expect(docs.get(ids[0]!)!.fee?.label).toMatch(/^journal entry \d+$/);
    expect(
      t.target.feeRemedy!('missing', { targetId: ids[0]!, reference: 'ORDER-7', currency: 'EUR', fee: null }),
    ).toMatch(/journal entry debiting the bank-fees expense account/);
    expect(t.s.violations).toEqual([]);
  });

  it('books nothing extra for a payment without a fee or with a zero fee, and reads no fee for it', async () => {
    const t = await setup();
    const results = await t.target.createPayments!(t.ctx, [payment(t, 1, null), payment(t, 2, '0.00')]);
    expect(results.map((r) => r.ok && r.message)).toEqual([null, null]);
    expect(t.s.account.journals.size).toBe(0);
    expect(t.s.requests.some((r) => r.route.startsWith('/query/') || r.route.startsWith('/journalEntry/'))).toBe(false);
    const ids = results.map((r) => (r.ok ? r.targetId : ''));
    const docs = await t.target.documents!(t.ctx, ids, { fees: true });
    expect(ids.map((id) => docs.get(id)!.fee)).toEqual([null, null]);
  });

  it('refuses a fee whose account is missing, ambiguous or of the wrong type, naming the setting, and sends no payment', async () => {
    const noFees = DEFAULT_CHART.filter((a) => a.acctName !== 'Bank Service Charges');
    const twoFees = [
      ...DEFAULT_CHART,
      { acctNumber: '6170', acctName: 'Merchant Fees', acctType: 'Expense', isInactive: false },
    ];
    const twoBanks = [
      ...DEFAULT_CHART,
      { acctNumber: '1010', acctName: 'Savings', acctType: 'Bank', isInactive: false },
    ];
    const cases: [Parameters<typeof setup>[0], string, RegExp][] = [
      [{ chart: noFees }, 'accounts.fees', /has no bank-fees expense account.*target\.accounts\.fees/],
      [
        { chart: twoFees },
        'accounts.fees',
        /has 2 bank-fees expense accounts \(6150 Bank Service Charges \(\d+\), 6170 Merchant Fees/,
      ],
      [{ settings: (a) => ({ accounts: { fees: a('Sales') } }) }, 'accounts.fees', /is an account of type Income/],
      [{ settings: () => ({ accounts: { fees: '999999' } }) }, 'accounts.fees', /"999999" is not an account/],
      [
        { chart: twoBanks },
        'accounts.feesBank',
        /2 bank accounts to pay the provider's fee out of: set target\.accounts\.feesBank/,
      ],
      [
        { settings: (a) => ({ accounts: { feesBank: a('Office Supplies') } }) },
        'accounts.feesBank',
        /type Expense, not an active bank/,
      ],
    ];
    for (const [o, field, says] of cases) {
      const t = await setup(o);
      const [r] = await t.target.createPayments!(t.ctx, [payment(t, 1, '2.50')]);
      expect(r).toMatchObject({ ok: false, error: { code: 'TARGET_SETTING_MISSING', field, retryable: false } });
      expect(!r!.ok && r!.error.message).toMatch(says);
      expect([t.s.account.journals.size, t.s.account.payments.size]).toEqual([0, 0]);
      await t.s.close();
      sim = undefined;
    }
  });

  it('refuses a fee that is not an amount, and passes on NetSuite’s refusal of the entry without sending the payment', async () => {
    const t = await setup();
    const [bad] = await t.target.createPayments!(t.ctx, [payment(t, 1, '0.001')]);
    expect(bad).toMatchObject({ ok: false, error: { code: 'AMOUNT_INVALID', field: 'fee' } });
    t.s.account.closedUntil = '2026-03-31';
    const [r] = await t.target.createPayments!(t.ctx, [payment(t, 1, '2.50')]);
    expect(r).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', field: 'fee' } });
    expect(!r!.ok && r!.error.message).toMatch(
      /refused the payment provider's fee of EUR 2\.50 .*period of this transaction is closed/,
    );
    expect([t.s.account.journals.size, t.s.account.payments.size]).toEqual([0, 0]);
  });
});

describe('documents as NetSuite holds them now (reconciliation)', () => {
  it('reads them with SuiteQL in two requests: a voided invoice as voided, a deleted one left out, each payment’s fee or none', async () => {
    const t = await setup();
    // Payments that pay no invoice, so that both invoices can be voided or deleted.
    const paid = await t.target.createPayments!(t.ctx, [
      { ...payment(t, 1, '2.50'), invoiceTargetId: null },
      { ...payment(t, 2, null), invoiceTargetId: null },
    ]);
    const payments = paid.map((r) => (r.ok ? r.targetId : ''));
    // A person voids the first invoice (kept, zero) and deletes the second, in NetSuite.
    t.s.account.void(t.invoices[0]!);
    t.s.account.txns.delete(t.invoices[1]!);
    const before = t.s.requests.length;
    const docs = await t.target.documents!(t.ctx, [...t.invoices, ...payments], { fees: true });
    // One query for the documents, one for the payments' fees; no record read one by one.
    expect(t.s.requests.slice(before).map((r) => `${r.method} ${r.route}`)).toEqual([
      'POST /query/v1/suiteql',
      'POST /query/v1/suiteql',
    ]);
    const voided = docs.get(t.invoices[0]!)!;
    expect([voided.kind, voided.externalReference, voided.gross, voided.voided]).toEqual([
      'invoice',
      'INV-1',
      0n,
      true,
    ]);
    expect(docs.has(t.invoices[1]!)).toBe(false);
    expect(
      payments.map((id) => [docs.get(id)?.externalReference, docs.get(id)?.voided, docs.get(id)?.fee?.amount ?? null]),
    ).toEqual([
      ['PAY-1', undefined, 250n],
      ['PAY-2', undefined, null],
    ]);
    expect(docs.get(payments[0]!)!.fee?.label).toMatch(/^journal entry \d+$/);
    expect(t.s.violations).toEqual([]);
  });
});
