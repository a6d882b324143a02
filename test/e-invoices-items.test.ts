import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { ublSchemaDir, ublValidator } from './helpers/ubl-schema.ts';
import { Dec } from '../src/domain/money.ts';
import { en16931LineProblems } from '../src/domain/e-invoice-totals.ts';

/**
 * The e-invoice of an item invoice: each line's quantity and net price (with the line discount as
 * a price discount) such that quantity × price is the line net (PEPPOL-EN16931-R120), and the
 * payment means from the entity's bank details. Checked against the UBL 2.1 schema.
 */

let t: TestApp;
let c: Client;
let validate: ((xml: string) => Promise<string[]>) | null = null;

beforeAll(async () => {
  const schemas = await ublSchemaDir();
  if ('dir' in schemas) validate = await ublValidator(schemas.dir);
  else if (process.env.LEDGERLINK_REQUIRE_UBL_XSD) throw new Error(`test/e-invoices-items.test.ts: ${schemas.missing}`);
  else console.warn(`test/e-invoices-items.test.ts: XSD validation SKIPPED: ${schemas.missing}`);

  t = await createTestApp();
  c = await t.entity('UBLITEMS', 'EUR', {
    standardTaxRate: '0.21',
    address: { street: 'Stadionlaan 1', postalCode: '9000', city: 'Gent', country: 'BE' },
    vatNumber: 'BE0123456789',
  });
  const customer = await c.put('/v1/customers/ACME', {
    name: 'Acme',
    address: { street: 'Kerkstraat 2', postalCode: '8000', city: 'Brugge', country: 'BE' },
    vatNumber: 'BE0987654321',
    creditTerms: { days: 30 },
  });
  expect(customer.status).toBe(201);
  expect((await c.put('/v1/settings/e-invoicing', { peppolId: '0208:0123456789' })).status).toBe(200);
  const acme = await c.put('/v1/customers/ACME/e-invoicing', { peppolId: '0208:0987654321', buyerReference: 'CC-1' });
  expect(acme.status).toBe(200);
  const widget = await c.put('/v1/items/WIDGET', {
    description: 'Widget',
    unitPrice: '33.3333',
    glAccountCode: '4000',
    taxCode: 'STD',
  });
  expect(widget.status, JSON.stringify(widget.body)).toBe(201);
}, 180_000);
afterAll(async () => t?.close());

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  isArray: (name) => ['cac:TaxSubtotal', 'cac:InvoiceLine', 'cac:CreditNoteLine'].includes(name),
});
type Node = Record<string, any>;
const text = (n: unknown) => (typeof n === 'object' && n !== null ? String((n as Node)['#text']) : String(n));

async function postItemDocument(base: string, body: Record<string, unknown>): Promise<number> {
  const draft = await c.post(base, body);
  expect(draft.status, JSON.stringify(draft.body)).toBe(201);
  const posted = await c.post(`${base}/${draft.body.draftId}/post`, {});
  expect(posted.status, JSON.stringify(posted.body)).toBe(201);
  return posted.body.transactionId;
}

