import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Queryable } from '../../db/database.ts';
import type { CanonicalPayment } from '../../sync/canonical.ts';
import type { RatePlanner } from '../../sync/remote/contracts.ts';
import { SecretBox } from '../../sync/secrets.ts';
import type { TargetCallContext, TargetConnector, TargetPayment } from '../../sync/target.ts';
import { type IntacctSimulator, startIntacctSimulator } from './simulator.ts';
import type { GlAccount } from './simulator-store.ts';
import { createIntacctTarget } from './target.ts';

/*
 * Payment providers' fees in Sage Intacct, the connector against its simulated gateway without
 * the engine: a bank service charge on the payment's checking account to the bank-fees expense
 * account, marked with the payment's customer, booked before its payment; found (not booked
 * again) when the payment is sent again after a lost answer; each customer's own under a shared
 * reference; the account set, discovered, or refused naming `feesGlAccount`; nothing extra
 * without a fee; read back for reconciliation.
 */

const noDb = new Proxy({} as Queryable, {
  get() {
    throw new Error('the Intacct target must not use the database in these tests');
  },
});
const ctx: TargetCallContext = { db: noDb, log: pino({ level: 'silent' }), actor: 'test' };
const planner: RatePlanner = {
  acquire: () => Promise.resolve({ release: () => Promise.resolve() }),
  pause: () => Promise.resolve(),
  observe: () => Promise.resolve(),
};
const SENDER = { senderId: 'fees_sender', senderPassword: 'fees-sender-secret-0123' };
const USER = { companyId: 'FEES', userId: 'xml_user', password: 'fees-user-secret-4567' };
const account = (ACCOUNTNO: string, TITLE: string, more: Partial<GlAccount> = {}): GlAccount => ({
  ACCOUNTNO,
  TITLE,
  ACCOUNTTYPE: 'incomestatement',
  NORMALBALANCE: 'debit',
  STATUS: 'active',
  ...more,
});
const CHART = [account('6100', 'Bank Charges'), account('6200', 'Office Supplies')];

let sim: IntacctSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function setup(o: { chart?: GlAccount[]; settings?: Record<string, unknown>; maxAttempts?: number } = {}) {
  const s = await startIntacctSimulator({
    ...SENDER,
    users: [USER],
    companies: {
      FEES: { currency: 'EUR', glAccounts: ['4000', '2200'], chart: o.chart ?? CHART, bankAccounts: ['BANK1'] },
    },
    seed: 7,
  });
  sim = s;
  const target: TargetConnector = createIntacctTarget(
    {
      db: noDb,
      log: ctx.log,
      mapping: {},
      settings: {
        type: 'intacct',
        endpoint: s.endpoint,
        ...SENDER,
        companyId: USER.companyId,
        userId: USER.userId,
        userPassword: USER.password,
        currency: 'EUR',
        salesGlAccount: '4000',
        taxGlAccounts: { '0.21': '2200' },
        bankAccountId: 'BANK1',
        ...o.settings,
      },
      entityId: 'e1',
      pipelineId: 'p1',
      pipelineName: 'test',
      box: new SecretBox(Buffer.alloc(32, 1)),
    },
    { planner, client: { backoffBaseMs: 1, backoffMaxMs: 5, maxAttempts: o.maxAttempts ?? 3 } },
  );
  const invoices: string[] = [];
  for (const n of [1, 2]) {
    await target.upsertCustomers(ctx, [
      {
        sourceId: `C${n}`,
        code: `C-${n}`,
        targetId: null,
        record: { kind: 'customer', sourceId: `C${n}`, name: `Shop ${n}` },
      },
    ]);
    const [i] = await target.createInvoices(ctx, [
      {
        sourceId: `I${n}`,
        customerTargetId: `C-${n}`,
        productTargetIds: {},
        idempotencyKey: `I${n}`,
        record: {
          kind: 'invoice',
          sourceId: `I${n}`,
          externalReference: `INV-${n}`,
          customerSourceId: `C${n}`,
          invoiceDate: '2026-11-02',
          dueDate: '2026-12-02',
          currency: 'EUR',
          description: '',
          lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21', vatAmount: '21.00' }],
        },
      },
    ]);
    invoices.push(i!.ok ? i!.targetId : '');
  }
  return { s, target, invoices, company: () => s.company(USER.companyId) };
}

function payment(invoices: string[], n: 1 | 2, fee: string | null | undefined, reference = `PAY-${n}`): TargetPayment {
  const record: CanonicalPayment = {
    kind: 'payment',
    sourceId: `P${n}`,
    customerSourceId: `C${n}`,
    externalReference: reference,
    invoiceExternalReference: `INV-${n}`,
    date: '2026-11-05',
    currency: 'EUR',
    amount: '121.00',
    description: '',
    ...(fee !== undefined ? { fee } : {}),
  };
  return {
    sourceId: `P${n}`,
    record,
    customerTargetId: `C-${n}`,
    invoiceTargetId: invoices[n - 1]!,
    bankAccountCode: '',
    idempotencyKey: `P${n}:${reference}`,
  };
}

