import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CUSTOMERS_PER_REQUEST } from '../src/connectors/businesscentral/balances.ts';
import {
  type BusinessCentralSimulator,
  type Company,
  startBusinessCentralSimulator,
} from '../src/connectors/businesscentral/simulator.ts';
import { ConnectorError } from '../src/sync/connector.ts';
import type { TargetConnector, TargetDocument } from '../src/sync/target.ts';
import {
  businessCentralCallContext,
  businessCentralCustomer,
  directBusinessCentral,
} from './helpers/businesscentral.ts';

/*
 * Documents in Business Central that no pipeline booked (the target's `unlinkedDocuments`), against
 * the simulated API v2.0: posted invoices and credit memos of the customers asked, dated in the
 * window (both ends included), and their payments (G/L entries of type Payment marked with the
 * customer); what any pipeline booked left out (payment ids `<Document No.>@<customer>`, or the
 * old bare Document No.); cancelled (and their corrective credit memos), drafts, reversed payments
 * and unmarked payments left out; 20 customers a request, every page read; refusals as ConnectorErrors.
 */

const ctx = businessCentralCallContext;
const CLIENT = { clientId: 'ledgerlink-unlinked', clientSecret: 'bc-unlinked-secret-0123456789' };
const FROM = '2026-11-01';
const TO = '2026-11-30';

const make = directBusinessCentral;

/** A sales invoice or credit memo a person keys in Business Central: one G/L account line, posted unless a draft; its id. */
function keyDoc(
  company: Company,
  set: 'salesInvoices' | 'salesCreditMemos',
  customerId: string,
  reference: string,
  date: string,
  net: string,
  o: { draft?: boolean; taxCode?: string } = {},
): string {
  const doc = company.createDoc(set, {
    customerId,
    externalDocumentNumber: reference,
    [set === 'salesInvoices' ? 'invoiceDate' : 'creditMemoDate']: date,
    postingDate: date,
    [set === 'salesInvoices' ? 'salesInvoiceLines' : 'salesCreditMemoLines']: [
      { lineType: 'Account', lineObjectNumber: '40100', taxCode: o.taxCode ?? 'VAT21', unitPrice: net },
    ],
  });
  if (!o.draft) company.postDoc(doc.id, set);
  return doc.id;
}

/** A payment a person enters in the payment journal and posts; marked with the customer unless `marked` is false. */
function keyPayment(
  company: Company,
  customerId: string,
  documentNumber: string,
  date: string,
  amount: string,
  marked = true,
) {
  const journal = [...company.journals.keys()][0]!;
  company.addJournalLine(journal, {
    customerId,
    postingDate: date,
    documentNumber,
    externalDocumentNumber: documentNumber,
    amount: `-${amount}`,
    description: marked ? `Payment by hand (ledgerlink customer ${customerId})` : 'Payment by hand',
  });
  company.postJournal(journal);
}

let sim: BusinessCentralSimulator;
let target: TargetConnector;
let c = '';
let d = '';
let e = '';
const booked: Record<string, string> = {};

const customer = (code: string): Promise<string> => businessCentralCustomer(target, code);

const unlinked = (
  customerTargetIds: string[],
  linkedTargetIds: string[],
  from = FROM,
  to = TO,
  references: string[] = [],
) => target.unlinkedDocuments!(ctx, { customerTargetIds, references, linkedTargetIds }, from, to);

/** What was found, as [reference, kind, customer (C, D, E), date, gross], by reference. */
const rows = (docs: TargetDocument[]) =>
  docs
    .map((x) => [
      x.externalReference,
      x.kind,
      x.customerTargetId.toLowerCase() === c ? 'C' : x.customerTargetId.toLowerCase() === d ? 'D' : 'E',
      x.date,
      x.gross,
    ])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));

