import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/database.ts';
import { type QuickBooksSimulator, startQuickBooksSimulator } from '../src/connectors/quickbooks/simulator.ts';
import { type XeroSimulator, startXeroSimulator } from '../src/connectors/xero/simulator.ts';
import { screenAmounts } from '../src/sync/target-amounts.ts';
import type { CanonicalLine } from '../src/sync/canonical.ts';
import type { TargetCallContext, TargetConnector, TargetInvoice, TargetPayment } from '../src/sync/target.ts';
import { createTestDatabase } from './helpers/db.ts';
import { callContext, targetIdOf as okId } from './helpers/direct-target.ts';
import { directQuickBooksTarget } from './helpers/quickbooks.ts';
import { directXeroTarget } from './helpers/xero.ts';

/*
 * A remote target given a document whose amount does not parse for its currency refuses that
 * document alone (AMOUNT_INVALID or AMOUNT_OUT_OF_RANGE, naming the field), sends nothing of it, and
 * books the rest of its batch. The engine screens such documents before any target sees them; these
 * call the targets directly, as a plugin may (the target interface is public), each wrapped as
 * `createTarget` wraps every target outside the database (`screenAmounts`). Every target, built by
 * `createTarget`, is held to the same in the conformance suite (test/conformance/scenarios.ts); here,
 * Xero and QuickBooks in detail: what each sends, and what the bad document is refused with.
 */

/** What a refused item is refused with, for toEqual. */
const refusal = (code: string, field: string) => ({
  ok: false,
  error: { code, field, retryable: false, message: expect.stringContaining(field.replace(/^lines\[\d+\]\./, '')) },
});

function invoice(
  customerTargetId: string,
  ref: string,
  currency: string,
  lines: Partial<CanonicalLine>[],
  rate = '0.21',
): TargetInvoice {
  return {
    sourceId: ref,
    customerTargetId,
    productTargetIds: {},
    idempotencyKey: `ll-${ref}`,
    record: {
      kind: 'invoice',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: 'x',
      invoiceDate: '2026-11-02',
      dueDate: '2026-12-02',
      currency,
      description: 'Amounts',
      lines: lines.map((l) => ({ description: 'Service', netAmount: '100.00', vatRate: rate, ...l })),
    },
  };
}

function payment(
  customerTargetId: string,
  ref: string,
  currency: string,
  amount: string,
  invoiceTargetId: string | null,
  fee?: string,
): TargetPayment {
  return {
    sourceId: ref,
    customerTargetId,
    invoiceTargetId,
    bankAccountCode: '',
    idempotencyKey: `ll-${ref}`,
    record: {
      kind: 'payment',
      sourceId: ref,
      externalReference: ref,
      customerSourceId: 'x',
      date: '2026-11-05',
      amount,
      currency,
      description: '',
      ...(fee !== undefined ? { fee } : {}),
    },
  };
}

