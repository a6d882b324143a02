import { describe, expect, it } from 'vitest';
import type { CanonicalLine } from './canonical.ts';
import {
  BatchInterrupted,
  type ItemResult,
  type TargetAllocation,
  type TargetConnector,
  type TargetInvoice,
  type TargetPayment,
  ok,
} from './target.ts';
import { amountError, linesAmountError, paymentAmountError, screenAmounts } from './target-amounts.ts';

const line = (l: Partial<CanonicalLine> = {}): CanonicalLine => ({
  description: '',
  netAmount: '100.00',
  vatRate: '0.21',
  ...l,
});

const invoiceRecord = (lines: CanonicalLine[], more: Partial<TargetInvoice['record']> = {}) => ({
  kind: 'invoice' as const,
  sourceId: 'I1',
  externalReference: 'I1',
  customerSourceId: 'C1',
  invoiceDate: '2026-11-02',
  currency: 'EUR',
  description: '',
  lines,
  ...more,
});

const invoice = (ref: string, lines: CanonicalLine[] = [line()]): TargetInvoice => ({
  sourceId: ref,
  record: { ...invoiceRecord(lines), sourceId: ref, externalReference: ref },
  customerTargetId: 'c',
  productTargetIds: {},
  idempotencyKey: `k-${ref}`,
});

const payment = (ref: string, amount: string, fee?: string | null): TargetPayment => ({
  sourceId: ref,
  record: {
    kind: 'payment',
    sourceId: ref,
    externalReference: ref,
    customerSourceId: 'C1',
    date: '2026-11-05',
    amount,
    currency: 'EUR',
    description: '',
    ...(fee !== undefined ? { fee } : {}),
  },
  customerTargetId: 'c',
  invoiceTargetId: null,
  bankAccountCode: 'BANK',
  idempotencyKey: `k-${ref}`,
});

/** Code and field of a refusal, for toEqual. */
const said = (e: { code: string; field?: string | undefined } | null) => e && [e.code, e.field];

describe('linesAmountError', () => {
  it.each([
    ['a net that is not a number', [line({ netAmount: '12,50' })], 'AMOUNT_INVALID', 'lines[0].netAmount'],
    ['blanks around a net', [line(), line({ netAmount: ' 12.50' })], 'AMOUNT_INVALID', 'lines[1].netAmount'],
    ['a net that is not text', [line({ netAmount: 12 as unknown as string })], 'AMOUNT_INVALID', 'lines[0].netAmount'],
    ['a net missing', [line({ netAmount: undefined as unknown as string })], 'AMOUNT_INVALID', 'lines[0].netAmount'],
    [
      'a VAT amount of more decimals than EUR has',
      [line({ vatAmount: '21.001' })],
      'AMOUNT_INVALID',
      'lines[0].vatAmount',
    ],
    [
      'a net beyond what the ledger stores',
      [line({ netAmount: '-99999999999999999999' })],
      'AMOUNT_OUT_OF_RANGE',
      'lines[0].netAmount',
    ],
    ['a quantity of text', [line({ quantity: 'two', unitPrice: '50.00' })], 'AMOUNT_INVALID', 'lines[0].quantity'],
    ['a quantity of zero', [line({ quantity: '0', unitPrice: '50.00' })], 'AMOUNT_INVALID', 'lines[0].quantity'],
    ['a unit price of text', [line({ quantity: '2', unitPrice: '5O.00' })], 'AMOUNT_INVALID', 'lines[0].unitPrice'],
    ['a rate of text', [line({ vatRate: '21%' })], 'AMOUNT_INVALID', 'lines[0].vatRate'],
    [
      'a net that is not quantity × unit price',
      [line({ quantity: '3', unitPrice: '12.3333', netAmount: '36.99' })],
      'LINE_AMOUNT_MISMATCH',
      'lines[0].netAmount',
    ],
  ])('refuses %s, naming the field', (_what, lines, code, field) => {
    expect(said(linesAmountError(invoiceRecord(lines)))).toEqual([code, field]);
  });

  it('refuses an exchange rate that is not one; takes amounts however a decimal may be written', () => {
    expect(said(linesAmountError(invoiceRecord([line()], { exchangeRate: '1,08' })))).toEqual([
      'AMOUNT_INVALID',
      'exchangeRate',
    ]);
    const fine = [
      line({ netAmount: '0100.00', vatAmount: '2.1e1' }),
      line({ quantity: '3', unitPrice: '12.3333', netAmount: '37.00' }),
    ];
    expect(linesAmountError(invoiceRecord(fine, { exchangeRate: '1.08' }))).toBeNull();
    expect(linesAmountError(invoiceRecord([line({ netAmount: '100' })], { currency: 'JPY' }))).toBeNull();
    expect(said(linesAmountError(invoiceRecord([line({ netAmount: '100.5' })], { currency: 'JPY' })))).toEqual([
      'AMOUNT_INVALID',
      'lines[0].netAmount',
    ]);
  });

  it('says what is wrong, the value quoted', () => {
    expect(linesAmountError(invoiceRecord([line({ netAmount: 'ten' })]))?.message).toBe(
      'lines[0].netAmount "ten": must be a decimal number such as "120.50" (at most 40 characters)',
    );
    expect(linesAmountError(invoiceRecord([line({ vatAmount: '1.001' })]))?.message).toMatch(
      /^Line 1: vatAmount "1.001" is not an amount in EUR/,
    );
  });
});

