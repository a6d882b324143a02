import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/db.ts';
import { directQuickBooksTarget } from './helpers/quickbooks.ts';
import type { Database } from '../src/db/database.ts';
import { docNumberFor } from '../src/connectors/quickbooks/map.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { createRatePlanner } from '../src/sync/remote/rate-planner.ts';
import type {
  ItemResult,
  TargetAllocation,
  TargetCallContext,
  TargetConnector,
  TargetCreditNote,
  TargetInvoice,
} from '../src/sync/target.ts';

/*
 * The QuickBooks target's credit memos and allocations against the simulator, one by one: a credit
 * note as a CreditMemo found again by a long reference; a credit memo applied through a Payment of
 * 0; a payment booked against an invoice that owed less applied later to another invoice by
 * updating it (its first line kept); what QuickBooks would refuse refused item by item; a stale
 * SyncToken read again and retried once; lost allocations found again by what they are, never
 * one already taken.
 */

const log = pino({ level: 'silent' });
const REALM = '9130350000000001';
let db: Database;
let sim: QuickBooksSimulator;
let target: TargetConnector;
let ctx: TargetCallContext;
let customerId: string;
/** Runs before the simulator handles the next batch call that `when` accepts (by its position). */
let beforeBatch: ((n: number) => void) | null = null;
let batchCalls = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  // QuickBooks' limits on a clock ten and sixty times faster, the planner on the same clock.
  sim = await startQuickBooksSimulator({
    seed: 7,
    limits: { batchPerMinute: 40, secondMs: 100, minuteMs: 1000 },
    mount: (req, _res, url) => {
      if (req.method === 'POST' && url.pathname.endsWith('/batch')) beforeBatch?.(++batchCalls);
      return false;
    },
  });
  target = directQuickBooksTarget(db, sim, REALM, {
    options: {
      planner: createRatePlanner(db, {
        windowsMs: { second: 100, minute: 1000 },
        marginMs: (w) => (w === 100 ? 100 : 250),
      }),
    },
  });
  ctx = { db, log, actor: 'test' };
  const [c] = await target.upsertCustomers(ctx, [
    { sourceId: 'a', code: 'ANN', targetId: null, record: { kind: 'customer', sourceId: 'a', name: 'Ann' } },
  ]);
  customerId = (c as { targetId: string }).targetId;
}, 60_000);
afterAll(async () => {
  await sim.close();
  await db.close();
});

const id = (r: ItemResult | undefined) => (r as { targetId: string }).targetId;
const money = (v: unknown) => String(v);

async function invoice(ref: string, net: string): Promise<string> {
  const item: TargetInvoice = {
    sourceId: ref,
    idempotencyKey: `key-${ref}`,
    customerTargetId: customerId,
    productTargetIds: {},
    record: {
      kind: 'invoice',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: 'a',
      invoiceDate: '2026-11-02',
      dueDate: '2026-12-02',
      currency: 'USD',
      description: '',
      lines: [{ description: 'Widget', netAmount: net, vatRate: '0' }],
    },
  };
  const [r] = await target.createInvoices(ctx, [item]);
  expect(r).toMatchObject({ ok: true });
  return id(r);
}

const creditNote = (ref: string, net: string, vat: string): TargetCreditNote => ({
  sourceId: ref,
  idempotencyKey: `key-${ref}`,
  customerTargetId: customerId,
  productTargetIds: {},
  invoiceTargetId: null,
  record: {
    kind: 'creditNote',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'a',
    date: '2026-11-06',
    currency: 'USD',
    description: 'Returned',
    lines: [{ description: 'Returned widget', netAmount: net, vatRate: '0.0725', vatAmount: vat }],
  },
});

/** A payment's result, sent with the invoice's id or, naming an invoice the pipeline has not booked, without. */
async function sendPayment(ref: string, amount: string, invoiceTargetId: string | null, invoiceReference?: string) {
  const [r] = await target.createPayments!(ctx, [
    {
      sourceId: ref,
      idempotencyKey: `key-${ref}`,
      customerTargetId: customerId,
      invoiceTargetId,
      bankAccountCode: '',
      record: {
        kind: 'payment',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: 'a',
        date: '2026-11-05',
        amount,
        currency: 'USD',
        description: '',
        ...(invoiceReference ? { invoiceExternalReference: invoiceReference } : {}),
      },
    },
  ]);
  return r!;
}

