import { expect } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import type { IxpoleSimulator } from '../../src/connectors/ixpole/simulator.ts';
import { formatAmount } from '../../src/domain/money.ts';
import type { CanonicalRecord, CanonicalRefund } from '../../src/sync/canonical.ts';
import type { Pipeline } from '../../src/sync/pipelines.ts';
import { getRun } from '../../src/sync/runs.ts';
import type { SyncService } from '../../src/sync/service.ts';

/*
 * What the platforms' end-to-end tests (test/<platform>.test.ts) check alike: iXpole got the
 * platform's own number (and its PDF) back for every instalment, the amounts arrived as iXpole gave
 * them, a second run books nothing again, what the engine mapped is what the platform holds; and
 * the records they send through the `records` source to check payments and credit notes. The
 * engine those tests run (the app, the target registered, the runs) is test/helpers/platform-engine.ts.
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
 * What the engine mapped for the pipeline's invoices (`count` of them) is what the platform holds:
 * for each, `held(sourceId)` gives the platform's id and number of the invoice under that reference.
 */
export async function expectInvoicesMapped(
  db: Database,
  pipeline: Pick<Pipeline, 'id'>,
  count: number,
  held: (sourceId: string) => { id: string; number: string | null | undefined },
): Promise<void> {
  const { rows } = await db.query<{ source_id: string; target_id: string; target_number: string | null }>(
    `SELECT source_id, target_id, target_number FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice' ORDER BY source_id`,
    [pipeline.id],
  );
  expect(rows).toHaveLength(count);
  for (const r of rows) expect({ id: r.target_id, number: r.target_number }).toEqual(held(r.source_id));
}

/** The one document of `found` (what the platform holds under `ref`); fails, naming `ref`, unless there is exactly one. */
export function heldOnce<T>(found: T[], ref: string): T {
  expect(found, ref).toHaveLength(1);
  return found[0]!;
}

/**
 * The records of the `records`-source scenarios, their ids and references under `prefix`:
 * customers `E2-A`…, invoices `E2-I<n>` of one 21 % line dated 2 November 2026, payments
 * `E2-P<n>` of 5 November applied to the invoice they name, credit notes `E2-N<n>` of 4 November
 * (20.00 and its VAT returned), refunds `E2-R<n>` of 6 November, and allocations `E2-A<n>`.
 */
export function e2eRecords(prefix = 'E2') {
  const invoice = (n: number, customer: string, net = '100.00', vat = '21.00'): CanonicalRecord => ({
    kind: 'invoice',
    sourceId: `${prefix}-I${n}`,
    externalReference: `${prefix}-I${n}`,
    customerSourceId: `${prefix}-${customer}`,
    invoiceDate: '2026-11-02',
    dueDate: '2026-12-02',
    currency: 'EUR',
    description: '',
    lines: [{ description: 'Service', netAmount: net, vatRate: '0.21', vatAmount: vat }],
  });
  return {
    customers: (letters: string[] = ['A', 'B', 'C']): CanonicalRecord[] =>
      letters.map((c) => ({
        kind: 'customer',
        sourceId: `${prefix}-${c}`,
        name: `E2E customer ${c}`,
        email: `${c.toLowerCase()}@example.org`,
      })),
    invoice,
    /** Invoices 1 to `count` of 121.00, to customers A, B, C in turn. */
    invoices: (count: number): CanonicalRecord[] =>
      [...Array(count).keys()].map((i) => invoice(i + 1, ['A', 'B', 'C'][i % 3]!)),
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
    /** With `more`, another date or description. */
    refund: (
      n: number,
      customer: string,
      amount: string,
      paymentRef: string | null,
      more: Partial<Pick<CanonicalRefund, 'date' | 'description'>> = {},
    ): CanonicalRecord => ({
      kind: 'refund',
      sourceId: `${prefix}-R${n}`,
      externalReference: `${prefix}-R${n}`,
      customerSourceId: `${prefix}-${customer}`,
      date: '2026-11-06',
      amount,
      currency: 'EUR',
      paymentExternalReference: paymentRef,
      description: '',
      ...more,
    }),
    /** A credit note of 20.00 net at 21 % (24.20), crediting the invoice named. */
    creditNote: (n: number, customer: string, invoiceRef: string): CanonicalRecord => ({
      kind: 'creditNote',
      sourceId: `${prefix}-N${n}`,
      externalReference: `${prefix}-N${n}`,
      customerSourceId: `${prefix}-${customer}`,
      date: '2026-11-04',
      currency: 'EUR',
      description: 'Returned',
      invoiceExternalReference: invoiceRef,
      lines: [{ description: 'Returned', netAmount: '20.00', vatRate: '0.21', vatAmount: '4.20' }],
    }),
    /**
     * `amount` of a payment or credit note (`fromRef`) set against an invoice: a credit note's on
     * its own day (4 November), a payment's the day after it was paid (6 November).
     */
    allocation: (
      n: number,
      customer: string,
      amount: string,
      invoiceRef: string,
      from: 'payment' | 'creditNote',
      fromRef: string,
    ): CanonicalRecord => ({
      kind: 'allocation',
      sourceId: `${prefix}-A${n}`,
      customerSourceId: `${prefix}-${customer}`,
      date: from === 'creditNote' ? '2026-11-04' : '2026-11-06',
      currency: 'EUR',
      amount,
      invoiceExternalReference: invoiceRef,
      from,
      fromExternalReference: fromRef,
    }),
  };
}