describe('Xero target: a document whose amount does not parse', () => {
  let sim: XeroSimulator;
  let target: TargetConnector;
  const ctx = callContext(null as never);
  let customerId: string;

  beforeAll(async () => {
    sim = await startXeroSimulator({ seed: 5, limits: { perMinute: 100_000, perDay: 100_000 } });
    target = screenAmounts(directXeroTarget(sim));
    const [c] = await target.upsertCustomers(ctx, [
      { sourceId: 'AM1', code: 'AM1', targetId: null, record: { kind: 'customer', sourceId: 'AM1', name: 'Amounts' } },
    ]);
    customerId = okId(c);
  });
  afterAll(async () => {
    await sim.close();
  });

  const held = (reference: string) =>
    [...sim.tenant().documents.values()].filter((d) => d.Reference === reference).length +
    [...sim.tenant().payments.values()].filter((p) => p.Reference === reference).length +
    [...sim.tenant().overpayments.values()].filter((o) => o.Reference === reference).length;

  it('refuses only the bad invoices, naming the line and field, and books the good one in a PUT of its own', async () => {
    const before = sim.stats.batches['PUT /Invoices']?.length ?? 0;
    const results = await target.createInvoices(ctx, [
      invoice(customerId, 'XA-BAD-NET', 'EUR', [{}, { netAmount: '12,50' }]),
      invoice(customerId, 'XA-GOOD', 'EUR', [{ vatAmount: '21.00' }]),
      invoice(customerId, 'XA-BAD-VAT', 'EUR', [{ vatAmount: '21.005' }]),
      invoice(customerId, 'XA-HUGE', 'EUR', [{ netAmount: '99999999999999999999.00' }]),
      invoice(customerId, 'XA-BAD-QTY', 'EUR', [{ quantity: 'two', unitPrice: '50.00' }]),
    ]);
    expect(results[0]).toEqual(refusal('AMOUNT_INVALID', 'lines[1].netAmount'));
    expect(okId(results[1])).not.toBe('');
    expect(results[2]).toEqual(refusal('AMOUNT_INVALID', 'lines[0].vatAmount'));
    expect(results[3]).toEqual(refusal('AMOUNT_OUT_OF_RANGE', 'lines[0].netAmount'));
    expect(results[4]).toEqual(refusal('AMOUNT_INVALID', 'lines[0].quantity'));
    // One PUT, of the good invoice alone: nothing of the others reached Xero.
    expect(sim.stats.batches['PUT /Invoices']!.slice(before)).toEqual([1]);
    expect(['XA-BAD-NET', 'XA-GOOD', 'XA-BAD-VAT', 'XA-HUGE', 'XA-BAD-QTY'].map(held)).toEqual([0, 1, 0, 0, 0]);
  });

  it('refuses a payment whose amount or fee does not parse, and applies the good one', async () => {
    const [inv] = await target.createInvoices(ctx, [invoice(customerId, 'XP-INV', 'EUR', [{ vatAmount: '21.00' }])]);
    const invoiceId = okId(inv);
    const before = sim.stats.batches['PUT /Payments']?.length ?? 0;
    const results = await target.createPayments!(ctx, [
      payment(customerId, 'XP-BAD', 'EUR', 'ten', invoiceId),
      payment(customerId, 'XP-GOOD', 'EUR', '21.00', invoiceId),
      payment(customerId, 'XP-BAD-EARLY', 'EUR', '1.001', null),
      payment(customerId, 'XP-BAD-FEE', 'EUR', '10.00', invoiceId, '0.5.0'),
    ]);
    expect(results[0]).toEqual(refusal('AMOUNT_INVALID', 'amount'));
    expect(okId(results[1])).not.toMatch(/^OP:/);
    expect(results[2]).toEqual(refusal('AMOUNT_INVALID', 'amount'));
    expect(results[3]).toEqual(refusal('AMOUNT_INVALID', 'fee'));
    expect(sim.stats.batches['PUT /Payments']!.slice(before)).toEqual([1]);
    expect(['XP-BAD', 'XP-GOOD', 'XP-BAD-EARLY', 'XP-BAD-FEE'].map(held)).toEqual([0, 1, 0, 0]);
  });

  it('a batch of bad documents alone calls Xero not at all', async () => {
    const calls = sim.stats.calls;
    const results = await target.createInvoices(ctx, [invoice(customerId, 'XN-BAD', 'EUR', [{ netAmount: '' }])]);
    expect(results).toEqual([refusal('AMOUNT_INVALID', 'lines[0].netAmount')]);
    expect(sim.stats.calls).toBe(calls);
  });
});

