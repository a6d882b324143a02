import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { postInvoice, postReceipt } from './helpers/ledger.ts';
import { ublSchemaDir, ublValidator } from './helpers/ubl-schema.ts';
import {
  type EInvoiceLine,
  type VatCategory,
  documentTotals,
  en16931TotalsProblems,
  vatBreakdown,
} from '../src/domain/e-invoice-totals.ts';
import { PEPPOL_CUSTOMIZATION_ID, PEPPOL_PROFILE_ID, xmlText } from '../src/ledger/ubl.ts';

let t: TestApp;
let c: Client;
let other: Client;
let validate: ((xml: string) => Promise<string[]>) | null = null;

beforeAll(async () => {
  const schemas = await ublSchemaDir();
  if ('dir' in schemas) validate = await ublValidator(schemas.dir);
  // A machine with neither the schemas nor the network skips only the XSD check (the EN 16931 rules
  // are still checked); LEDGERLINK_REQUIRE_UBL_XSD=1 makes that a failure instead.
  else if (process.env.LEDGERLINK_REQUIRE_UBL_XSD) throw new Error(`test/e-invoices.test.ts: ${schemas.missing}`);
  else console.warn(`test/e-invoices.test.ts: XSD validation SKIPPED: ${schemas.missing}`);

  t = await createTestApp();
  c = await t.entity('UBL', 'EUR', {
    standardTaxRate: '0.21',
    address: { street: 'Stadionlaan 1', postalCode: '9000', city: 'Gent', country: 'BE' },
    vatNumber: 'BE0123456789',
  });
  other = await t.entity('UBLOTHER', 'EUR');
  const customer = (code: string) =>
    c.put(`/v1/customers/${code}`, {
      name: `Acme ${code} & Sons`,
      address: { street: 'Kerkstraat 2', postalCode: '8000', city: 'Brugge', country: 'BE' },
      vatNumber: 'BE0987654321',
      creditTerms: { days: 30 },
    });
  expect((await customer('ACME')).status).toBe(201);
  expect((await customer('NOPEPPOL')).status).toBe(201);
  expect((await c.put('/v1/tax-codes/RED', { name: 'Reduced', rate: '0.06', glAccountCode: '2200' })).status).toBe(201);
  const settings = await c.put('/v1/settings/e-invoicing', { peppolId: '0208:0123456789' });
  expect(settings.status).toBe(200);
  const acme = await c.put('/v1/customers/ACME/e-invoicing', {
    peppolId: '0208:0987654321',
    buyerReference: 'CC-4410',
  });
  expect(acme.status).toBe(200);
  expect(acme.body).toEqual({ peppolId: '0208:0987654321', buyerReference: 'CC-4410' });
}, 180_000);
afterAll(async () => t?.close());

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  isArray: (name) => ['cac:TaxSubtotal', 'cac:InvoiceLine', 'cac:CreditNoteLine'].includes(name),
});

type Node = Record<string, any>;

async function ubl(client: Client, id: number) {
  const r = await client.get(`/v1/transactions/${id}/ubl`);
  return r;
}

/** The document parsed, after checking it against the UBL 2.1 schema. */
async function validDocument(id: number): Promise<{ root: Node; xml: string }> {
  const r = await ubl(c, id);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.headers['content-type']).toMatch(/^application\/xml/);
  const xml = (r.body as Buffer).toString('utf8');
  if (validate) expect(await validate(xml)).toEqual([]);
  const parsed = parser.parse(xml) as Node;
  const root = (parsed.Invoice ?? parsed.CreditNote) as Node;
  return { root, xml };
}

const minor = (n: Node) => BigInt(String(n['#text']).replace('.', ''));
const text = (n: unknown) => (typeof n === 'object' && n !== null ? String((n as Node)['#text']) : String(n));

