import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CUSTOMERS_PER_REQUEST } from '../src/connectors/businesscentral/balances.ts';
import {
  type BusinessCentralSimulator,
  startBusinessCentralSimulator,
} from '../src/connectors/businesscentral/simulator.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetConnector } from '../src/sync/target.ts';
import {
  businessCentralCallContext,
  businessCentralCustomer,
  businessCentralPayment,
  directBusinessCentral,
} from './helpers/businesscentral.ts';

/*
 * Each customer's open balance in Business Central as at a day (the target's `openBalances`),
 * against the simulated API v2.0: posted invoices less posted credit memos less payments, each
 * posted up to the day; a cancelled invoice (and its corrective credit memo) and a draft count
 * nothing; a payment on account counts; another customer's documents under the same references
 * are theirs; 20 customers a request, every page read; Business Central's errors as ConnectorErrors.
 */

const ctx = businessCentralCallContext;
const CLIENT = { clientId: 'ledgerlink-balances', clientSecret: 'bc-balances-secret-0123456789' };

const make = directBusinessCentral;

let sim: BusinessCentralSimulator;
let target: TargetConnector;
let c = '';
let d = '';

const customer = (code: string): Promise<string> => businessCentralCustomer(target, code);

/** An invoice of `net` plus 21% VAT, dated (and posted) on `date`; its id. */
async function invoice(customerTargetId: string, ref: string, net: string, date: string): Promise<string> {
  const [r] = await target.createInvoices(ctx, [
    {
      sourceId: `${customerTargetId}-${ref}`,
      idempotencyKey: `${customerTargetId}-${ref}`,
      customerTargetId,
      productTargetIds: {},
      record: {
        kind: 'invoice',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: 'c',
        invoiceDate: date,
        dueDate: date,
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Service', netAmount: net, vatRate: '0.21' }],
      },
    },
  ]);
  if (!r?.ok) throw new Error(JSON.stringify(r));
  return r.targetId;
}

async function creditNote(customerTargetId: string, ref: string, invoiceTargetId: string, net: string, date: string) {
  const [r] = await target.createCreditNotes!(ctx, [
    {
      sourceId: `${customerTargetId}-${ref}`,
      idempotencyKey: `${customerTargetId}-${ref}`,
      customerTargetId,
      productTargetIds: {},
      invoiceTargetId,
      record: {
        kind: 'creditNote',
        sourceId: ref,
        externalReference: ref,
        customerSourceId: 'c',
        invoiceExternalReference: 'x',
        date,
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Back', netAmount: net, vatRate: '0.21' }],
      },
    },
  ]);
  if (!r?.ok) throw new Error(JSON.stringify(r));
}

async function payment(customerTargetId: string, ref: string, amount: string, date: string, invoiceTargetId?: string) {
  const [r] = await target.createPayments!(ctx, [
    businessCentralPayment(customerTargetId, ref, amount, date, invoiceTargetId),
  ]);
  if (!r?.ok) throw new Error(JSON.stringify(r));
  return r.targetId;
}

/** The balances as [customer (C, D, or the id answered), currency, minor units], in that order. */
const balances = async (ids: string[], asAt: string) =>
  (await target.openBalances!(ctx, ids, asAt))
    .map((b) => [
      b.customerTargetId === c ? 'C' : b.customerTargetId === d ? 'D' : b.customerTargetId,
      b.currency,
      b.balance,
    ])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));

