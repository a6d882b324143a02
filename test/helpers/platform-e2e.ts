import { expect } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { IxpoleSimulator } from '../../src/connectors/ixpole/simulator.ts';
import { formatAmount } from '../../src/domain/money.ts';
import type { CanonicalRecord } from '../../src/sync/canonical.ts';
import type { Pipeline } from '../../src/sync/pipelines.ts';
import { getRun } from '../../src/sync/runs.ts';
import type { SyncService } from '../../src/sync/service.ts';

/*
 * What the platforms' end-to-end tests (test/<platform>.test.ts) check alike: iXpole got the
 * platform's own number (and its PDF) back for every instalment, the amounts arrived as iXpole gave
 * them, and a second run books nothing again; and the records they send through the `records`
 * source to check payments and credit notes.
 */

/** A write-back iXpole received that carries an invoice number. */
export interface NumberWrittenBack {
  code: string;
  number: string;
  pdf: Buffer | null;
}

/** Every write-back with an invoice number iXpole received, in order. */
export function numbersWrittenBack(ix: IxpoleSimulator): NumberWrittenBack[] {
  const out: NumberWrittenBack[] = [];
  for (const w of ix.writes)
    if (w.method === 'PUT')
      for (const u of w.body as { InstalmentCode: string; InvoiceNumber?: string; Pdf?: string }[])
        if (u.InvoiceNumber !== undefined)
          out.push({
            code: u.InstalmentCode,
            number: u.InvoiceNumber,
            pdf: u.Pdf ? Buffer.from(u.Pdf, 'base64') : null,
          });
  return out;
}

/**
 * Asserts that at least `atLeast` instalments got a number back, each the number the platform
 * holds for that instalment (`numberOf`) in the platform's `format`; with `pdf`, that as many got a
 * PDF, each a PDF that `pdf` checks further (that it shows the number).
 */
export function expectNumbersWrittenBack(
  ix: IxpoleSimulator,
  o: {
    atLeast: number;
    numberOf: (instalmentCode: string) => string | undefined;
    format?: RegExp;
    pdf?: (pdf: Buffer, number: string) => void;
  },
): void {
  const backs = numbersWrittenBack(ix);
  for (const b of backs) {
    expect(b.number, b.code).toBe(o.numberOf(b.code));
    if (o.format) expect(b.number).toMatch(o.format);
    if (b.pdf && o.pdf) {
      expect(b.pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
      o.pdf(b.pdf, b.number);
    }
  }
  expect(backs.length).toBeGreaterThanOrEqual(o.atLeast);
  if (o.pdf) expect(backs.filter((b) => b.pdf !== null).length).toBeGreaterThanOrEqual(o.atLeast);
}

/** Net and VAT of iXpole's first `count` instalments, against what the platform holds for each, in minor units. */
export function expectAmountsAsGiven(
  ix: IxpoleSimulator,
  count: number,
  linesOf: (instalmentCode: string) => { net: bigint; tax: bigint }[],
): void {
  for (let i = 0; i < count; i++) {
    const inst = ix.instalmentAt(i);
    const lines = linesOf(inst.InstalmentCode);
    const net = lines.reduce((s, l) => s + l.net, 0n);
    const tax = lines.reduce((s, l) => s + l.tax, 0n);
    expect([inst.InstalmentCode, formatAmount(net, 'EUR'), formatAmount(tax, 'EUR')]).toEqual([
      inst.InstalmentCode,
      inst.NetAmount,
      inst.VatAmount,
    ]);
  }
}

/** A manual run of a pipeline whose documents are all booked: it succeeds, and the platform gets no write. */
export async function expectSecondRunWritesNothing(
  db: Database,
  sync: Pick<SyncService, 'trigger'>,
  pipeline: Pipeline,
  writes: () => number,
): Promise<void> {
  const before = writes();
  const again = (await getRun(db, (await sync.trigger(pipeline, 'manual', 'test'))!))!;
  expect(again.status).toBe('succeeded');
  expect(writes()).toBe(before);
}

/**
 * The records of the `records`-source scenarios, their ids and references under `prefix`:
 * customers `E2-A`…, invoices `E2-I<n>` of one 21 % line dated 2 November 2026, payments
 * `E2-P<n>` of 5 November applied to the invoice they name.
 */
export function e2eRecords(prefix = 'E2') {
  return {
    customers: (letters: string[] = ['A', 'B', 'C']): CanonicalRecord[] =>
      letters.map((c) => ({
        kind: 'customer',
        sourceId: `${prefix}-${c}`,
        name: `E2E customer ${c}`,
        email: `${c.toLowerCase()}@example.org`,
      })),
    invoice: (n: number, customer: string, net = '100.00', vat = '21.00'): CanonicalRecord => ({
      kind: 'invoice',
      sourceId: `${prefix}-I${n}`,
      externalReference: `${prefix}-I${n}`,
      customerSourceId: `${prefix}-${customer}`,
      invoiceDate: '2026-11-02',
      dueDate: '2026-12-02',
      currency: 'EUR',
      description: '',
      lines: [{ description: 'Service', netAmount: net, vatRate: '0.21', vatAmount: vat }],
    }),
    payment: (n: number, customer: string, amount: string, invoiceRef: string | null): CanonicalRecord => ({
      kind: 'payment',
      sourceId: `${prefix}-P${n}`,
      externalReference: `${prefix}-P${n}`,
      customerSourceId: `${prefix}-${customer}`,
      date: '2026-11-05',
      amount,
      currency: 'EUR',
      invoiceExternalReference: invoiceRef,
      description: '',
    }),
    refund: (n: number, customer: string, amount: string, paymentRef: string | null): CanonicalRecord => ({
      kind: 'refund',
      sourceId: `${prefix}-R${n}`,
      externalReference: `${prefix}-R${n}`,
      customerSourceId: `${prefix}-${customer}`,
      date: '2026-11-06',
      amount,
      currency: 'EUR',
      paymentExternalReference: paymentRef,
      description: '',
    }),
  };
}