/** Reads the lines and breakdown back from the XML and checks the EN 16931 totals rules on them. */
function totalsProblems(root: Node): string[] {
  const lines: EInvoiceLine[] = ((root['cac:InvoiceLine'] ?? root['cac:CreditNoteLine']) as Node[]).map((l) => {
    const cat = l['cac:Item']['cac:ClassifiedTaxCategory'];
    return {
      net: minor(l['cbc:LineExtensionAmount']),
      tax: 0n, // UBL carries VAT per category only
      category: cat['cbc:ID'] as VatCategory,
      rate: String(Number(cat['cbc:Percent'] ?? '0') / 100),
    };
  });
  const breakdown = (root['cac:TaxTotal']['cac:TaxSubtotal'] as Node[]).map((s) => ({
    category: s['cac:TaxCategory']['cbc:ID'] as VatCategory,
    rate: String(Number(s['cac:TaxCategory']['cbc:Percent'] ?? '0') / 100),
    taxable: minor(s['cbc:TaxableAmount']),
    tax: minor(s['cbc:TaxAmount']),
  }));
  const m = root['cac:LegalMonetaryTotal'];
  const totals = {
    lineExtension: minor(m['cbc:LineExtensionAmount']),
    taxExclusive: minor(m['cbc:TaxExclusiveAmount']),
    tax: minor(root['cac:TaxTotal']['cbc:TaxAmount']),
    taxInclusive: minor(m['cbc:TaxInclusiveAmount']),
    prepaid: m['cbc:PrepaidAmount'] ? minor(m['cbc:PrepaidAmount']) : 0n,
    payable: minor(m['cbc:PayableAmount']),
  };
  // Each category's taxable amount is the sum of its lines' nets (BR-S-08 and the like).
  for (const b of breakdown) {
    const sum = lines.filter((l) => l.category === b.category && l.rate === b.rate).reduce((a, l) => a + l.net, 0n);
    expect(sum, `taxable amount of ${b.category} ${b.rate}`).toBe(b.taxable);
  }
  return en16931TotalsProblems(lines, breakdown, totals, 100n);
}

const twoRates = {
  invoiceDate: '2026-11-01',
  externalReference: 'INS-2026-001',
  description: 'Season 2026-2027',
  lines: [
    { glAccountCode: '4000', taxCode: 'STD', description: 'Season ticket, stand A', netAmount: '200.00' },
    { glAccountCode: '4000', taxCode: 'STD', description: 'Parking', netAmount: '100.00' },
    { glAccountCode: '4000', taxCode: 'RED', description: 'Programme booklets', netAmount: '50.00' },
    { glAccountCode: '4000', taxCode: 'STD', description: 'Loyalty discount', netAmount: '-10.00' },
  ],
};