beforeAll(async () => {
  sim = await startBusinessCentralSimulator({ client: CLIENT, seed: 31 });
  target = make(sim);
  c = await customer('UNL-C');
  d = await customer('UNL-D');
  e = await customer('UNL-E');
  // What the pipeline booked for C: I1 (Nov 2), its credit note N1 (Nov 3), the payment P1 (Nov 5).
  const [i1] = await target.createInvoices(ctx, [
    {
      sourceId: 'I1',
      idempotencyKey: 'I1',
      customerTargetId: c,
      productTargetIds: {},
      record: {
        kind: 'invoice',
        sourceId: 'I1',
        externalReference: 'I1',
        customerSourceId: 'UNL-C',
        invoiceDate: '2026-11-02',
        dueDate: '2026-12-02',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Service', netAmount: '100.00', vatRate: '0.21' }],
      },
    },
  ]);
  if (!i1?.ok) throw new Error(JSON.stringify(i1));
  booked.I1 = i1.targetId;
  const [n1] = await target.createCreditNotes!(ctx, [
    {
      sourceId: 'N1',
      idempotencyKey: 'N1',
      customerTargetId: c,
      productTargetIds: {},
      invoiceTargetId: i1.targetId,
      record: {
        kind: 'creditNote',
        sourceId: 'N1',
        externalReference: 'N1',
        customerSourceId: 'UNL-C',
        invoiceExternalReference: 'I1',
        date: '2026-11-03',
        currency: 'EUR',
        description: '',
        lines: [{ description: 'Back', netAmount: '10.00', vatRate: '0.21' }],
      },
    },
  ]);
  if (!n1?.ok) throw new Error(JSON.stringify(n1));
  booked.N1 = n1.targetId;
  const [p1] = await target.createPayments!(ctx, [
    {
      sourceId: 'P1',
      idempotencyKey: 'P1',
      customerTargetId: c,
      invoiceTargetId: i1.targetId,
      bankAccountCode: '',
      record: {
        kind: 'payment',
        sourceId: 'P1',
        externalReference: 'P1',
        customerSourceId: 'UNL-C',
        date: '2026-11-05',
        amount: '50.00',
        currency: 'EUR',
        description: '',
      },
    },
  ]);
  if (!p1?.ok) throw new Error(JSON.stringify(p1));
  booked.P1 = p1.targetId;
  const company = sim.company;
  // Keyed in Business Central by hand for C: invoices on the window's first and last days and the
  // days either side, a credit memo on account, a marked payment in the window and one the day before.
  keyDoc(company, 'salesInvoices', c, 'H-FROM', FROM, '10.00');
  keyDoc(company, 'salesInvoices', c, 'H-TO', TO, '20.00');
  keyDoc(company, 'salesInvoices', c, 'H-BEFORE', '2026-10-31', '30.00');
  keyDoc(company, 'salesInvoices', c, 'H-AFTER', '2026-12-01', '40.00');
  keyDoc(company, 'salesCreditMemos', c, 'H-NOTE', '2026-11-10', '5.00');
  keyDoc(company, 'salesCreditMemos', c, 'H-NOTE-AFTER', '2026-12-01', '5.00');
  keyPayment(company, c, 'H-PAY', '2026-11-12', '30.00');
  keyPayment(company, c, 'H-PAY-BEFORE', '2026-10-31', '7.00');
  // Not in the books: a cancelled invoice (and so its corrective credit memo), a draft.
  company.cancelInvoice(keyDoc(company, 'salesInvoices', c, 'H-CANCELLED', '2026-11-16', '60.00'));
  keyDoc(company, 'salesInvoices', c, 'H-DRAFT', '2026-11-17', '70.00', { draft: true });
  // A payment without ledgerlink's mark names no customer to the API.
  keyPayment(company, c, 'H-UNMARKED', '2026-11-18', '8.00', false);
  // D's invoice, and E's (E is not the pipeline's) under one of the pipeline's references.
  keyDoc(company, 'salesInvoices', d, 'H-D', '2026-11-15', '50.00');
  keyDoc(company, 'salesInvoices', e, 'I1', '2026-11-15', '90.00');
  keyPayment(company, e, 'H-PAY-E', '2026-11-15', '9.00');
});
afterAll(async () => {
  await sim.close();
});