async function validDocument(id: number): Promise<{ root: Node; xml: string }> {
  const r = await c.get(`/v1/transactions/${id}/ubl`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const xml = (r.body as Buffer).toString('utf8');
  if (validate) expect(await validate(xml)).toEqual([]);
  const parsed = parser.parse(xml) as Node;
  return { root: (parsed.Invoice ?? parsed.CreditNote) as Node, xml };
}

/** Each line as stated in the XML: quantity, unit code, net, net price, gross price and price discount. */
function statedLines(root: Node) {
  const lines = (root['cac:InvoiceLine'] ?? root['cac:CreditNoteLine']) as Node[];
  return lines.map((l) => {
    const q = l['cbc:InvoicedQuantity'] ?? l['cbc:CreditedQuantity'];
    const price = l['cac:Price'];
    const ac = price['cac:AllowanceCharge'];
    return {
      quantity: text(q),
      unitCode: q['@unitCode'],
      lineExtension: text(l['cbc:LineExtensionAmount']),
      netPrice: text(price['cbc:PriceAmount']),
      ...(price['cbc:BaseQuantity'] ? { baseQuantity: text(price['cbc:BaseQuantity']) } : {}),
      grossPrice: ac ? text(ac['cbc:BaseAmount']) : null,
      priceDiscount: ac ? text(ac['cbc:Amount']) : null,
      chargeIndicator: ac ? ac['cbc:ChargeIndicator'] : null,
    };
  });
}

const invoiceBody = {
  customerCode: 'ACME',
  date: '2026-11-01',
  externalReference: 'SO-7',
  lines: [
    { itemCode: 'WIDGET', quantity: '3', discountRate: '0.1' },
    { description: 'Consulting hours', quantity: '2.5', unitPrice: '80', glAccountCode: '4000', taxCode: 'STD' },
    { description: 'Voucher', quantity: '1', unitPrice: '-10', glAccountCode: '4000', taxCode: 'STD' },
  ],
};

describe('UBL of item documents', () => {
  it('states each item line as quantity × net price, the discount as a price discount, valid to the schema', async () => {
    const id = await postItemDocument('/v1/sales/invoices', invoiceBody);
    const { root } = await validDocument(id);
    const lines = statedLines(root);
    expect(lines).toEqual([
      // 3 × 33.3333 less 10 % = 89.99991 → 90.00: the net price is 29.99997, not 33.3333 nor 30.
      {
        quantity: '3',
        unitCode: 'C62',
        lineExtension: '90.00',
        netPrice: '29.99997',
        grossPrice: '33.3333',
        priceDiscount: '3.33333',
        chargeIndicator: 'false',
      },
      {
        quantity: '2.5',
        unitCode: 'C62',
        lineExtension: '200.00',
        netPrice: '80.00',
        grossPrice: null,
        priceDiscount: null,
        chargeIndicator: null,
      },
      // BR-27: the price is never negative; the voucher is minus one at 10.00.
      {
        quantity: '-1',
        unitCode: 'C62',
        lineExtension: '-10.00',
        netPrice: '10.00',
        grossPrice: null,
        priceDiscount: null,
        chargeIndicator: null,
      },
    ]);
    for (const l of lines) {
      // R120 by hand: quantity × price rounded to 2 decimals is the line net.
      expect(new Dec(l.quantity).mul(l.netPrice).toFixed(2)).toBe(l.lineExtension);
      expect(en16931LineProblems(l)).toEqual([]);
    }
    expect(text(root['cac:LegalMonetaryTotal']['cbc:LineExtensionAmount'])).toBe('280.00');
  });

  it('keeps a batch line at quantity 1', async () => {
    const r = await c.post('/v1/sales/batch-invoices', {
      customerCode: 'ACME',
      invoiceDate: '2026-11-02',
      lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '12.34' }],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const { root } = await validDocument(r.body.transactionId);
    expect(statedLines(root)).toMatchObject([{ quantity: '1', lineExtension: '12.34', netPrice: '12.34' }]);
  });

  it('states an item credit note with CreditedQuantity and no payment means', async () => {
    const id = await postItemDocument('/v1/sales/credit-notes/drafts', {
      customerCode: 'ACME',
      date: '2026-11-03',
      lines: [{ itemCode: 'WIDGET', quantity: '2', discountRate: '0.25' }],
    });
    const { root } = await validDocument(id);
    expect(root['cbc:CreditNoteTypeCode']).toBe('381');
    // 2 × 33.3333 less 25 % = 49.99995 → 50.00.
    expect(statedLines(root)).toMatchObject([
      {
        quantity: '2',
        lineExtension: '50.00',
        netPrice: '24.999975',
        grossPrice: '33.3333',
        priceDiscount: '8.333325',
      },
    ]);
    expect(root['cac:PaymentMeans']).toBeUndefined();
  });
});

describe('payment means from the bank details', () => {
  it('has none without an IBAN (BR-61 wants the account on a credit transfer)', async () => {
    const id = await postItemDocument('/v1/sales/invoices', { ...invoiceBody, externalReference: 'SO-8' });
    const { root } = await validDocument(id);
    expect(root['cac:PaymentMeans']).toBeUndefined();
  });

  it('a SEPA credit transfer (58) to the IBAN, with the account name, the BIC and the payment reference', async () => {
    const branding = await c.put('/v1/settings', {
      branding: { iban: 'BE71 0961 2345 6769', bic: 'GKCCBEBB', bankName: 'Belfius', bankAccountName: 'UBL Items NV' },
    });
    expect(branding.status, JSON.stringify(branding.body)).toBe(200);
    const id = await postItemDocument('/v1/sales/invoices', { ...invoiceBody, externalReference: 'SO-9' });
    const { root, xml } = await validDocument(id);
    expect(root['cac:PaymentMeans']).toEqual({
      'cbc:PaymentMeansCode': '58',
      'cbc:PaymentID': 'SO-9',
      'cac:PayeeFinancialAccount': {
        'cbc:ID': 'BE71096123456769',
        'cbc:Name': 'UBL Items NV',
        'cac:FinancialInstitutionBranch': { 'cbc:ID': 'GKCCBEBB' },
      },
    });
    // The schema's order: payment means after the delivery, before the payment terms.
    expect(xml.indexOf('<cac:PaymentMeans>')).toBeLessThan(xml.indexOf('<cac:PaymentTerms>'));
  });

  it('a credit transfer (30) to an IBAN outside SEPA, without the parts not given', async () => {
    const branding = await c.put('/v1/settings', {
      branding: { iban: 'TR330006100519786457841326', bic: null, bankAccountName: null },
    });
    expect(branding.status, JSON.stringify(branding.body)).toBe(200);
    const id = await postItemDocument('/v1/sales/invoices', { ...invoiceBody, externalReference: 'SO-10' });
    const { root } = await validDocument(id);
    expect(root['cac:PaymentMeans']).toMatchObject({
      'cbc:PaymentMeansCode': '30',
      'cac:PayeeFinancialAccount': { 'cbc:ID': 'TR330006100519786457841326' },
    });
    expect(Object.keys(root['cac:PaymentMeans']['cac:PayeeFinancialAccount'])).toEqual(['cbc:ID']);
  });
});