describe('QuickBooks target: a document whose amount does not parse', () => {
  let db: Database;
  let sim: QuickBooksSimulator;
  let target: TargetConnector;
  let ctx: TargetCallContext;
  let customerId: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    sim = await startQuickBooksSimulator({ seed: 5 });
    target = screenAmounts(directQuickBooksTarget(db, sim, '9130350000000001'));
    ctx = callContext(db);
    const [c] = await target.upsertCustomers(ctx, [
      { sourceId: 'QA1', code: 'QA1', targetId: null, record: { kind: 'customer', sourceId: 'QA1', name: 'Amounts' } },
    ]);
    customerId = okId(c);
    // The first invoice creates the item lines without a product are sold as: a write of its own.
    okId((await target.createInvoices(ctx, [invoice(customerId, 'QA-FIRST', 'USD', [{}], '0')]))[0]);
  }, 60_000);
  afterAll(async () => {
    await sim.close();
    await db.close();
  });

  /** Documents of any kind QuickBooks holds under a reference (DocNumber, PaymentRefNum). */
  const held = (reference: string) =>
    (['Invoice', 'CreditMemo', 'Payment', 'RefundReceipt'] as const).flatMap((entity) =>
      sim
        .books()
        .all(entity)
        .filter((e) => e.DocNumber === reference || e.PaymentRefNum === reference),
    ).length;

  /** Write calls made since `from` (a requestid each; reads carry none). */
  const writesSince = (from: number) => sim.log.slice(from).filter((e) => e.requestid !== null).length;

  it('refuses only the bad invoices, naming the line and field, and sends the good one alone', async () => {
    const from = sim.log.length;
    const results = await target.createInvoices(ctx, [
      invoice(customerId, 'QA-BAD-NET', 'USD', [{}, { netAmount: 'abc' }], '0'),
      invoice(customerId, 'QA-GOOD', 'USD', [{ vatAmount: '7.25' }], '0.0725'),
      invoice(customerId, 'QA-HUGE', 'USD', [{ vatAmount: '-99999999999999999999' }], '0.0725'),
      invoice(customerId, 'QA-BAD-PRICE', 'USD', [{ quantity: '2', unitPrice: '50.00.00' }], '0'),
      invoice(customerId, 'QA-BAD-RATE', 'USD', [{}], '7,25%'),
    ]);
    expect(results[0]).toEqual(refusal('AMOUNT_INVALID', 'lines[1].netAmount'));
    expect(okId(results[1])).not.toBe('');
    expect(results[2]).toEqual(refusal('AMOUNT_OUT_OF_RANGE', 'lines[0].vatAmount'));
    expect(results[3]).toEqual(refusal('AMOUNT_INVALID', 'lines[0].unitPrice'));
    expect(results[4]).toEqual(refusal('AMOUNT_INVALID', 'lines[0].vatRate'));
    // One write, of the good invoice alone: nothing of the others reached QuickBooks.
    expect(writesSince(from)).toBe(1);
    expect(['QA-BAD-NET', 'QA-GOOD', 'QA-HUGE', 'QA-BAD-PRICE', 'QA-BAD-RATE'].map(held)).toEqual([0, 1, 0, 0, 0]);
  });

  it('refuses a payment whose amount or fee does not parse, and applies the good one', async () => {
    const [inv] = await target.createInvoices(ctx, [invoice(customerId, 'QP-INV', 'USD', [{}], '0')]);
    const invoiceId = okId(inv);
    const from = sim.log.length;
    const results = await target.createPayments!(ctx, [
      payment(customerId, 'QP-BAD', 'USD', '1e', invoiceId),
      payment(customerId, 'QP-GOOD', 'USD', '100.00', invoiceId),
      payment(customerId, 'QP-BAD-FEE', 'USD', '10.00', invoiceId, '0.001'),
    ]);
    expect(results[0]).toEqual(refusal('AMOUNT_INVALID', 'amount'));
    expect(okId(results[1])).not.toBe('');
    expect(results[2]).toEqual(refusal('AMOUNT_INVALID', 'fee'));
    expect(writesSince(from)).toBe(1);
    expect(sim.books().all('Purchase')).toEqual([]);
    expect(['QP-BAD', 'QP-GOOD', 'QP-BAD-FEE'].map(held)).toEqual([0, 1, 0]);
  });
});