beforeAll(async () => {
  sim = await startBusinessCentralSimulator({ client: CLIENT, seed: 7 });
  target = make(sim);
  c = await customer('BAL-C');
  d = await customer('BAL-D');
  // C: I1 121.00 (Nov 2), paid 21.00 (Nov 20); I2 60.50 (Nov 10) credited 12.10 (Nov 12); I3 24.20
  // (Nov 15) cancelled in Business Central; 30.00 on account (Nov 25); I4 12.10 (Dec 3) and its
  // payment 12.10 (Dec 4). D: under the same references, I1 242.00 (Nov 2) paid 42.00 (Nov 20).
  const i1 = await invoice(c, 'I1', '100.00', '2026-11-02');
  const i2 = await invoice(c, 'I2', '50.00', '2026-11-10');
  await creditNote(c, 'N1', i2, '10.00', '2026-11-12');
  const i3 = await invoice(c, 'I3', '20.00', '2026-11-15');
  sim.company.cancelInvoice(i3);
  await payment(c, 'P1', '21.00', '2026-11-20', i1);
  await payment(c, 'P2', '30.00', '2026-11-25');
  const i4 = await invoice(c, 'I4', '10.00', '2026-12-03');
  await payment(c, 'P3', '12.10', '2026-12-04', i4);
  const di1 = await invoice(d, 'I1', '200.00', '2026-11-02');
  await payment(d, 'P1', '42.00', '2026-11-20', di1);
  // A draft left in Business Central (never posted) owes nothing.
  sim.company.createDoc('salesInvoices', {
    customerId: c,
    currencyCode: 'EUR',
    invoiceDate: '2026-11-05',
    externalDocumentNumber: 'DRAFT',
    salesInvoiceLines: [{ lineType: 'Account', lineObjectNumber: '40100', taxCode: 'VAT21', unitPrice: '500' }],
  });
});
afterAll(async () => {
  await sim.close();
});