describe('payment, refund and allocation amounts', () => {
  it('refuses an amount or a fee that does not parse for the currency, naming which', () => {
    expect(said(paymentAmountError(payment('P', 'ten').record))).toEqual(['AMOUNT_INVALID', 'amount']);
    expect(said(paymentAmountError(payment('P', '1e30').record))).toEqual(['AMOUNT_OUT_OF_RANGE', 'amount']);
    expect(said(paymentAmountError(payment('P', '10.00', '0.001').record))).toEqual(['AMOUNT_INVALID', 'fee']);
    expect(paymentAmountError(payment('P', '10.00', '0.10').record)).toBeNull();
    expect(paymentAmountError(payment('P', '10.00', null).record)).toBeNull();
    expect(paymentAmountError(payment('P', '010.00').record)).toBeNull();
    expect(paymentAmountError(payment('P', '10.00', '0.001').record)?.message).toBe(
      'fee: "0.001" has more decimals than EUR allows (2)',
    );
    expect(said(amountError({ amount: '1e999', currency: 'EUR' }))).toEqual(['AMOUNT_INVALID', 'amount']);
    expect(said(amountError({ amount: '1.5', currency: 'JPY' }))).toEqual(['AMOUNT_INVALID', 'amount']);
    expect(amountError({ amount: '1.500', currency: 'KWD' })).toBeNull();
  });
});

/** A target that books every invoice and payment it is given, and remembers what it was given. */
function recording(answer?: (items: { sourceId: string }[]) => Promise<ItemResult[]>) {
  const given: { sourceId: string; record: unknown }[][] = [];
  const book = (items: { sourceId: string; record: unknown }[]) => {
    given.push(items);
    return answer ? answer(items) : Promise.resolve(items.map((i) => ok(`T-${i.sourceId}`)));
  };
  const target = {
    type: 'recording',
    transactional: false,
    capabilities: {} as TargetConnector['capabilities'],
    limits: { concurrency: 1, batchSize: 10 },
    upsertCustomers: () => Promise.resolve([]),
    createInvoices: (_ctx: unknown, items: TargetInvoice[]) => book(items),
    createPayments: (_ctx: unknown, items: TargetPayment[]) => book(items),
    findAllocation: () => Promise.resolve({ targetId: 'A-1' }),
    findByReference: () => Promise.resolve(null),
  } satisfies TargetConnector;
  return { target: screenAmounts(target), given };
}

const ctx = {} as never;