async function payment(ref: string, amount: string, invoiceTargetId: string | null): Promise<string> {
  const r = await sendPayment(ref, amount, invoiceTargetId);
  expect(r).toMatchObject({ ok: true });
  return id(r);
}

const allocation = (
  n: string,
  from: 'payment' | 'creditNote',
  fromTargetId: string,
  invoiceTargetId: string,
  amount: string,
): TargetAllocation => ({
  sourceId: `AL-${n}`,
  idempotencyKey: `key-AL-${n}`,
  customerTargetId: customerId,
  invoiceTargetId,
  fromTargetId,
  record: {
    kind: 'allocation',
    sourceId: `AL-${n}`,
    customerSourceId: 'a',
    date: '2026-11-07',
    currency: 'USD',
    amount,
    invoiceExternalReference: `invoice ${invoiceTargetId}`,
    from,
    fromExternalReference: `${from} ${fromTargetId}`,
  },
});

describe('QuickBooks credit memos and allocations', () => {
  it('books a credit note as a CreditMemo (positive lines, TAX, the source tax) found again by a long reference', async () => {
    const ref = 'MARKETPLACE-RETURN-2026-11-000042';
    const [r] = await target.createCreditNotes!(ctx, [creditNote(ref, '20.00', '1.45')]);
    expect(r).toMatchObject({ ok: true, number: docNumberFor(ref), outcome: 'created' });
    const memo = sim.books().get('CreditMemo', id(r))!;
    expect(memo).toMatchObject({ DocNumber: docNumberFor(ref), PrivateNote: `ledgerlink reference: ${ref}` });
    expect(money(memo.TotalAmt)).toBe('21.45');
    expect(money(memo.Balance)).toBe('21.45');
    expect((memo.Line as { Amount: unknown }[]).map((l) => money(l.Amount))).toEqual(['20.00', '20.00']);
    expect(await target.findByReference(ctx, 'creditNote', ref, customerId)).toMatchObject({ targetId: id(r) });
    // Not an invoice's reference, nor another credit note's.
    expect(await target.findByReference(ctx, 'invoice', ref, customerId)).toMatchObject({ targetId: id(r) });
    expect(await target.findByReference(ctx, 'creditNote', `${ref}-2`, customerId)).toBeNull();
    // A credit note whose lines add up below zero is refused, not booked as an invoice.
    const [negative] = await target.createCreditNotes!(ctx, [creditNote('CN-NEG', '-5.00', '0')]);
    expect(negative).toMatchObject({ ok: false, error: { code: 'AMOUNT_INVALID', field: 'lines' } });
    if (sim.validating) expect(sim.violations).toEqual([]);
  });

  it('applies a credit memo through a Payment of 0; finds it again by what it is, never one taken', async () => {
    const inv = await invoice('CM-INV-1', '100.00');
    const [cm] = await target.createCreditNotes!(ctx, [creditNote('CM-1', '20.00', '1.45')]);
    const a = allocation('1', 'creditNote', id(cm), inv, '21.45');
    const [r] = await target.createAllocations!(ctx, [a]);
    expect(r).toMatchObject({ ok: true, outcome: 'created' });
    const zero = sim.books().get('Payment', id(r))!;
    expect(money(zero.TotalAmt)).toBe('0.00');
    expect(zero.Line).toEqual([
      expect.objectContaining({ LinkedTxn: [{ TxnId: inv, TxnType: 'Invoice' }] }),
      expect.objectContaining({ LinkedTxn: [{ TxnId: id(cm), TxnType: 'CreditMemo' }] }),
    ]);
    expect(money(sim.books().get('Invoice', inv)!.Balance)).toBe('78.55');
    const memo = sim.books().get('CreditMemo', id(cm))!;
    expect([money(memo.Balance), money(memo.RemainingCredit)]).toEqual(['0.00', '0.00']);
    expect(memo.LinkedTxn).toEqual([{ TxnId: id(r), TxnType: 'Payment' }]);

    expect(await target.findAllocation!(ctx, a, new Set())).toEqual({ targetId: id(r) });
    expect(await target.findAllocation!(ctx, a, new Set([id(r)]))).toBeNull();
    expect(await target.findAllocation!(ctx, { ...a, record: { ...a.record, amount: '21.44' } }, new Set())).toBeNull();
    // The credit is spent: a second application is refused with the amounts, nothing written.
    const writes = sim.stats.writes;
    const [again] = await target.createAllocations!(ctx, [allocation('2', 'creditNote', id(cm), inv, '1.00')]);
    expect(again).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', field: 'amount' } });
    expect((again as { error: { message: string } }).error.message).toMatch(/USD 0.00 of credit left/);
    expect(sim.stats.writes).toBe(writes);
    // A Payment of 0 is not the payment that settled an invoice.
    expect(sim.duplicates('Payment')).toEqual([]);
  });

  it('applies what a payment booked against its invoice left unapplied to another invoice, keeping its first line', async () => {
    const first = await invoice('PA-INV-1', '40.00');
    const second = await invoice('PA-INV-2', '30.00');
    const third = await invoice('PA-INV-3', '30.00');
    const pay = await payment('PA-PAY-1', '60.00', first);
    expect(money(sim.books().get('Payment', pay)!.UnappliedAmt)).toBe('20.00');
    const ok1 = allocation('3', 'payment', pay, second, '12.00');
    const ok2 = allocation('4', 'payment', pay, third, '5.00');
    const tooMuch = allocation('5', 'payment', pay, third, '9.00');
    const results = await target.createAllocations!(ctx, [ok1, tooMuch, ok2]);
    expect(results).toMatchObject([
      { ok: true, targetId: `${pay}>${second}:12.00@12.00` },
      { ok: false, error: { code: 'TARGET_REFUSED', field: 'amount' } },
      { ok: true, targetId: `${pay}>${third}:5.00@5.00` },
    ]);
    expect((results[1] as { error: { message: string } }).error.message).toMatch(
      /USD 8.00 unapplied in QuickBooks, less than the USD 9.00/,
    );
    const p = sim.books().get('Payment', pay)!;
    expect(money(p.UnappliedAmt)).toBe('3.00');
    expect(
      (p.Line as { Amount: unknown; LinkedTxn: { TxnId: string }[] }[]).map((l) => [
        l.LinkedTxn[0]!.TxnId,
        money(l.Amount),
      ]),
    ).toEqual([
      [first, '40.00'],
      [second, '12.00'],
      [third, '5.00'],
    ]);
    expect(money(sim.books().get('Invoice', second)!.Balance)).toBe('18.00');

    // A second application to the same invoice adds to its line (QuickBooks keeps one per invoice).
    const more = allocation('6', 'payment', pay, second, '3.00');
    const [r] = await target.createAllocations!(ctx, [more]);
    expect(r).toMatchObject({ ok: true, targetId: `${pay}>${second}:3.00@15.00` });
    expect(money(sim.books().get('Invoice', second)!.Balance)).toBe('15.00');

    // Lost answers found again by what they are: what the taken ones do not account for.
    const taken = new Set([id(results[0]), id(results[2])]);
    expect(await target.findAllocation!(ctx, more, taken)).toEqual({ targetId: `${pay}>${second}:3.00@15.00` });
    expect(await target.findAllocation!(ctx, more, new Set([...taken, id(r)]))).toBeNull();
    // Not applied at all: nothing to find.
    expect(await target.findAllocation!(ctx, allocation('7', 'payment', pay, third, '1.00'), taken)).toBeNull();
    if (sim.validating) expect(sim.violations).toEqual([]);
  });

  it('reads a Payment edited meanwhile (stale SyncToken) again and retries once; twice stale is a retryable failure', async () => {
    const inv = await invoice('ST-INV-1', '50.00');
    const pay = await payment('ST-PAY-1', '50.00', null);
    // Touched by someone else between our read (the first batch call) and our update (the second).
    batchCalls = 0;
    beforeBatch = (n) => {
      if (n === 2) sim.books().touch('Payment', pay);
    };
    const [r] = await target.createAllocations!(ctx, [allocation('8', 'payment', pay, inv, '20.00')]);
    expect(r).toMatchObject({ ok: true, targetId: `${pay}>${inv}:20.00@20.00` });
    expect(money(sim.books().get('Payment', pay)!.UnappliedAmt)).toBe('30.00');

    batchCalls = 0;
    beforeBatch = (n) => {
      if (n === 2 || n === 4) sim.books().touch('Payment', pay);
    };
    const [stale] = await target.createAllocations!(ctx, [allocation('9', 'payment', pay, inv, '10.00')]);
    beforeBatch = null;
    expect(stale).toMatchObject({ ok: false, error: { retryable: true } });
    expect((stale as { error: { message: string } }).error.message).toMatch(/5010 Stale Object Error/);
    expect(money(sim.books().get('Payment', pay)!.UnappliedAmt)).toBe('30.00');
  });
});