const fees = (s: IntacctSimulator) =>
  [...s.company(USER.companyId).bankFees.values()].map((f) => ({
    RECORDID: f.RECORDID,
    FINANCIALENTITY: f.FINANCIALENTITY,
    TRANSACTIONTYPE: f.TRANSACTIONTYPE,
    date: f.date,
    lines: f.lines.map((l) => [l.GLACCOUNTNO, l.amount, l.CUSTOMERID]),
  }));

describe('payment providers’ fees in Sage Intacct', () => {
  it('books the fee as a bank service charge to the bank-fees account, before the gross payment', async () => {
    const t = await setup();
    const [r] = await t.target.createPayments!(ctx, [payment(t.invoices, 1, '2.50')]);
    expect(r).toMatchObject({ ok: true, message: expect.stringMatching(/^fee EUR 2\.50 booked as bank charge \d+$/) });
    expect(fees(t.s)).toEqual([
      {
        RECORDID: 'PAY-1',
        FINANCIALENTITY: 'BANK1',
        TRANSACTIONTYPE: 'Service Charge',
        date: '2026-11-05',
        lines: [['6100', 250n, 'C-1']],
      },
    ]);
    const payments = [...t.company().records.values()].filter((x) => x.kind === 'payment');
    expect(payments.map((p) => [p.DOCNUMBER, p.total])).toEqual([['PAY-1', 12100n]]);
    // The fee first: its record number comes before the payment's.
    const feeNo = [...t.company().bankFees.keys()][0]!;
    expect(Number(feeNo)).toBeLessThan(Number(payments[0]!.RECORDNO));
    expect(t.s.violations).toEqual([]);
  });

  it('books no second fee when the payment is sent again after a lost answer', async () => {
    const t = await setup({ maxAttempts: 1 });
    // The fee's answer lost after it committed: the payment is not sent; sent again, the fee is found.
    t.s.dropNext(1, (x) => x.function === 'create' && x.body.BANKFEE !== undefined);
    await expect(t.target.createPayments!(ctx, [payment(t.invoices, 1, '2.50')])).rejects.toThrow();
    expect([
      t.company().bankFees.size,
      [...t.company().records.values()].filter((x) => x.kind === 'payment').length,
    ]).toEqual([1, 0]);
    const [r] = await t.target.createPayments!(ctx, [payment(t.invoices, 1, '2.50')]);
    expect(r).toMatchObject({
      ok: true,
      message: expect.stringMatching(/^fee EUR 2\.50 already booked as bank charge/),
    });
    // The payment's answer lost: sent again, its fee is found again and not written.
    t.s.dropNext(1, (x) => x.function === 'create' && x.body.ARPYMT !== undefined);
    await expect(t.target.createPayments!(ctx, [payment(t.invoices, 2, '0.75')])).rejects.toThrow();
    const refused = t.s.stats.duplicatesRefused;
    await t.target.createPayments!(ctx, [payment(t.invoices, 2, '0.75')]);
    expect(t.company().bankFees.size).toBe(2);
    // Found by the lookup before writing: no repeated control id was even sent for the fee.
    expect(t.s.stats.duplicatesRefused).toBe(refused + 1);
    expect(t.s.duplicates(USER.companyId)).toEqual([]);
    expect(t.s.violations).toEqual([]);
  });

  it('books each customer’s own fee where two payments share a reference, and reads them back', async () => {
    const t = await setup();
    const results = await t.target.createPayments!(ctx, [
      payment(t.invoices, 1, '2.50', 'ORDER-7'),
      payment(t.invoices, 2, '1.20', 'ORDER-7'),
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    expect(fees(t.s).map((f) => [f.RECORDID, f.lines[0]])).toEqual([
      ['ORDER-7', ['6100', 250n, 'C-1']],
      ['ORDER-7', ['6100', 120n, 'C-2']],
    ]);
    await t.target.createPayments!(ctx, [payment(t.invoices, 1, '2.50', 'ORDER-7')]);
    expect(t.company().bankFees.size).toBe(2);
    const ids = results.map((r) => (r.ok ? r.targetId : ''));
    const docs = await t.target.documents!(ctx, ids, { fees: true });
    expect(ids.map((id) => docs.get(id)!.fee?.amount)).toEqual([250n, 120n]);
    expect(docs.get(ids[1]!)!.fee?.label).toMatch(/^bank charge \d+$/);
    expect(
      t.target.feeRemedy!('missing', { targetId: ids[0]!, reference: 'ORDER-7', currency: 'EUR', fee: null }),
    ).toMatch(/bank service charge .* reference number ORDER-7/);
  });

  it('books nothing extra for a payment without a fee or with a zero fee', async () => {
    const t = await setup();
    const results = await t.target.createPayments!(ctx, [payment(t.invoices, 1, null), payment(t.invoices, 2, '0.00')]);
    expect(results.map((r) => r.ok && (r.message ?? null))).toEqual([null, null]);
    expect(t.company().bankFees.size).toBe(0);
    const ids = results.map((r) => (r.ok ? r.targetId : ''));
    const docs = await t.target.documents!(ctx, ids, { fees: true });
    expect(ids.map((id) => docs.get(id)!.fee)).toEqual([null, null]);
  });

  it('refuses a fee whose account is missing, ambiguous or no expense account, naming feesGlAccount, and sends no payment', async () => {
    const cases: [Parameters<typeof setup>[0], RegExp][] = [
      [{ chart: [account('6200', 'Office Supplies')] }, /has no bank-fees expense account.*target\.feesGlAccount/],
      [
        { chart: [...CHART, account('6150', 'Merchant Fees')] },
        /has 2 bank-fees expense accounts \(6100 Bank Charges, 6150 Merchant Fees\)/,
      ],
      [
        {
          chart: [
            ...CHART,
            ...Array.from({ length: 99 }, (_, n) => account(`7${String(n).padStart(3, '0')}`, `Cost ${n}`)),
          ],
        },
        /100 or more expense accounts, too many .* target\.feesGlAccount/,
      ],
      [{ settings: { feesGlAccount: '4000' } }, /feesGlAccount 4000 4000 is not an expense account/],
      [{ settings: { feesGlAccount: '9999' } }, /"9999" is not a GL account/],
      [
        { chart: [account('6100', 'Bank Charges', { STATUS: 'inactive' })], settings: { feesGlAccount: '6100' } },
        /is inactive/,
      ],
    ];
    for (const [o, says] of cases) {
      const t = await setup(o);
      const [r] = await t.target.createPayments!(ctx, [payment(t.invoices, 1, '2.50')]);
      expect(r).toMatchObject({ ok: false, error: { code: 'TARGET_SETTING_MISSING', field: 'feesGlAccount' } });
      expect(!r!.ok && r!.error.message).toMatch(says);
      expect(t.company().bankFees.size).toBe(0);
      expect([...t.company().records.values()].some((x) => x.kind === 'payment')).toBe(false);
      await t.s.close();
      sim = undefined;
    }
  });

  it('uses the account set, refuses a fee that is not an amount, and passes on Intacct’s refusal without sending the payment', async () => {
    const t = await setup({ chart: [...CHART, account('6150', 'Stripe costs')], settings: { feesGlAccount: '6150' } });
    const [bad] = await t.target.createPayments!(ctx, [payment(t.invoices, 1, '0.001')]);
    expect(bad).toMatchObject({ ok: false, error: { code: 'AMOUNT_INVALID', field: 'fee' } });
    t.company().closedThrough = '2026-11-30';
    const [r] = await t.target.createPayments!(ctx, [payment(t.invoices, 1, '2.50')]);
    expect(r).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', field: 'fee' } });
    expect(!r!.ok && r!.error.message).toMatch(
      /refused the payment provider's fee of EUR 2\.50 .*period that's been closed/,
    );
    t.company().closedThrough = '';
    const [good] = await t.target.createPayments!(ctx, [payment(t.invoices, 1, '2.50')]);
    expect(good!.ok).toBe(true);
    expect(fees(t.s).map((f) => f.lines)).toEqual([[['6150', 250n, 'C-1']]]);
  });
});

describe('documents as Intacct holds them now (reconciliation)', () => {
  it('reads them by RECORDNO in a few requests: a reversed invoice as voided, a deleted one left out, each payment’s fee or none', async () => {
    const t = await setup();
    // Payments that pay no invoice, so that both invoices can be reversed or deleted unpaid.
    const paid = await t.target.createPayments!(ctx, [
      { ...payment(t.invoices, 1, '2.50'), invoiceTargetId: null },
      { ...payment(t.invoices, 2, null), invoiceTargetId: null },
    ]);
    const payments = paid.map((r) => (r.ok ? r.targetId : ''));
    // A person reverses the first invoice and deletes the second, in Intacct.
    const c = t.company();
    c.reverse(t.invoices[0]!, '2026-11-20');
    c.records.delete(t.invoices[1]!);
    const before = t.s.requests.length;
    const docs = await t.target.documents!(ctx, [...t.invoices, ...payments], { fees: true });
    const reads = t.s.requests.slice(before).map((r) => `${r.function} ${String(r.body.object)}`);
    // Invoices, then what is left among adjustments and payments; the fees and their lines.
    expect(reads).toEqual([
      'readByQuery ARINVOICE',
      'readByQuery ARADJUSTMENT',
      'readByQuery ARPYMT',
      'readByQuery BANKFEE',
      'readByQuery BANKFEEENTRY',
    ]);
    const reversed = docs.get(t.invoices[0]!)!;
    expect([reversed.kind, reversed.externalReference, reversed.voided]).toEqual(['invoice', 'INV-1', true]);
    expect(docs.has(t.invoices[1]!)).toBe(false);
    expect(
      payments.map((id) => [docs.get(id)?.externalReference, docs.get(id)?.voided, docs.get(id)?.fee?.amount ?? null]),
    ).toEqual([
      ['PAY-1', undefined, 250n],
      ['PAY-2', undefined, null],
    ]);
    expect(t.s.violations).toEqual([]);
  });
});