describe('GET /v1/transactions/{id}/ubl', () => {
  it('writes an invoice with two VAT rates as a valid Peppol BIS 3.0 UBL invoice', async () => {
    const inv = await postInvoice(c, 'ACME', '0', twoRates);
    expect(inv.grossAmount).toBe('403.90');
    const { root, xml } = await validDocument(inv.transactionId);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    expect(root['@xmlns']).toBe('urn:oasis:names:specification:ubl:schema:xsd:Invoice-2');
    expect(root['cbc:CustomizationID']).toBe(PEPPOL_CUSTOMIZATION_ID);
    expect(root['cbc:ProfileID']).toBe(PEPPOL_PROFILE_ID);
    expect(PEPPOL_CUSTOMIZATION_ID).toBe('urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0');
    expect(PEPPOL_PROFILE_ID).toBe('urn:fdc:peppol.eu:2017:poacc:billing:01:1.0');
    expect(root['cbc:ID']).toBe(String(inv.number));
    expect(root['cbc:IssueDate']).toBe('2026-11-01');
    expect(root['cbc:DueDate']).toBe('2026-12-01');
    expect(root['cbc:InvoiceTypeCode']).toBe('380');
    expect(root['cbc:DocumentCurrencyCode']).toBe('EUR');
    expect(root['cbc:BuyerReference']).toBe('CC-4410');
    expect(root['cbc:Note']).toBe('Season 2026-2027');

    const seller = root['cac:AccountingSupplierParty']['cac:Party'];
    expect(seller['cbc:EndpointID']).toEqual({ '#text': '0123456789', '@schemeID': '0208' });
    expect(seller['cac:PostalAddress']).toEqual({
      'cbc:StreetName': 'Stadionlaan 1',
      'cbc:CityName': 'Gent',
      'cbc:PostalZone': '9000',
      'cac:Country': { 'cbc:IdentificationCode': 'BE' },
    });
    expect(seller['cac:PartyTaxScheme']['cbc:CompanyID']).toBe('BE0123456789');
    expect(seller['cac:PartyLegalEntity']['cbc:RegistrationName']).toBe('Entity UBL');
    const buyer = root['cac:AccountingCustomerParty']['cac:Party'];
    expect(buyer['cbc:EndpointID']).toEqual({ '#text': '0987654321', '@schemeID': '0208' });
    expect(buyer['cac:PartyName']['cbc:Name']).toBe('Acme ACME & Sons');
    expect(xml).toContain('<cbc:Name>Acme ACME &amp; Sons</cbc:Name>');
    expect(buyer['cac:PartyTaxScheme']['cbc:CompanyID']).toBe('BE0987654321');

    // VAT per category and rate, lowest rate first; the discount line reduces the 21% base.
    const subtotals = root['cac:TaxTotal']['cac:TaxSubtotal'] as Node[];
    expect(
      subtotals.map((s) => [
        s['cac:TaxCategory']['cbc:ID'],
        s['cac:TaxCategory']['cbc:Percent'],
        text(s['cbc:TaxableAmount']),
        text(s['cbc:TaxAmount']),
      ]),
    ).toEqual([
      ['S', '6', '50.00', '3.00'],
      ['S', '21', '290.00', '60.90'],
    ]);
    expect(subtotals[0]!['cbc:TaxAmount']['@currencyID']).toBe('EUR');
    expect(text(root['cac:TaxTotal']['cbc:TaxAmount'])).toBe('63.90');
    const totals = root['cac:LegalMonetaryTotal'];
    expect({
      line: text(totals['cbc:LineExtensionAmount']),
      exclusive: text(totals['cbc:TaxExclusiveAmount']),
      inclusive: text(totals['cbc:TaxInclusiveAmount']),
      payable: text(totals['cbc:PayableAmount']),
    }).toEqual({ line: '340.00', exclusive: '340.00', inclusive: '403.90', payable: '403.90' });

    const lines = root['cac:InvoiceLine'] as Node[];
    expect(
      lines.map((l) => [
        l['cbc:ID'],
        text(l['cbc:InvoicedQuantity']),
        text(l['cbc:LineExtensionAmount']),
        l['cac:Item']['cbc:Name'],
        l['cac:Item']['cac:ClassifiedTaxCategory']['cbc:Percent'],
        text(l['cac:Price']['cbc:PriceAmount']),
      ]),
    ).toEqual([
      ['1', '1', '200.00', 'Season ticket, stand A', '21', '200.00'],
      ['2', '1', '100.00', 'Parking', '21', '100.00'],
      ['3', '1', '50.00', 'Programme booklets', '6', '50.00'],
      // BR-27: never a negative price, so a discount is a negative quantity.
      ['4', '-1', '-10.00', 'Loyalty discount', '21', '10.00'],
    ]);
    expect(lines[0]!['cbc:InvoicedQuantity']['@unitCode']).toBe('C62');
    expect(totalsProblems(root)).toEqual([]);
    // The schema check itself can fail: the same document with its elements out of order does.
    if (validate) {
      const swapped = xml.replace(/(<cbc:ProfileID>.*<\/cbc:ProfileID>)\s*(<cbc:ID>.*<\/cbc:ID>)/, '$2$1');
      expect(swapped).not.toBe(xml);
      expect((await validate(swapped)).join('\n')).toContain('ProfileID');
    }
  });

  it('writes a credit note as a UBL CreditNote naming the invoice it credits', async () => {
    const inv = await postInvoice(c, 'ACME', '0', { ...twoRates, externalReference: 'CREDITED-1' });
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      creditNoteDate: '2026-11-10',
      externalReference: 'CN-1',
    });
    expect(cn.status).toBe(201);
    const { root } = await validDocument(cn.body.transactionId);
    expect(root['@xmlns']).toBe('urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2');
    expect(root['cbc:CreditNoteTypeCode']).toBe('381');
    expect(root['cbc:CustomizationID']).toBe(PEPPOL_CUSTOMIZATION_ID);
    expect(root['cbc:IssueDate']).toBe('2026-11-10');
    expect(root['cac:BillingReference']['cac:InvoiceDocumentReference']['cbc:ID']).toBe(String(inv.number));
    expect(root['cac:PaymentTerms']['cbc:Note']).toBe(`Credit note for invoice ${inv.number}`);
    const lines = root['cac:CreditNoteLine'] as Node[];
    expect(lines.map((l) => [text(l['cbc:CreditedQuantity']), text(l['cbc:LineExtensionAmount'])])).toEqual([
      ['1', '200.00'],
      ['1', '100.00'],
      ['1', '50.00'],
      ['-1', '-10.00'],
    ]);
    expect(text(root['cac:LegalMonetaryTotal']['cbc:PayableAmount'])).toBe('403.90');
    expect(totalsProblems(root)).toEqual([]);
  });

  it('refuses, listing what is missing, when the buyer has no electronic address or reference', async () => {
    const inv = await postInvoice(c, 'NOPEPPOL', '100.00');
    const r = await ubl(c, inv.transactionId);
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('EINVOICE_INCOMPLETE');
    expect(r.body.error.details.map((d: { field: string }) => d.field)).toEqual([
      'customer.peppolId',
      'customer.buyerReference',
    ]);
    expect(r.body.error.message).toContain('buyer electronic address, BT-49');
    expect(r.body.error.message).toContain('PUT /v1/customers/NOPEPPOL/e-invoicing');

    // With the address but still no reference, only the reference is missing.
    expect((await c.put('/v1/customers/NOPEPPOL/e-invoicing', { peppolId: '9925:BE0987654321' })).status).toBe(200);
    const again = await ubl(c, inv.transactionId);
    expect(again.status).toBe(422);
    expect(again.body.error.details).toEqual([
      {
        field: 'customer.buyerReference',
        message:
          'the buyer reference of customer NOPEPPOL (BT-10, required by PEPPOL-EN16931-R003): PUT /v1/customers/NOPEPPOL/e-invoicing',
      },
    ]);
    expect((await c.put('/v1/customers/NOPEPPOL/e-invoicing', { peppolId: null })).status).toBe(200);
  });

  it("answers NOT_FOUND for another entity's transaction and refuses a receipt", async () => {
    const inv = await postInvoice(c, 'ACME', '10.00');
    const r = await ubl(other, inv.transactionId);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('NOT_FOUND');
    const missing = await ubl(c, 999_999_999);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');

    const rec = await postReceipt(c, 'ACME', '5.00');
    const refused = await ubl(c, rec.transactionId);
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('TRANSACTION_IS_NOT_AN_INVOICE');
    expect(refused.body.error.details).toEqual([
      { field: 'params.id', message: 'a SR, not an invoice or credit note' },
    ]);
    expect(refused.body.error.message).toContain('are e-invoices');
  });

  it('shows an exempt category with its reason, and refuses one without a reason', async () => {
    // A rate above 0 cannot be exempt; nothing changes.
    const wrong = await c.put('/v1/tax-codes/STD', { vatCategory: 'E' });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.details).toEqual([
      { field: 'body.vatCategory', message: 'category E needs a rate of 0, not 0.21' },
    ]);
    expect((await c.get('/v1/tax-codes/STD')).body.vatCategory).toBeNull();

    const ex = await c.put('/v1/tax-codes/EX', { name: 'Exempt', rate: '0', glAccountCode: '2200', vatCategory: 'E' });
    expect(ex.status).toBe(201);
    expect(ex.body).toMatchObject({ vatCategory: 'E', vatExemptionReason: null, vatExemptionReasonCode: null });
    const inv = await postInvoice(c, 'ACME', '0', {
      lines: [
        { glAccountCode: '4000', taxCode: 'EX', description: 'Medical training', netAmount: '80.00' },
        { glAccountCode: '4000', taxCode: 'STD', description: 'Catering', netAmount: '20.00' },
      ],
    });
    const incomplete = await ubl(c, inv.transactionId);
    expect(incomplete.status).toBe(422);
    expect(incomplete.body.error.code).toBe('EINVOICE_INCOMPLETE');
    expect(incomplete.body.error.details).toEqual([
      {
        field: 'taxCodes.EX.vatExemptionReason',
        message: 'category E needs an exemption reason (BR-E-10): PUT /v1/tax-codes/EX',
      },
    ]);

    const reason = await c.put('/v1/tax-codes/EX', {
      vatExemptionReason: 'Exempt under Article 132(1)(i) of Directive 2006/112/EC',
      vatExemptionReasonCode: 'VATEX-EU-132-1I',
    });
    expect(reason.status).toBe(200);
    const { root } = await validDocument(inv.transactionId);
    const subtotals = root['cac:TaxTotal']['cac:TaxSubtotal'] as Node[];
    expect(
      subtotals.map((s) => [s['cac:TaxCategory']['cbc:ID'], text(s['cbc:TaxableAmount']), text(s['cbc:TaxAmount'])]),
    ).toEqual([
      ['S', '20.00', '4.20'],
      ['E', '80.00', '0.00'],
    ]);
    expect(subtotals[1]!['cac:TaxCategory']).toEqual({
      'cbc:ID': 'E',
      'cbc:Percent': '0',
      'cbc:TaxExemptionReasonCode': 'VATEX-EU-132-1I',
      'cbc:TaxExemptionReason': 'Exempt under Article 132(1)(i) of Directive 2006/112/EC',
      'cac:TaxScheme': { 'cbc:ID': 'VAT' },
    });
    expect(totalsProblems(root)).toEqual([]);
  });

  it('writes every VAT category with its exemption code, and keeps "not subject to VAT" on its own', async () => {
    const codes: [string, string][] = [
      ['ZR', 'Z'],
      ['RC', 'AE'],
      ['IC', 'K'],
      ['EXP', 'G'],
      ['NS', 'O'],
    ];
    for (const [code, vatCategory] of codes) {
      const r = await c.put(`/v1/tax-codes/${code}`, { name: code, rate: '0', glAccountCode: '2200', vatCategory });
      expect(r.status, code).toBe(201);
    }
    const forcedS = await c.put('/v1/tax-codes/ZR', { vatCategory: 'S' });
    expect(forcedS.status).toBe(400);
    expect(forcedS.body.error.details).toEqual([
      { field: 'body.vatCategory', message: 'category S (standard rate) needs a rate above 0' },
    ]);
    const line = (taxCode: string, netAmount: string) => ({
      glAccountCode: '4000',
      taxCode,
      description: `Supply ${taxCode}`,
      netAmount,
    });
    const mixed = await postInvoice(c, 'ACME', '0', {
      lines: [
        line('STD', '100.00'),
        line('ZR', '10.00'),
        line('RC', '20.00'),
        line('IC', '30.00'),
        line('EXP', '40.00'),
      ],
    });
    const { root } = await validDocument(mixed.transactionId);
    expect(
      (root['cac:TaxTotal']['cac:TaxSubtotal'] as Node[]).map((s) => [
        s['cac:TaxCategory']['cbc:ID'],
        s['cac:TaxCategory']['cbc:Percent'],
        s['cac:TaxCategory']['cbc:TaxExemptionReasonCode'],
        text(s['cbc:TaxableAmount']),
        text(s['cbc:TaxAmount']),
      ]),
    ).toEqual([
      ['S', '21', undefined, '100.00', '21.00'],
      ['Z', '0', undefined, '10.00', '0.00'],
      ['AE', '0', 'VATEX-EU-AE', '20.00', '0.00'],
      ['K', '0', 'VATEX-EU-IC', '30.00', '0.00'],
      ['G', '0', 'VATEX-EU-G', '40.00', '0.00'],
    ]);
    // BR-IC-11/12: an intra-community supply says where and when it was delivered.
    expect(root['cac:Delivery']).toEqual({
      'cbc:ActualDeliveryDate': '2026-11-01',
      'cac:DeliveryLocation': { 'cac:Address': { 'cac:Country': { 'cbc:IdentificationCode': 'BE' } } },
    });
    expect(totalsProblems(root)).toEqual([]);

    // Not subject to VAT: no VAT numbers and no rate (BR-O-02, BR-O-05); the seller is identified
    // by its registration (BR-CO-26).
    const outside = await postInvoice(c, 'ACME', '0', { lines: [line('NS', '75.00')] });
    const o = (await validDocument(outside.transactionId)).root;
    const seller = o['cac:AccountingSupplierParty']['cac:Party'];
    expect(seller['cac:PartyTaxScheme']).toBeUndefined();
    expect(o['cac:AccountingCustomerParty']['cac:Party']['cac:PartyTaxScheme']).toBeUndefined();
    expect(seller['cac:PartyLegalEntity']).toEqual({
      'cbc:RegistrationName': 'Entity UBL',
      'cbc:CompanyID': { '#text': '0123456789', '@schemeID': '0208' },
    });
    expect(o['cac:TaxTotal']['cac:TaxSubtotal'][0]['cac:TaxCategory']).toEqual({
      'cbc:ID': 'O',
      'cbc:TaxExemptionReasonCode': 'VATEX-EU-O',
      'cac:TaxScheme': { 'cbc:ID': 'VAT' },
    });
    expect(o['cac:InvoiceLine'][0]['cac:Item']['cac:ClassifiedTaxCategory']['cbc:Percent']).toBeUndefined();

    const both = await postInvoice(c, 'ACME', '0', { lines: [line('NS', '75.00'), line('STD', '10.00')] });
    const refused = await ubl(c, both.transactionId);
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('EINVOICE_INCOMPLETE');
    expect(refused.body.error.details).toEqual([
      {
        field: 'totals',
        message: 'BR-O-11: a document with category O (not subject to VAT) may hold no other category',
      },
    ]);
  });

  it('names a missing seller address and country instead of emitting an invalid document', async () => {
    const bare = await t.entity('UBLBARE', 'EUR');
    expect((await bare.put('/v1/customers/C1', { name: 'C1', creditTerms: { days: 30 } })).status).toBe(201);
    const inv = await postInvoice(bare, 'C1', '10.00');
    const r = await ubl(bare, inv.transactionId);
    expect(r.status).toBe(422);
    expect(r.body.error.details.map((d: { field: string }) => d.field)).toEqual([
      'settings.peppolId',
      'customer.peppolId',
      'customer.buyerReference',
      'entity.address.country',
      'customer.address.country',
      'entity.vatNumber',
    ]);
  });
});