describe('Business Central open balances', () => {
  it('sums posted invoices less credit memos and payments, applied or on account, up to the day', async () => {
    // C: 121.00 − 21.00 + 60.50 − 12.10 − 30.00 = 118.40 (the cancelled I3 and the draft count nothing).
    expect(await balances([c, d], '2026-11-30')).toEqual([
      ['C', 'EUR', 11840n],
      ['D', 'EUR', 20000n],
    ]);
    // I4 and its payment count from their own days.
    expect(await balances([c], '2026-12-03')).toEqual([['C', 'EUR', 11840n + 1210n]]);
    expect(await balances([c], '2026-12-31')).toEqual([['C', 'EUR', 11840n]]);
    // Inclusive of the day: P1 posted on the 20th counts as at the 20th, not the 19th.
    expect(await balances([c], '2026-11-19')).toEqual([['C', 'EUR', 12100n + 6050n - 1210n]]);
    expect(await balances([c], '2026-11-20')).toEqual([['C', 'EUR', 12100n + 6050n - 1210n - 2100n]]);
    // Before anything: no row (zero).
    expect(await balances([c], '2026-10-31')).toEqual([]);
  });

  it('answers only for the customers asked, in their spelling, and ignores ids that are not Business Central’s', async () => {
    expect(await balances([d.toUpperCase(), 'C00001', 'BAL-C', ''], '2026-11-30')).toEqual([
      [d.toUpperCase(), 'EUR', 20000n],
    ]);
    expect(await balances([], '2026-11-30')).toEqual([]);
  });

  it('counts an invoice cancelled in Business Central as nothing, as of the day it was cancelled or not', async () => {
    const i5 = await invoice(d, 'I5', '5.00', '2026-11-05');
    expect(await balances([d], '2026-11-30')).toEqual([['D', 'EUR', 20000n + 605n]]);
    sim.company.cancelInvoice(i5);
    expect(await balances([d], '2026-11-30')).toEqual([['D', 'EUR', 20000n]]);
  });

  it('reads 20 customers a request, every page of each, and says so in the request count', async () => {
    // Its own company, pages of 25 rows: 45 customers, each two invoices, a credit memo and a payment.
    const small = await startBusinessCentralSimulator({ client: CLIENT, seed: 8, pageSize: 25 });
    try {
      const t = make(small);
      const company = small.company;
      const ids: string[] = [];
      for (let n = 0; n < 45; n++) {
        const id = String(company.upsertNumbered('customers', { displayName: `Many ${n}` }).id);
        ids.push(id);
        for (const [set, date] of [
          ['salesInvoices', '2026-11-03'],
          ['salesInvoices', '2026-11-04'],
          ['salesCreditMemos', '2026-11-05'],
        ] as const) {
          const doc = company.createDoc(set, {
            customerId: id,
            currencyCode: 'EUR',
            [set === 'salesInvoices' ? 'invoiceDate' : 'creditMemoDate']: date,
            [set === 'salesInvoices' ? 'salesInvoiceLines' : 'salesCreditMemoLines']: [
              { lineType: 'Account', lineObjectNumber: '40100', taxCode: 'VAT0', unitPrice: String(n + 1) },
            ],
          });
          company.postDoc(doc.id, set);
        }
        const journal = [...company.journals.keys()][0]!;
        company.addJournalLine(journal, {
          customerId: id,
          postingDate: '2026-11-06',
          documentNumber: `PAY${n}`,
          externalDocumentNumber: `PAY${n}`,
          amount: '-0.50',
          description: `Payment (ledgerlink customer ${id})`,
        });
        company.postJournal(journal);
      }
      const before = small.log.length;
      const got = await t.openBalances!(ctx, ids, '2026-11-30');
      const reads = small.log.slice(before).map((e) => e.path.split('/').pop());
      // Each customer n owes 2 × (n + 1) − (n + 1) − 0.50.
      expect(got).toEqual(
        ids
          .map((id, n) => ({ customerTargetId: id, currency: 'EUR', balance: BigInt((n + 1) * 100 - 50) }))
          .sort((a, b) => a.customerTargetId.localeCompare(b.customerTargetId)),
      );
      // ⌈45 / 20⌉ = 3 groups of each set; groups of 20 hold 40 invoices and 40 G/L entries (two
      // pages of 25), the last group of 5 one page: 5 + 3 + 5 requests, and the local currency once.
      expect(CUSTOMERS_PER_REQUEST).toBe(20);
      expect(reads.filter((p) => p === 'salesInvoices')).toHaveLength(5);
      expect(reads.filter((p) => p === 'salesCreditMemos')).toHaveLength(3);
      expect(reads.filter((p) => p === 'generalLedgerEntries')).toHaveLength(5);
      expect(reads.filter((p) => p === 'companyInformation')).toHaveLength(1);
      expect(reads).toHaveLength(14);
    } finally {
      await small.close();
    }
  });

  it('reads documents back to the last page: a list is never read in part', async () => {
    // Pages of 2 rows: three invoices read back by id take two pages of one request.
    const small = await startBusinessCentralSimulator({ client: CLIENT, seed: 9, pageSize: 2 });
    try {
      const t = make(small);
      const id = String(small.company.upsertNumbered('customers', { displayName: 'Paged' }).id);
      const invoices = ['2026-11-03', '2026-11-04', '2026-11-05'].map((date) => {
        const doc = small.company.createDoc('salesInvoices', {
          customerId: id,
          currencyCode: 'EUR',
          invoiceDate: date,
          salesInvoiceLines: [{ lineType: 'Account', lineObjectNumber: '40100', taxCode: 'VAT0', unitPrice: '10' }],
        });
        small.company.postDoc(doc.id, 'salesInvoices');
        return String(doc.id);
      });
      const read = await t.documents!(ctx, invoices, { kind: 'invoice' });
      expect(invoices.map((i) => read.get(i)?.gross)).toEqual([1000n, 1000n, 1000n]);
    } finally {
      await small.close();
    }
  });

  it("answers Business Central's errors as ConnectorErrors: retryable a 5xx, not a malformed answer", async () => {
    sim.failNext(503);
    const busy = await target.openBalances!(ctx, [c], '2026-11-30').catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(ConnectorError);
    expect(busy).toMatchObject({ retryable: true, status: 503 });
    sim.malformNext();
    const bad = await target.openBalances!(ctx, [c], '2026-11-30').catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ConnectorError);
    expect(bad).toMatchObject({ retryable: false });
    // And answers again once Business Central does.
    expect(await balances([c], '2026-11-30')).toEqual([['C', 'EUR', 11840n]]);
  });

  it('books no refund (API v2.0 has none): refunds asked for alone find nothing to add', async () => {
    expect(target.capabilities.refunds).toBe(false);
    expect((await target.documents!(ctx, [], { kind: 'refund' })).size).toBe(0);
  });
});