describe('Business Central documents no pipeline booked', () => {
  it('names the invoices, credit memos and payments of the customers asked dated in the window, both ends included', async () => {
    expect(rows(await unlinked([c, d], Object.values(booked)))).toEqual([
      ['H-D', 'invoice', 'D', '2026-11-15', 6050n],
      ['H-FROM', 'invoice', 'C', FROM, 1210n],
      ['H-NOTE', 'creditNote', 'C', '2026-11-10', 605n],
      // G/L entries carry no External Document No.: a payment's reference is its Document No.
      ['H-PAY', 'payment', 'C', '2026-11-12', 3000n],
      ['H-TO', 'invoice', 'C', TO, 2420n],
    ]);
    // A window of one day, either end.
    expect(rows(await unlinked([c, d], Object.values(booked), '2026-10-31', '2026-10-31'))).toEqual([
      ['H-BEFORE', 'invoice', 'C', '2026-10-31', 3630n],
      ['H-PAY-BEFORE', 'payment', 'C', '2026-10-31', 700n],
    ]);
    expect(rows(await unlinked([c, d], Object.values(booked), '2026-12-01', '2026-12-01'))).toEqual([
      ['H-AFTER', 'invoice', 'C', '2026-12-01', 4840n],
      ['H-NOTE-AFTER', 'creditNote', 'C', '2026-12-01', 605n],
    ]);
  });

  it('reads only the customers asked: another customer’s documents are not named, even under the pipeline’s references', async () => {
    expect(rows(await unlinked([d], Object.values(booked), FROM, TO, ['I1', 'N1', 'P1']))).toEqual([
      ['H-D', 'invoice', 'D', '2026-11-15', 6050n],
    ]);
    // Ids that are not Business Central's are no customers; none asks nothing.
    const before = sim.log.length;
    expect(await unlinked(['UNL-C', ''], [])).toEqual([]);
    expect(await unlinked([], [])).toEqual([]);
    expect(sim.log.length).toBe(before);
  });

  it('leaves out what a pipeline booked, by the ids it booked them under (a payment’s `<Document No.>@<customer>` or its old bare Document No.)', async () => {
    expect(booked.P1).toBe(`P1@${c}`);
    const all = rows(await unlinked([c], []));
    expect(all.map((r) => [r[0], r[1]])).toEqual([
      ['H-FROM', 'invoice'],
      ['H-NOTE', 'creditNote'],
      ['H-PAY', 'payment'],
      ['H-TO', 'invoice'],
      ['I1', 'invoice'],
      ['N1', 'creditNote'],
      ['P1', 'payment'],
    ]);
    const named = (linked: string[]) => async () =>
      (await unlinked([c], linked)).map((x) => x.externalReference).sort();
    const without = ['H-FROM', 'H-NOTE', 'H-PAY', 'H-TO'];
    expect(await named([booked.I1!, booked.N1!, booked.P1!])()).toEqual(without);
    // Spelt in another case, and a payment mapped before ids named the customer (bare Document No.).
    expect(await named([booked.I1!.toUpperCase(), booked.N1!, `P1@${c.toUpperCase()}`])()).toEqual(without);
    expect(await named([booked.I1!, booked.N1!, 'P1'])()).toEqual(without);
    // Another customer's payment under the same Document No. is not this one.
    expect(await named([booked.I1!, booked.N1!, `P1@${d}`])()).toEqual([...without, 'P1'].sort());
  });

  it('describes each document as documents() reads it back, and leaves out a payment a reversal netted to nothing', async () => {
    const found = await unlinked([c, d], Object.values(booked));
    const read = await target.documents!(
      ctx,
      found.map((x) => x.targetId),
      { fees: true },
    );
    expect(found).toEqual(found.map((x) => read.get(x.targetId)));
    expect(found.find((x) => x.kind === 'payment')?.targetId).toBe(`H-PAY@${c}`);
    expect(found.some((x) => x.voided)).toBe(false);
    // H-PAY reversed after the window (entries under its Document No., netting it): no longer named.
    const company = sim.company;
    for (const entry of company.glEntries.filter((g) => g.documentNumber === 'H-PAY'))
      company.glEntries.push({
        ...entry,
        id: `${entry.id}-reversal`,
        postingDate: '2026-12-05',
        debitAmount: entry.creditAmount,
        creditAmount: entry.debitAmount,
      });
    try {
      expect((await unlinked([c], Object.values(booked))).map((x) => x.externalReference)).not.toContain('H-PAY');
    } finally {
      company.glEntries.splice(
        0,
        company.glEntries.length,
        ...company.glEntries.filter((g) => !g.id.endsWith('-reversal')),
      );
    }
  });

  it('reads 20 customers a request, every page of each, and the payments found once more by id', async () => {
    // Its own company, pages of 25 rows: 45 customers, each two invoices in the window and one
    // outside it, a credit memo and a payment; 5 of each customer's documents booked (linked).
    const small = await startBusinessCentralSimulator({ client: CLIENT, seed: 32, pageSize: 25 });
    try {
      const t = make(small);
      const company = small.company;
      const ids: string[] = [];
      const linked: string[] = [];
      for (let n = 0; n < 45; n++) {
        const id = String(company.upsertNumbered('customers', { displayName: `Many ${n}` }).id);
        ids.push(id);
        const first = keyDoc(company, 'salesInvoices', id, `A${n}`, '2026-11-03', String(n + 1), { taxCode: 'VAT0' });
        keyDoc(company, 'salesInvoices', id, `B${n}`, '2026-11-04', String(n + 1), { taxCode: 'VAT0' });
        keyDoc(company, 'salesInvoices', id, `OLD${n}`, '2026-10-04', String(n + 1), { taxCode: 'VAT0' });
        keyDoc(company, 'salesCreditMemos', id, `M${n}`, '2026-11-05', '1', { taxCode: 'VAT0' });
        keyPayment(company, id, `PAY${n}`, '2026-11-06', '0.50');
        if (n < 5) linked.push(first, `PAY${n}@${id}`);
      }
      const before = small.log.length;
      const got = await t.unlinkedDocuments!(
        ctx,
        { customerTargetIds: ids, references: [], linkedTargetIds: linked },
        FROM,
        TO,
      );
      const reads = small.log.slice(before).map((x) => x.path.split('/').pop());
      const count = (kind: string) => got.filter((x) => x.kind === kind).length;
      expect([count('invoice'), count('creditNote'), count('payment'), got.length]).toEqual([85, 45, 40, 170]);
      expect(got.filter((x) => x.kind === 'payment').every((x) => x.gross === 50n)).toBe(true);
      // ⌈45 / 20⌉ = 3 groups of each list: groups of 20 hold 40 invoices in the window and 40 G/L
      // entries (two pages of 25), 20 credit memos (one), the last group of 5 one page each: 5 + 3 +
      // 5. The 40 payments found read by Document No., 20 a request (40 entries, two pages): 2 + 2.
      // And the local currency once.
      expect(CUSTOMERS_PER_REQUEST).toBe(20);
      expect(reads.filter((p) => p === 'salesInvoices')).toHaveLength(5);
      expect(reads.filter((p) => p === 'salesCreditMemos')).toHaveLength(3);
      expect(reads.filter((p) => p === 'generalLedgerEntries')).toHaveLength(5 + 4);
      expect(reads.filter((p) => p === 'companyInformation')).toHaveLength(1);
      expect(reads).toHaveLength(18);
    } finally {
      await small.close();
    }
  });

  it('answers a refusal as a ConnectorError (not retried), a 5xx as a retryable one', async () => {
    sim.failNext(400);
    const refused = await unlinked([c], []).catch((x: unknown) => x);
    expect(refused).toBeInstanceOf(ConnectorError);
    expect(refused).toMatchObject({ retryable: false, status: 400 });
    expect(String((refused as Error).message)).toMatch(/GET salesInvoices was refused/);
    sim.failNext(503);
    const busy = await unlinked([c], []).catch((x: unknown) => x);
    expect(busy).toBeInstanceOf(ConnectorError);
    expect(busy).toMatchObject({ retryable: true, status: 503 });
    // And answers again once Business Central does.
    expect((await unlinked([c, d], Object.values(booked))).length).toBe(5);
  });

  it('finds no refunds: API v2.0 has none', async () => {
    expect(target.capabilities.refunds).toBe(false);
    expect((await unlinked([c, d, e], [])).some((x) => x.kind === 'refund')).toBe(false);
  });
});