describe('e-invoicing settings', () => {
  it('refuses a malformed Peppol id and leaves the settings as they were', async () => {
    for (const peppolId of ['0123456789', '0208:', '0208:01 23', 'x:1']) {
      const r = await c.put('/v1/settings/e-invoicing', { peppolId });
      expect(r.status, peppolId).toBe(400);
      expect(r.body.error.details[0].field).toBe('body.peppolId');
    }
    expect((await c.get('/v1/settings/e-invoicing')).body).toEqual({ peppolId: '0208:0123456789' });
    const blank = await c.put('/v1/customers/ACME/e-invoicing', { buyerReference: '   ' });
    expect(blank.status).toBe(400);
    expect(blank.body.error.details[0].field).toBe('body.buyerReference');
    expect((await c.get('/v1/customers/ACME/e-invoicing')).body).toEqual({
      peppolId: '0208:0987654321',
      buyerReference: 'CC-4410',
    });
    expect((await c.get('/v1/customers/NOSUCH/e-invoicing')).status).toBe(404);
    expect((await other.get('/v1/customers/ACME/e-invoicing')).status).toBe(404);
    const r = await c.put('/v1/customers/NOSUCH/e-invoicing', { buyerReference: 'X' });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('NOT_FOUND');
  });

  it('records changes in the audit trail', async () => {
    const r = await c.get('/v1/audit?objectType=customer&objectId=ACME');
    expect(r.status).toBe(200);
    const actions = JSON.stringify(r.body);
    expect(actions).toContain('0208:0987654321');
  });
});

