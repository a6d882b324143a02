/**
 * A payment provider's fee in AccountsIQ: a sundry bank payment (SaveSundryReceiptPayments-
 * GetBackTransactionIDs) out of the receipt's bank to the fees GL account, booked before the
 * receipt, under the payment's reference and marked with its customer; looked up before it is
 * written, so that an attempt after a lost answer books none twice. Against the simulated
 * Integration web service (every envelope checked against wsdl.ts); the connector alone, no database.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../src/db/database.ts';
import { type AccountsIqSimulator, startAccountsIqSimulator } from '../src/connectors/accountsiq/simulator.ts';
import { createAccountsIqTarget } from '../src/connectors/accountsiq/target.ts';
import type { Txn } from '../src/connectors/accountsiq/simulator-books.ts';
import type { RatePlanner } from '../src/sync/remote/contracts.ts';
import { SecretBox } from '../src/sync/secrets.ts';
import type { TargetCallContext, TargetConnector, TargetPayment } from '../src/sync/target.ts';

const SUNDRY = 'SaveSundryReceiptPaymentsGetBackTransactionIDs';
const noDb = new Proxy({} as Queryable, {
  get() {
    throw new Error('the AccountsIQ target must not use the database in these tests');
  },
});
const ctx: TargetCallContext = { db: noDb, log: pino({ level: 'silent' }), actor: 'test' };
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
const CLIENT = { clientId: 'aiq-fees-app', clientSecret: 'aiq-fees-secret-0123456789abcdef' };

let sim: AccountsIqSimulator;
beforeAll(async () => {
  sim = await startAccountsIqSimulator({
    entityId: 'FEES',
    ...CLIENT,
    // 6100: bank charges; BANK2: a second bank account, the one the payments here go to.
    glAccounts: ['4000', '6100'],
    banks: ['BANK', 'BANK2'],
    seed: 5,
  });
});
afterAll(() => sim.close());

function target(extra: Record<string, unknown> = { feesGlAccountCode: '6100' }): TargetConnector {
  return createAccountsIqTarget(
    {
      db: noDb,
      log: ctx.log,
      mapping: { defaultGlAccountCode: '4000' },
      settings: { type: 'accountsiq', url: sim.url, entityId: 'FEES', ...CLIENT, ...extra },
      entityId: 'e1',
      pipelineId: 'p1',
      pipelineName: 'fees',
      box: new SecretBox(Buffer.alloc(32, 1)),
    },
    { planner, client: { maxAttempts: 1, backoffBaseMs: 1, backoffMaxMs: 2 } },
  );
}

function payment(ref: string, customer: string, amount: string, fee?: string, invoiceTargetId: string | null = null) {
  return {
    sourceId: `${ref}-${customer}`,
    customerTargetId: customer,
    invoiceTargetId,
    bankAccountCode: 'BANK2',
    idempotencyKey: `p1:payment:${ref}-${customer}`,
    record: {
      kind: 'payment',
      sourceId: `${ref}-${customer}`,
      externalReference: ref,
      customerSourceId: customer,
      date: '2026-11-05',
      amount,
      currency: 'EUR',
      description: '',
      ...(fee === undefined ? {} : { fee }),
    },
  } satisfies TargetPayment;
}

async function customer(t: TargetConnector, code: string) {
  const [r] = await t.upsertCustomers(ctx, [
    { sourceId: code, code, targetId: null, record: { kind: 'customer', sourceId: code, name: `Customer ${code}` } },
  ]);
  expect(r?.ok).toBe(true);
}

const under = (type: Txn['type'], ref: string) =>
  [...sim.books.transactions.values()].filter((t) => t.type === type && t.reference === ref);
/** The fees AccountsIQ holds under a reference: [customer its mark names, amount, bank, GL account, tax code]. */
const feesUnder = (ref: string) =>
  under('BankPayment', ref)
    .map((t) => [
      /\(ledgerlink customer ([^\s()]+)\)$/.exec(t.description ?? '')?.[1] ?? null,
      t.gross.toFixed(2),
      t.bank,
      t.gl,
      t.taxCode,
    ])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));