describe('QuickBooks: payments booked before their invoice', () => {
  const early = (payment: string, paymentTargetId: string, invoice: string, invoiceTargetId: string) => ({
    paymentSourceId: payment,
    paymentTargetId,
    paymentReference: payment,
    customerTargetId: customerId,
    invoiceTargetId,
    invoiceReference: invoice,
    currency: 'EUR',
  });

  it('says whether it found the invoice; applies an early one to the invoice named in this company, whatever id it is handed', async () => {
    const found = await invoice('HERE-1', '10.00');
    const applied = await sendPayment('P-HERE-1', '10.00', null, 'HERE-1');
    // Found by its reference, though the pipeline had not booked it: applied as booked, nothing to wait for.
    expect(applied).toMatchObject({ ok: true, awaitsInvoice: false });
    expect(sim.books().get('Payment', id(applied))!.Line).toMatchObject([{ LinkedTxn: [{ TxnId: found }] }]);

    const waiting = await sendPayment('P-LATE-1', '25.00', null, 'LATE-1');
    expect(waiting).toMatchObject({ ok: true, awaitsInvoice: true });
    const pay = id(waiting);
    expect(sim.books().get('Payment', pay)!.PrivateNote).toBe(
      'ledgerlink for invoice: LATE-1\nledgerlink reference: P-LATE-1',
    );
    // Not in QuickBooks yet: refused with the reason, nothing written.
    const [missing] = await target.applyEarlyPayments!(ctx, [early('P-LATE-1', pay, 'LATE-1', found)]);
    expect(missing).toMatchObject({ ok: false, error: { code: 'TARGET_REFUSED', retryable: false } });
    expect((missing as { error: { message: string } }).error.message).toBe(
      `invoice LATE-1 of customer ${customerId} is not in this QuickBooks company`,
    );
    expect(money(sim.books().get('Payment', pay)!.UnappliedAmt)).toBe('25.00');
    // Booked now; the id handed over is another invoice's (another pipeline's booking into another
    // company would be): the one named is found by its reference, and the other is left alone.
    const late = await invoice('LATE-1', '20.00');
    const [done] = await target.applyEarlyPayments!(ctx, [early('P-LATE-1', pay, 'LATE-1', found)]);
    expect(done).toEqual({
      ok: true,
      targetId: pay,
      outcome: 'updated',
      message: `applied USD 20.00 to invoice LATE-1 (QuickBooks Invoice ${late}), booked after it; the rest stays unapplied on the customer`,
    });
    expect(money(sim.books().get('Invoice', late)!.Balance)).toBe('0.00');
    expect(money(sim.books().get('Invoice', found)!.Balance)).toBe('0.00');
    expect(money(sim.books().get('Payment', pay)!.UnappliedAmt)).toBe('5.00');
    // Again (an answer lost): said as applied, nothing sent.
    const [again] = await target.applyEarlyPayments!(ctx, [early('P-LATE-1', pay, 'LATE-1', late)]);
    expect(again).toMatchObject({
      ok: true,
      outcome: 'updated',
      message: expect.stringMatching(/^applied USD 20\.00 to invoice LATE-1/),
    });
    expect(sim.books().get('Payment', pay)!.Line).toMatchObject([
      { Amount: expect.anything(), LinkedTxn: [{ TxnId: late }] },
    ]);
    expect((sim.books().get('Payment', pay)!.Line as unknown[]).length).toBe(1);

    // A payment QuickBooks holds without the note (applied as booked, found again after a lost answer) is left as it is.
    const plain = await payment('P-PLAIN', '7.00', null);
    const other = await invoice('PLAIN-1', '7.00');
    const [left] = await target.applyEarlyPayments!(ctx, [early('P-PLAIN', plain, 'PLAIN-1', other)]);
    expect(left).toMatchObject({ ok: true, outcome: 'unchanged' });
    expect(money(sim.books().get('Invoice', other)!.Balance)).toBe('7.00');
  });
});