describe('XML text', () => {
  it('drops the characters XML 1.0 cannot hold and keeps the rest', () => {
    expect(xmlText('Caf\u00e9 \u0001\u0008na\uFFFEme \t\u{1F600} & <b>')).toBe('Caf\u00e9 name \t\u{1F600} & <b>');
  });
});

describe('EN 16931 totals rules', () => {
  const lines: EInvoiceLine[] = [
    { net: 20000n, tax: 4200n, category: 'S', rate: '0.21' },
    { net: 5000n, tax: 300n, category: 'S', rate: '0.06' },
    { net: -1000n, tax: -210n, category: 'S', rate: '0.21' },
  ];

  it('holds for totals computed from the lines, with or without a prepaid amount', () => {
    const breakdown = vatBreakdown(lines);
    expect(breakdown).toEqual([
      { category: 'S', rate: '0.06', taxable: 5000n, tax: 300n },
      { category: 'S', rate: '0.21', taxable: 19000n, tax: 3990n },
    ]);
    expect(en16931TotalsProblems(lines, breakdown, documentTotals(lines), 100n)).toEqual([]);
    const prepaid = documentTotals(lines, 10000n);
    expect(prepaid.payable).toBe(24000n + 4290n - 10000n);
    expect(en16931TotalsProblems(lines, breakdown, prepaid, 100n)).toEqual([]);
  });

  it('catches totals that break a rule', () => {
    const breakdown = vatBreakdown(lines);
    const good = documentTotals(lines);
    const rules = (totals: typeof good, b = breakdown) =>
      en16931TotalsProblems(lines, b, totals, 100n).map((p) => p.split(':')[0]);
    expect(rules({ ...good, lineExtension: good.lineExtension + 1n })).toEqual(['BR-CO-10', 'BR-CO-13']);
    expect(rules({ ...good, taxInclusive: good.taxInclusive + 1n })).toEqual(['BR-CO-15', 'BR-CO-16']);
    expect(rules({ ...good, payable: good.payable - 1n })).toEqual(['BR-CO-16']);
    expect(rules({ ...good, tax: good.tax + 1n })).toEqual(['BR-CO-14', 'BR-CO-15']);
    // A category's VAT a whole unit away from taxable × rate; 99 cents away is within the tolerance.
    const off = (cents: bigint) => breakdown.map((b, i) => (i === 1 ? { ...b, tax: b.tax + cents } : b));
    const shifted = (cents: bigint) => ({
      ...good,
      tax: good.tax + cents,
      taxInclusive: good.taxInclusive + cents,
      payable: good.payable + cents,
    });
    expect(rules(shifted(100n), off(100n))).toEqual(['BR-CO-17']);
    expect(rules(shifted(99n), off(99n))).toEqual([]);
    // Categories and rates that do not go together.
    const zeroWithVat = [{ category: 'Z' as const, rate: '0', taxable: 1000n, tax: 10n }];
    const z = { lineExtension: 1000n, taxExclusive: 1000n, tax: 10n, taxInclusive: 1010n, prepaid: 0n, payable: 1010n };
    expect(
      en16931TotalsProblems([{ net: 1000n, tax: 10n, category: 'Z', rate: '0' }], zeroWithVat, z, 100n).map(
        (p) => p.split(':')[0],
      ),
    ).toEqual(['BR-Z-09']);
  });
});
