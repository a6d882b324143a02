import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { postInvoice, postReceipt, seedCustomer } from './helpers/ledger.ts';
import { extractPdfText, inOrder } from './helpers/pdf-text.ts';
import { findEntityByCode, type EntityContext } from '../src/ledger/entities.ts';
import { ledgerPdfRenderer, loadInvoiceDocument, renderInvoicePdf } from '../src/ledger/pdf.ts';
import { renderDocument } from '../src/ledger/pdf-layout.ts';

let t: TestApp;
let c: Client;
let other: Client;
let entity: EntityContext;

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('PDF', 'EUR', {
    standardTaxRate: '0.21',
    address: { street: 'Stadionlaan 1', postalCode: '9000', city: 'Gent', country: 'BE' },
    vatNumber: 'BE0123456789',
  });
  other = await t.entity('PDFOTHER', 'EUR');
  entity = (await findEntityByCode(t.db, 'PDF'))!;
  const cust = await c.put('/v1/customers/ACME', {
    name: 'Acme Supporters Club',
    address: { street: 'Kerkstraat 2', postalCode: '8000', city: 'Brugge', country: 'BE' },
    vatNumber: 'BE0987654321',
    creditTerms: { days: 30 },
  });
  expect(cust.status).toBe(201);
  const red = await c.put('/v1/tax-codes/RED', { name: 'Reduced', rate: '0.06', glAccountCode: '2200' });
  expect(red.status).toBe(201);
});
afterAll(async () => t.close());

const threeLines = {
  invoiceDate: '2026-11-01',
  externalReference: 'INS-2026-001',
  description: 'Season 2026-2027',
  lines: [
    { glAccountCode: '4000', taxCode: 'STD', description: 'Season ticket, stand A', netAmount: '200.00' },
    { glAccountCode: '4000', taxCode: 'STD', description: 'Parking', netAmount: '100.00' },
    { glAccountCode: '4000', taxCode: 'RED', description: 'Programme booklets', netAmount: '50.00' },
  ],
};

async function pdfOf(client: Client, id: number) {
  const r = await client.get(`/v1/transactions/${id}/pdf`);
  return r;
}