describe('screenAmounts', () => {
  it('refuses the bad documents without sending them, sends the rest, and answers in the batch’s order', async () => {
    const { target, given } = recording();
    const results = await target.createInvoices(ctx, [
      invoice('A', [line({ netAmount: 'x' })]),
      invoice('B'),
      invoice('C', [line({ vatAmount: '1.001' })]),
      invoice('D'),
    ]);
    expect(results.map((r) => (r.ok ? r.targetId : said(r.error)))).toEqual([
      ['AMOUNT_INVALID', 'lines[0].netAmount'],
      'T-B',
      ['AMOUNT_INVALID', 'lines[0].vatAmount'],
      'T-D',
    ]);
    expect(results[0]).toMatchObject({ ok: false, error: { retryable: false } });
    expect(given.map((batch) => batch.map((i) => i.sourceId))).toEqual([['B', 'D']]);
  });

  it('calls nothing when every document is refused, and hands on a clean batch as it is', async () => {
    const { target, given } = recording();
    expect(await target.createPayments!(ctx, [payment('P1', 'ten')])).toHaveLength(1);
    expect(given).toEqual([]);
    const clean = [payment('P2', '10.00'), payment('P3', '20.00', '0.50')];
    await target.createPayments!(ctx, clean);
    expect(given[0]![0]).toBe(clean[0]);
    expect(given[0]![1]).toBe(clean[1]);
  });

  it('hands a target its numbers written plainly: no leading zeros, no exponent', async () => {
    const { target, given } = recording();
    await target.createInvoices(ctx, [
      invoice('A', [line({ netAmount: '0100.00', vatAmount: '2.1e1', quantity: '04', unitPrice: '25.00' })]),
    ]);
    await target.createPayments!(ctx, [payment('P', '0121.00', '00.50')]);
    const [inv] = given[0] as TargetInvoice[];
    expect(inv!.record.lines[0]).toEqual(
      line({ netAmount: '100.00', vatAmount: '21', quantity: '4', unitPrice: '25.00' }),
    );
    const [pay] = given[1] as TargetPayment[];
    expect([pay!.record.amount, pay!.record.fee]).toEqual(['121.00', '0.50']);
  });

  it('a batch that stops part-way keeps its refusals: BatchInterrupted in the batch’s order', async () => {
    const lost = new Error('socket hang up');
    const { target } = recording(() => Promise.reject(new BatchInterrupted([ok('T-B'), undefined], lost)));
    const stopped = await target
      .createInvoices(ctx, [invoice('A', [line({ netAmount: 'x' })]), invoice('B'), invoice('C')])
      .catch((err: unknown) => err);
    expect(stopped).toBeInstanceOf(BatchInterrupted);
    const b = stopped as BatchInterrupted;
    expect(b.error).toBe(lost);
    expect(b.results.map((r) => (r ? (r.ok ? r.targetId : r.error.code) : undefined))).toEqual([
      'AMOUNT_INVALID',
      'T-B',
      undefined,
    ]);
  });

  it('a call that fails keeps the refusals; without any, its error goes through as it was thrown', async () => {
    const lost = new Error('socket hang up');
    const { target } = recording(() => Promise.reject(lost));
    const stopped = (await target
      .createInvoices(ctx, [invoice('A', [line({ netAmount: 'x' })]), invoice('B')])
      .catch((err: unknown) => err)) as BatchInterrupted;
    expect(stopped).toBeInstanceOf(BatchInterrupted);
    expect(stopped.error).toBe(lost);
    expect(stopped.results.map((r) => r && !r.ok && r.error.code)).toEqual(['AMOUNT_INVALID', undefined]);
    await expect(target.createInvoices(ctx, [invoice('B')])).rejects.toBe(lost);
  });

  it('keeps the operations the target lacks absent, and finds no allocation of an amount that is not one', async () => {
    const { target } = recording();
    expect('createRefunds' in target).toBe(false);
    expect('createCreditNotes' in target).toBe(false);
    const allocation = (amount: string): TargetAllocation => ({
      sourceId: 'A',
      record: {
        kind: 'allocation',
        sourceId: 'A',
        customerSourceId: 'C1',
        date: '2026-11-05',
        currency: 'EUR',
        amount,
        invoiceExternalReference: 'I1',
        from: 'payment',
        fromExternalReference: 'P1',
      },
      customerTargetId: 'c',
      invoiceTargetId: 'i',
      fromTargetId: 'p',
      idempotencyKey: 'k',
    });
    expect(await target.findAllocation!(ctx, allocation('x'), new Set())).toBeNull();
    expect(await target.findAllocation!(ctx, allocation('10.00'), new Set())).toEqual({ targetId: 'A-1' });
  });
});