describe("a payment provider's fee in AccountsIQ", () => {
  it("books the fee out of the receipt's bank to the fees account, before the receipt, which stays gross and pays its invoice", async () => {
    const t = target();
    await customer(t, 'F-1');
    const [inv] = await t.createInvoices(ctx, [
      {
        sourceId: 'FI-1',
        customerTargetId: 'F-1',
        productTargetIds: {},
        idempotencyKey: 'p1:invoice:FI-1',
        record: {
          kind: 'invoice',
          sourceId: 'FI-1',
          externalReference: 'FI-1',
          customerSourceId: 'F-1',
          invoiceDate: '2026-11-02',
          dueDate: '2026-12-02',
          currency: 'EUR',
          description: 'Tickets',
          lines: [{ description: 'Ticket', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
        },
      },
    ]);
    expect(inv?.ok).toBe(true);
    const invoiceId = inv!.ok ? inv!.targetId : '';
    const [r] = await t.createPayments!(ctx, [payment('FP-1', 'F-1', '121.00', '2.50', invoiceId)]);
    expect(r).toMatchObject({ ok: true, message: expect.stringMatching(/^fee EUR 2\.50 booked as bank payment \d+/) });
    // Out of BANK2 (the payment's bank), to 6100, the one tax code of rate 0 (Z), the fee's amount.
    expect(feesUnder('FP-1')).toEqual([['F-1', '2.50', 'BANK2', '6100', 'Z']]);
    const [fee] = under('BankPayment', 'FP-1');
    const [receipt] = under('SalesReceipt', 'FP-1');
    expect(receipt!.gross.toFixed(2)).toBe('121.00');
    expect(receipt!.bank).toBe('BANK2');
    // Booked before the receipt (transaction ids are given in order), and the receipt paid its invoice.
    expect(fee!.id).toBeLessThan(receipt!.id);
    expect(sim.books.transactions.get(Number(invoiceId))!.outstanding.toFixed(2)).toBe('0.00');
    expect(sim.violations).toEqual([]);
  });

  it('books no second fee after a lost answer, of the fee or of its receipt', async () => {
    const t = target();
    await customer(t, 'F-2');
    // The fee is committed and its answer lost: nothing else is sent.
    sim.dropNext(1, SUNDRY);
    await expect(t.createPayments!(ctx, [payment('FP-2', 'F-2', '80.00', '1.60')])).rejects.toThrow();
    expect(under('SalesReceipt', 'FP-2')).toEqual([]);
    // Sent again: the fee is found under its reference, the receipt sent.
    const [again] = await t.createPayments!(ctx, [payment('FP-2', 'F-2', '80.00', '1.60')]);
    expect(again).toMatchObject({ ok: true, message: expect.stringMatching(/^fee EUR 1\.60 already booked/) });
    expect(feesUnder('FP-2')).toEqual([['F-2', '1.60', 'BANK2', '6100', 'Z']]);
    expect(under('SalesReceipt', 'FP-2')).toHaveLength(1);

    // The receipt's answer lost after its fee was booked: sent again, both are found.
    sim.dropNext(1, 'PostPayAndAllocateSalesInvoices');
    await expect(t.createPayments!(ctx, [payment('FP-3', 'F-2', '40.00', '0.90')])).rejects.toThrow();
    const [third] = await t.createPayments!(ctx, [payment('FP-3', 'F-2', '40.00', '0.90')]);
    expect(third).toMatchObject({ ok: true, outcome: 'linked' });
    expect(feesUnder('FP-3')).toEqual([['F-2', '0.90', 'BANK2', '6100', 'Z']]);
    expect(under('SalesReceipt', 'FP-3')).toHaveLength(1);
    expect(sim.duplicates()).toEqual([]);
  });

  it("books each customer's own fee where two payments share a reference, and neither twice", async () => {
    const t = target();
    await customer(t, 'F-3');
    await customer(t, 'F-4');
    const both = [payment('FP-SHARED', 'F-3', '121.00', '2.50'), payment('FP-SHARED', 'F-4', '121.00', '1.20')];
    const first = await t.createPayments!(ctx, both);
    expect(first.map((r) => r.ok)).toEqual([true, true]);
    expect(feesUnder('FP-SHARED')).toEqual([
      ['F-3', '2.50', 'BANK2', '6100', 'Z'],
      ['F-4', '1.20', 'BANK2', '6100', 'Z'],
    ]);
    expect(
      under('SalesReceipt', 'FP-SHARED')
        .map((r) => r.customer)
        .sort(),
    ).toEqual(['F-3', 'F-4']);
    // Sent again: each finds its own, nothing new.
    const again = await t.createPayments!(ctx, both);
    expect(again.map((r) => r.ok && r.message)).toEqual([
      expect.stringMatching(/^fee EUR 2\.50 already booked/),
      expect.stringMatching(/^fee EUR 1\.20 already booked/),
    ]);
    expect(feesUnder('FP-SHARED')).toHaveLength(2);
    expect(under('SalesReceipt', 'FP-SHARED')).toHaveLength(2);
    expect(sim.duplicates()).toEqual([]);
  });

  it('takes an unmarked fee keyed by hand only when nothing else can be meant', async () => {
    const t = target();
    await customer(t, 'F-5');
    await customer(t, 'F-6');
    const byHand = (ref: string, value: string) =>
      sim.books.sundry({
        ExternalReference: ref,
        TransactionDate: '2026-11-05T00:00:00',
        Description: 'Stripe fee',
        Value: value,
        GLAccountCode: '6100',
        BankAccountCode: 'BANK2',
        ExchangeRate: '1',
      });
    // Alone under its reference, of the fee's amount and date: the payment's own, not booked again.
    byHand('FP-HAND', '-3.00');
    const [own] = await t.createPayments!(ctx, [payment('FP-HAND', 'F-5', '100.00', '3.00')]);
    expect(own).toMatchObject({ ok: true, message: expect.stringMatching(/already booked/) });
    expect(under('BankPayment', 'FP-HAND')).toHaveLength(1);
    // Under a reference two payments share: whose it is cannot be told, both are parked, nothing sent.
    byHand('FP-HAND2', '-3.00');
    const parked = await t.createPayments!(ctx, [
      payment('FP-HAND2', 'F-5', '100.00', '3.00'),
      payment('FP-HAND2', 'F-6', '100.00', '3.00'),
    ]);
    expect(parked.map((r) => !r.ok && [r.error.code, r.error.field])).toEqual([
      ['PAYMENT_FEE_AMBIGUOUS', 'fee'],
      ['PAYMENT_FEE_AMBIGUOUS', 'fee'],
    ]);
    expect(under('BankPayment', 'FP-HAND2')).toHaveLength(1);
    expect(under('SalesReceipt', 'FP-HAND2')).toEqual([]);
  });

  it('refuses a payment with a fee when the fees account is not set, or not an account of AccountsIQ, naming the setting', async () => {
    const unset = target({});
    await customer(unset, 'F-7');
    const [r1] = await unset.createPayments!(ctx, [payment('FP-7', 'F-7', '50.00', '1.00')]);
    expect(r1).toMatchObject({ ok: false, error: { code: 'TARGET_SETTING_MISSING', field: 'feesGlAccountCode' } });
    const [r2] = await target({ feesGlAccountCode: '9999' }).createPayments!(ctx, [
      payment('FP-8', 'F-7', '50.00', '1.00'),
    ]);
    expect(r2).toMatchObject({
      ok: false,
      error: {
        code: 'TARGET_SETTING_MISSING',
        field: 'feesGlAccountCode',
        message: expect.stringMatching(/9999.*GLACCOUNT_IS_NOT_POSTING_OR_DOES_NOT_EXIST/),
      },
    });
    // A tax code with a rate: a fee carries no VAT here.
    const [r3] = await target({ feesGlAccountCode: '6100', feesTaxCode: 'S' }).createPayments!(ctx, [
      payment('FP-9', 'F-7', '50.00', '1.00'),
    ]);
    expect(r3).toMatchObject({ ok: false, error: { code: 'TARGET_SETTING_MISSING', field: 'feesTaxCode' } });
    // Nothing of them booked; a payment without a fee still goes on without the setting.
    for (const ref of ['FP-7', 'FP-8', 'FP-9']) {
      expect(under('BankPayment', ref)).toEqual([]);
      expect(under('SalesReceipt', ref)).toEqual([]);
    }
    const [r4] = await unset.createPayments!(ctx, [payment('FP-10', 'F-7', '50.00')]);
    expect(r4?.ok).toBe(true);
  });

  it('books nothing more for a payment whose fee is absent or zero', async () => {
    const t = target();
    await customer(t, 'F-8');
    const before = sim.stats.byOperation[SUNDRY] ?? 0;
    const results = await t.createPayments!(ctx, [
      payment('FP-11', 'F-8', '60.00'),
      payment('FP-12', 'F-8', '70.00', '0.00'),
    ]);
    expect(results.map((r) => r.ok && (r.message ?? null))).toEqual([null, null]);
    expect(under('SalesReceipt', 'FP-11')).toHaveLength(1);
    expect(under('SalesReceipt', 'FP-12')).toHaveLength(1);
    expect([...under('BankPayment', 'FP-11'), ...under('BankPayment', 'FP-12')]).toEqual([]);
    expect(sim.stats.byOperation[SUNDRY] ?? 0).toBe(before);
  });
});