describe('invoice PDF', () => {
  it('shows seller, customer, number, dates, lines, VAT per rate, totals and how to pay', async () => {
    const inv = await postInvoice(c, 'ACME', '0', threeLines);
    const r = await pdfOf(c, inv.transactionId);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/pdf');
    const pdf = r.body as Buffer;
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    const { lines, pages } = extractPdfText(pdf);
    expect(pages).toHaveLength(1);
    // seller
    expect(inOrder(lines, ['Entity PDF', 'Stadionlaan 1', '9000 Gent', 'BE', 'VAT number: BE0123456789'])).toBe(true);
    // the document
    expect(lines).toContain('INVOICE');
    expect(
      inOrder(lines, ['Invoice number', String(inv.number), 'Invoice date', '2026-11-01', 'Due date', '2026-12-01']),
    ).toBe(true);
    expect(inOrder(lines, ['Reference', 'INS-2026-001', 'Currency', 'EUR'])).toBe(true);
    // customer
    expect(
      inOrder(lines, [
        'Bill to',
        'Acme Supporters Club',
        'Customer code: ACME',
        'Kerkstraat 2',
        '8000 Brugge',
        'BE',
        'VAT number: BE0987654321',
      ]),
    ).toBe(true);
    expect(lines).toContain('Season 2026-2027');
    // lines: description, net, VAT rate, VAT, gross
    expect(inOrder(lines, ['Description', 'Net', 'VAT rate', 'VAT', 'Gross'])).toBe(true);
    expect(inOrder(lines, ['Season ticket, stand A', '200.00', '21%', '42.00', '242.00'])).toBe(true);
    expect(inOrder(lines, ['Parking', '100.00', '21%', '21.00', '121.00'])).toBe(true);
    expect(inOrder(lines, ['Programme booklets', '50.00', '6%', '3.00', '53.00'])).toBe(true);
    // VAT per rate, lowest rate first
    expect(
      inOrder(lines, ['VAT summary', 'VAT rate', 'Net', 'VAT', '6%', '50.00', '3.00', '21%', '300.00', '63.00']),
    ).toBe(true);
    // totals agree with what was posted
    expect(inv.grossAmount).toBe('416.00');
    expect(inOrder(lines, ['Net total', '350.00', 'VAT total', '66.00', 'Total EUR', '416.00'])).toBe(true);
    expect(inOrder(lines, ['Payment', 'Please pay 416.00 EUR by 2026-12-01.', 'Payment reference: INS-2026-001'])).toBe(
      true,
    );
    expect(lines).toContain('Page 1 of 1');
  });

  it('renders the same bytes for the same document, and different bytes for another', async () => {
    const inv = await postInvoice(c, 'ACME', '0', { ...threeLines, externalReference: 'SAME-1' });
    const a = (await pdfOf(c, inv.transactionId)).body as Buffer;
    const b = (await pdfOf(c, inv.transactionId)).body as Buffer;
    const direct = await renderInvoicePdf(t.db, entity, inv.transactionId);
    const viaRenderer = await ledgerPdfRenderer(t.db)(entity, inv.transactionId);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(direct)).toBe(true);
    expect(a.equals(viaRenderer)).toBe(true);
    // the creation date is the posting time, not the rendering time
    const doc = await loadInvoiceDocument(t.db, entity, inv.transactionId);
    const { rows } = await t.db.query<{ at: string }>(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS') AS at FROM transactions WHERE id = $1`,
      [inv.transactionId],
    );
    expect(a.toString('latin1')).toContain(`(D:${rows[0]!.at}Z)`);
    expect(doc.createdAt.toISOString().slice(0, 19).replace(/[-T:]/g, '')).toBe(rows[0]!.at);

    const another = await postInvoice(c, 'ACME', '0', { ...threeLines, externalReference: 'SAME-2' });
    const x = (await pdfOf(c, another.transactionId)).body as Buffer;
    expect(x.equals(a)).toBe(false);
  });

  it('uses the document number as payment reference when there is no external reference', async () => {
    const inv = await postInvoice(c, 'ACME', '10.00', { externalReference: undefined });
    const { lines } = extractPdfText((await pdfOf(c, inv.transactionId)).body);
    expect(lines).toContain(`Payment reference: ${inv.number}`);
    expect(lines).not.toContain('Reference');
  });

  it('titles a credit note as such, names the invoice it credits, and asks for no payment', async () => {
    const inv = await postInvoice(c, 'ACME', '0', { ...threeLines, externalReference: 'CREDITED-1' });
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      creditNoteDate: '2026-11-10',
      externalReference: 'CN-1',
    });
    expect(cn.status).toBe(201);
    const { lines } = extractPdfText((await pdfOf(c, cn.body.transactionId)).body);
    expect(lines).toContain('CREDIT NOTE');
    expect(lines).not.toContain('INVOICE');
    expect(
      inOrder(lines, [
        'Credit note number',
        String(cn.body.number),
        'Credit note date',
        '2026-11-10',
        'Credits invoice',
        String(inv.number),
      ]),
    ).toBe(true);
    expect(inOrder(lines, ['Credit to', 'Acme Supporters Club'])).toBe(true);
    expect(inOrder(lines, ['Total EUR', '416.00'])).toBe(true);
    expect(lines).toContain('This credit note reduces your balance by 416.00 EUR.');
    expect(lines.some((l) => l.startsWith('Please pay'))).toBe(false);
  });

  it('formats amounts with the currency’s decimals (JPY has none)', async () => {
    const yen = await t.entity('PDFYEN', 'JPY', { standardTaxRate: '0.10' });
    await seedCustomer(t.db, yen.entityId, 'TANAKA');
    const inv = await postInvoice(yen, 'TANAKA', '1000', {
      lines: [{ glAccountCode: '4000', taxCode: 'STD', description: 'Ticket', netAmount: '1000' }],
    });
    const { lines } = extractPdfText((await pdfOf(yen, inv.transactionId)).body);
    expect(inOrder(lines, ['Ticket', '1000', '10%', '100', '1100'])).toBe(true);
    expect(inOrder(lines, ['Total JPY', '1100'])).toBe(true);
    expect(lines.some((l) => /\d\.\d/.test(l))).toBe(false);
  });

  it('breaks long invoices over pages, repeating the table header, and keeps every line', async () => {
    const many = Array.from({ length: 90 }, (_, i) => ({
      glAccountCode: '4000',
      taxCode: 'STD',
      description: `Match ticket ${i + 1}`,
      netAmount: '10.00',
    }));
    const inv = await postInvoice(c, 'ACME', '0', { externalReference: 'LONG-1', lines: many });
    const { pages, lines } = extractPdfText((await pdfOf(c, inv.transactionId)).body);
    expect(pages.length).toBeGreaterThan(1);
    for (const [i, page] of pages.entries()) {
      expect(page).toContain('Description');
      expect(page).toContain(`Page ${i + 1} of ${pages.length}`);
    }
    for (let i = 1; i <= 90; i++) expect(lines).toContain(`Match ticket ${i}`);
    expect(inOrder(lines, ['Net total', '900.00', 'VAT total', '189.00', 'Total EUR', '1089.00'])).toBe(true);
  });

  it('keeps names outside the built-in font’s characters readable', async () => {
    await c.put('/v1/customers/ZOE', { name: 'Zoë Łódź €', creditTerms: { days: 0 } });
    const inv = await postInvoice(c, 'ZOE', '1.00');
    const { lines } = extractPdfText((await pdfOf(c, inv.transactionId)).body);
    expect(lines).toContain('Zoë Lódz €');
  });

  it('fits long names and references to their column, and prints the whole payment reference', async () => {
    const name =
      'The Very Long Named Supporters Association of the Northern Stand and Friends of the Club ' + 'X'.repeat(80);
    await c.put('/v1/customers/LONG', { name, creditTerms: { days: 30 } });
    const ref = 'R'.repeat(50);
    const inv = await postInvoice(c, 'LONG', '1.00', { externalReference: ref });
    const pdf = (await pdfOf(c, inv.transactionId)).body as Buffer;
    const { lines } = extractPdfText(pdf);
    // the name is shrunk, then cut; the reference in the header too, but the payment line has it whole
    expect(lines.some((l) => l.startsWith('The Very Long Named') && l.endsWith('…') && l.length < name.length)).toBe(
      true,
    );
    expect(lines).toContain(`Payment reference: ${ref}`);
    expect(lines.some((l) => /^R+…$/.test(l) || l === ref)).toBe(true);
  });

  it('answers 404 for an unknown id or another entity’s invoice, and renders a receipt', async () => {
    const inv = await postInvoice(c, 'ACME', '1.00');
    const foreign = await pdfOf(other, inv.transactionId);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('NOT_FOUND');
    const unknown = await pdfOf(c, 987654321);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
    const rc = await postReceipt(c, 'ACME', '1.21');
    const receipt = await pdfOf(c, rc.transactionId);
    expect(receipt.status).toBe(200);
    expect(extractPdfText(receipt.body).lines).toContain('RECEIPT');
    await expect(loadInvoiceDocument(t.db, entity, rc.transactionId)).rejects.toMatchObject({
      code: 'TRANSACTION_IS_NOT_AN_INVOICE',
    });
    expect((await c.get('/v1/transactions/abc/pdf')).status).toBe(400);
    expect((await t.request('GET', `/v1/transactions/${inv.transactionId}/pdf`)).status).toBe(401);
  });

  it('renders quickly (reported, not asserted)', async () => {
    const inv = await postInvoice(c, 'ACME', '0', { ...threeLines, externalReference: 'BENCH-1' });
    const doc = await loadInvoiceDocument(t.db, entity, inv.transactionId);
    for (let i = 0; i < 20; i++) await renderDocument(doc); // warm up
    const n = 300;
    let start = performance.now();
    for (let i = 0; i < n; i++) await renderDocument(doc);
    const layoutOnly = n / ((performance.now() - start) / 1000);
    start = performance.now();
    for (let i = 0; i < n; i++) await renderInvoicePdf(t.db, entity, inv.transactionId);
    const withDb = n / ((performance.now() - start) / 1000);
    console.log(
      `invoice PDF (3 lines): ${layoutOnly.toFixed(0)} PDFs/s rendering, ${withDb.toFixed(0)} PDFs/s with the database read (${t.db.kind})`,
    );
    expect(withDb).toBeGreaterThan(0);
  });
});
