import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { postInvoice, postReceipt } from './helpers/ledger.ts';
import { extractPdfText, inOrder } from './helpers/pdf-text.ts';
import { makeJpeg, makePng } from './helpers/images.ts';

let t: TestApp;
let c: Client;
let other: Client;

const LOGO = makePng(40, 20);

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('DOCS', 'EUR', {
    standardTaxRate: '0.21',
    address: { street: 'Old Street 1', postalCode: '1000', city: 'Brussel', country: 'BE' },
    vatNumber: 'BE0000000097',
  });
  other = await t.entity('DOCSOTHER', 'EUR');
  expect(
    (
      await c.put('/v1/customers/ACME', {
        name: 'Acme Supporters Club',
        address: { street: 'Kerkstraat 2', postalCode: '8000', city: 'Brugge', country: 'BE' },
        vatNumber: 'BE0987654321',
        creditTerms: { days: 30 },
      })
    ).status,
  ).toBe(201);
  expect((await c.put('/v1/tax-codes/RED', { name: 'Reduced', rate: '0.06', glAccountCode: '2200' })).status).toBe(201);
});
afterAll(async () => t.close());

const NO_BRANDING = {
  companyName: null,
  address: null,
  vatNumber: null,
  logo: null,
  bankName: null,
  bankAccountName: null,
  iban: null,
  bic: null,
  footer: null,
};

async function brandingRows(entityId: string) {
  const { rows } = await t.db.query(`SELECT * FROM entity_branding WHERE entity_id = $1`, [entityId]);
  return rows;
}

describe('branding in settings', () => {
  it('starts empty, changes only the fields sent, and clears a field with null', async () => {
    const e = await t.entity('BRAND1', 'EUR');
    expect((await e.get('/v1/settings')).body.branding).toEqual(NO_BRANDING);

    const put = await e.put('/v1/settings', {
      branding: {
        companyName: 'Harbour Sports Ltd',
        address: { street: 'Quay 5', postalCode: '2000', city: 'Antwerpen', country: 'BE' },
        vatNumber: 'BE0123456749',
        iban: 'be71 0961 2345 6769',
        bic: 'gkccbebb',
        bankName: 'Belfius',
        bankAccountName: 'Harbour Sports Ltd',
        footer: 'Registered in Antwerpen, RPR 0123.456.749',
        logo: LOGO.toString('base64'),
      },
    });
    expect(put.status).toBe(200);
    expect(put.body.branding).toEqual({
      companyName: 'Harbour Sports Ltd',
      address: { street: 'Quay 5', postalCode: '2000', city: 'Antwerpen', country: 'BE' },
      vatNumber: 'BE0123456749',
      logo: {
        contentType: 'image/png',
        size: LOGO.length,
        sha256: (await import('node:crypto')).createHash('sha256').update(LOGO).digest('hex'),
      },
      bankName: 'Belfius',
      bankAccountName: 'Harbour Sports Ltd',
      iban: 'BE71096123456769',
      bic: 'GKCCBEBB',
      footer: 'Registered in Antwerpen, RPR 0123.456.749',
    });
    const stored = await brandingRows(e.entityId);
    expect(Buffer.from(stored[0]!.logo as Uint8Array).equals(LOGO)).toBe(true);

    // Another setting, or an empty branding, leaves the branding alone.
    const other1 = await e.put('/v1/settings', { vatTolerance: '2' });
    expect(other1.body.branding).toEqual(put.body.branding);
    expect((await e.put('/v1/settings', { branding: {} })).body.branding).toEqual(put.body.branding);

    // One field changes; null clears one (the logo too).
    const changed = await e.put('/v1/settings', { branding: { footer: null, logo: null, bankName: 'KBC' } });
    expect(changed.body.branding).toEqual({ ...put.body.branding, footer: null, logo: null, bankName: 'KBC' });
    expect((await e.get('/v1/settings')).body.branding).toEqual(changed.body.branding);
    // Blank text clears like null.
    const blank = await e.put('/v1/settings', { branding: { iban: '  ', bic: ' ', companyName: '', logo: '' } });
    expect(blank.status).toBe(200);
    expect(blank.body.branding).toEqual({ ...changed.body.branding, iban: null, bic: null, companyName: null });

    const audit = await t.db.query<{ before: any; after: any }>(
      `SELECT before, after FROM audit_log WHERE entity_id = $1 AND action = 'settings.updated' ORDER BY id`,
      [e.entityId],
    );
    const last = audit.rows[audit.rows.length - 2]!;
    expect(last.before.branding).toMatchObject({
      footer: 'Registered in Antwerpen, RPR 0123.456.749',
      bankName: 'Belfius',
    });
    expect(last.after.branding).toMatchObject({ footer: null, bankName: 'KBC', logo: null });
  });

  it('takes a JPEG logo, told by content', async () => {
    const e = await t.entity('BRAND2', 'EUR');
    const jpeg = makeJpeg(120, 40);
    const r = await e.put('/v1/settings', { branding: { logo: `data:image/png;base64,${jpeg.toString('base64')}` } });
    expect(r.status).toBe(200);
    expect(r.body.branding.logo).toMatchObject({ contentType: 'image/jpeg', size: jpeg.length });
  });

  it('refuses a bad logo, IBAN or BIC with a stable code and field, and changes nothing', async () => {
    const e = await t.entity('BRAND3', 'EUR');
    await e.put('/v1/settings', { branding: { companyName: 'Kept Ltd' } });
    const before = await brandingRows(e.entityId);
    const pdf = Buffer.from('%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n');
    const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
    const cases: [unknown, number, string, string][] = [
      [{ logo: pdf.toString('base64') }, 422, 'LOGO_INVALID', 'body.branding.logo'],
      [{ logo: gif.toString('base64') }, 422, 'LOGO_INVALID', 'body.branding.logo'],
      [{ logo: 'not base64 at all!' }, 422, 'LOGO_INVALID', 'body.branding.logo'],
      [
        { logo: makePng(4, 4, { pixelData: Buffer.from('broken') }).toString('base64') },
        422,
        'LOGO_INVALID',
        'body.branding.logo',
      ],
      [{ logo: makePng(4, 4, { filter: 7 }).toString('base64') }, 422, 'LOGO_INVALID', 'body.branding.logo'],
      [
        { logo: Buffer.concat([LOGO, Buffer.alloc(1024 * 1024)]).toString('base64') },
        422,
        'LOGO_INVALID',
        'body.branding.logo',
      ],
      [{ iban: 'BE71 0961 2345 6768' }, 400, 'VALIDATION_ERROR', 'body.branding.iban'],
      [{ iban: 'NOT-AN-IBAN' }, 400, 'VALIDATION_ERROR', 'body.branding.iban'],
      [{ bic: 'GKCC' }, 400, 'VALIDATION_ERROR', 'body.branding.bic'],
      [{ companyName: 'x'.repeat(201) }, 400, 'VALIDATION_ERROR', 'body.branding.companyName'],
      [{ footer: 'a\u0000b' }, 400, 'VALIDATION_ERROR', 'body.branding.footer'],
      [{ colour: 'red' }, 400, 'VALIDATION_ERROR', 'body.branding'],
    ];
    for (const [branding, status, code, field] of cases) {
      const r = await e.put('/v1/settings', { branding, lockDate: '2026-01-31' });
      expect(r.status, JSON.stringify(branding).slice(0, 80)).toBe(status);
      expect(r.body.error.code).toBe(code);
      expect(r.body.error.details[0].field).toBe(field);
    }
    expect(await brandingRows(e.entityId)).toEqual(before);
    expect((await e.get('/v1/settings')).body.lockDate).toBeNull();
  });
});

describe('invoice PDF with branding', () => {
  it('prints the branding, the logo, VAT per rate, the totals, the bank details and the footer', async () => {
    const before = await postInvoice(c, 'ACME', '10.00', { externalReference: 'PLAIN-1' });
    const plain = extractPdfText((await c.get(`/v1/transactions/${before.transactionId}/pdf`)).body);
    // Without branding the entity's own details are printed, and no bank details.
    expect(inOrder(plain.lines, ['Entity DOCS', 'Old Street 1', '1000 Brussel', 'VAT number: BE0000000097'])).toBe(
      true,
    );
    expect(plain.lines.some((l) => l.startsWith('IBAN'))).toBe(false);

    const put = await c.put('/v1/settings', {
      branding: {
        companyName: 'Harbour Sports Ltd',
        address: { street: 'Quay 5', postalCode: '2000', city: 'Antwerpen', country: 'BE' },
        vatNumber: 'BE0123456749',
        iban: 'BE71096123456769',
        bic: 'GKCCBEBB',
        bankName: 'Belfius',
        bankAccountName: 'Harbour Sports Ltd',
        footer: 'Registered in Antwerpen, RPR 0123.456.749',
        logo: LOGO.toString('base64'),
      },
    });
    expect(put.status).toBe(200);
    const inv = await postInvoice(c, 'ACME', '0', {
      invoiceDate: '2026-11-01',
      externalReference: 'BRANDED-1',
      lines: [
        { glAccountCode: '4000', taxCode: 'STD', description: 'Season ticket', netAmount: '200.00' },
        { glAccountCode: '4000', taxCode: 'STD', description: 'Parking', netAmount: '100.01' },
        { glAccountCode: '4000', taxCode: 'RED', description: 'Programme', netAmount: '50.00' },
      ],
    });
    const r = await c.get(`/v1/transactions/${inv.transactionId}/pdf`);
    expect(r.status).toBe(200);
    const pdf = r.body as Buffer;
    expect(pdf.toString('latin1')).toMatch(/\/Subtype \/Image/);
    const { lines, pages } = extractPdfText(pdf);
    expect(inOrder(lines, ['Harbour Sports Ltd', 'Quay 5', '2000 Antwerpen', 'BE', 'VAT number: BE0123456749'])).toBe(
      true,
    );
    expect(lines).not.toContain('Entity DOCS');
    expect(lines).not.toContain('Old Street 1');
    expect(inOrder(lines, ['VAT summary', '6%', '50.00', '3.00', '21%', '300.01', '63.00'])).toBe(true);
    expect(inv.grossAmount).toBe('416.01');
    expect(inOrder(lines, ['Net total', '350.01', 'VAT total', '66.00', 'Total EUR', '416.01'])).toBe(true);
    expect(
      inOrder(lines, [
        'Please pay 416.01 EUR by 2026-12-01.',
        'Payment reference: BRANDED-1',
        'Bank: Belfius',
        'Account name: Harbour Sports Ltd',
        'IBAN: BE71 0961 2345 6769',
        'BIC: GKCCBEBB',
      ]),
    ).toBe(true);
    for (const page of pages) {
      expect(
        inOrder(page, ['Registered in Antwerpen, RPR 0123.456.749', `Harbour Sports Ltd - Invoice ${inv.number}`]),
      ).toBe(true);
    }
  });
});

describe('receipt PDF', () => {
  it('shows the payment, the account paid into, what it settled and what is left', async () => {
    const a = await postInvoice(c, 'ACME', '100.00', { externalReference: 'RC-INV-A', invoiceDate: '2026-10-01' });
    const b = await postInvoice(c, 'ACME', '50.00', { externalReference: 'RC-INV-B', invoiceDate: '2026-10-02' });
    const rc = await postReceipt(c, 'ACME', '200.00', { checkReference: 'PAY-RC-1', paymentDate: '2026-11-05' });
    for (const [inv, amount] of [
      [a, '121.00'],
      [b, '60.50'],
    ] as const) {
      const al = await c.post('/v1/allocations', {
        transactionId1: inv.transactionId,
        transactionId2: rc.transactionId,
        amount,
        date: '2026-11-05',
        reference: `AL-${inv.number}`,
      });
      expect(al.status).toBe(201);
    }
    const r = await c.get(`/v1/transactions/${rc.transactionId}/pdf`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/pdf');
    const { lines } = extractPdfText(r.body);
    expect(lines).toContain('RECEIPT');
    expect(
      inOrder(lines, ['Receipt number', String(rc.number), 'Payment date', '2026-11-05', 'Reference', 'PAY-RC-1']),
    ).toBe(true);
    expect(lines.some((l) => l.startsWith('Paid into'))).toBe(true);
    expect(inOrder(lines, ['Received from', 'Acme Supporters Club', 'Customer code: ACME'])).toBe(true);
    expect(lines).toContain('We received 200.00 EUR on 2026-11-05. Thank you.');
    expect(
      inOrder(lines, [
        'Allocated to',
        'Invoice',
        String(a.number),
        'RC-INV-A',
        '121.00',
        'Invoice',
        String(b.number),
        'RC-INV-B',
        '60.50',
      ]),
    ).toBe(true);
    expect(inOrder(lines, ['Amount received', '200.00', 'Allocated', '181.50', 'Unallocated', '18.50'])).toBe(true);
  });

  it('refuses a journal (no PDF) with its own code; another entity’s receipt is NOT_FOUND', async () => {
    const sd = await c.post('/v1/sales/debit-journals', {
      customerCode: 'ACME',
      transactionDate: '2026-11-12',
      externalReference: 'SD-1',
      lines: [{ bankAccountCode: 'BANK', amount: '21.00' }],
    });
    expect(sd.status).toBe(201);
    const r = await c.get(`/v1/transactions/${sd.body.transactionId}/pdf`);
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('DOCUMENT_TYPE_HAS_NO_PDF');
    expect(r.body.error.details[0].field).toBe('params.id');
    const rc = await postReceipt(c, 'ACME', '1.00');
    const foreign = await other.get(`/v1/transactions/${rc.transactionId}/pdf`);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('NOT_FOUND');
  });
});

describe('statement PDF', () => {
  it('prints the open items, the balance and the aging of the JSON statement', async () => {
    await c.put('/v1/customers/STMT', { name: 'Statement Customer', creditTerms: { days: 30 } });
    const old = await postInvoice(c, 'STMT', '100.00', { invoiceDate: '2026-06-01', externalReference: 'S-OLD' });
    const mid = await postInvoice(c, 'STMT', '10.00', { invoiceDate: '2026-09-15', externalReference: 'S-MID' });
    await postInvoice(c, 'STMT', '1.00', { invoiceDate: '2026-11-20', externalReference: 'S-NEW' });
    const rc = await postReceipt(c, 'STMT', '50.00', { paymentDate: '2026-11-25', checkReference: 'S-PAY' });
    const part = await c.post('/v1/allocations', {
      transactionId1: old.transactionId,
      transactionId2: rc.transactionId,
      amount: '21.00',
      date: '2026-11-25',
      reference: 'S-AL',
    });
    expect(part.status).toBe(201);
    const json = (await c.get('/v1/customers/STMT/statement?upTo=2026-11-30')).body;
    expect(json.currentBalance).toBe('84.31');

    const r = await c.get('/v1/customers/STMT/statement.pdf?upTo=2026-11-30');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/pdf');
    expect(String(r.headers['content-disposition'])).toBe('inline; filename="statement-STMT-2026-11-30.pdf"');
    const { lines, pages } = extractPdfText(r.body);
    expect(pages).toHaveLength(1);
    expect(lines).toContain('STATEMENT');
    expect(inOrder(lines, ['Statement date', '2026-11-30', 'Customer code', 'STMT', 'Currency', 'EUR'])).toBe(true);
    expect(inOrder(lines, ['Statement for', 'Statement Customer'])).toBe(true);
    // Each open item as the JSON statement has it.
    for (const item of json.openItems) {
      expect(
        inOrder(lines, [
          item.transactionDate,
          String(item.number),
          item.externalReference,
          item.amount,
          item.outstanding,
        ]),
        JSON.stringify(item),
      ).toBe(true);
    }
    expect(inOrder(lines, ['S-OLD', '121.00', '100.00', 'S-MID', '12.10', '12.10', 'S-NEW', '1.21', '1.21'])).toBe(
      true,
    );
    expect(inOrder(lines, ['S-PAY', '-50.00', '-29.00'])).toBe(true);
    expect(inOrder(lines, ['Balance', '84.31 EUR'])).toBe(true);
    // The aged balance: the buckets in order, then the balance due.
    const a = json.aging;
    expect([a.current, a.days1to30, a.days31to60, a.days61to90, a.days91to120, a.over120]).toEqual([
      '1.21',
      '-29.00',
      '12.10',
      '0.00',
      '0.00',
      '100.00',
    ]);
    expect(
      inOrder(lines, [
        'Aged balance',
        'Current',
        '1-30 days',
        '31-60 days',
        '61-90 days',
        '91-120 days',
        'Over 120 days',
        'Balance due',
        '1.21',
        '-29.00',
        '12.10',
        '0.00',
        '0.00',
        '100.00',
        '84.31',
      ]),
    ).toBe(true);
    expect(lines).toContain('Please pay the balance of 84.31 EUR, quoting your customer code STMT.');
    expect(lines).toContain('IBAN: BE71 0961 2345 6769');
    expect(mid.grossAmount).toBe('12.10');
  });

  it('runs over as many pages as it takes, repeating the table header, and keeps every item', async () => {
    await c.put('/v1/customers/LONGSTMT', { name: 'Long Statement', creditTerms: { days: 30 } });
    for (let i = 1; i <= 70; i++) {
      await postInvoice(c, 'LONGSTMT', '1.00', { invoiceDate: '2026-10-01', externalReference: `L-${i}` });
    }
    const json = (await c.get('/v1/customers/LONGSTMT/statement?upTo=2026-11-30')).body;
    expect(json.openItems).toHaveLength(70);
    const { lines, pages } = extractPdfText((await c.get('/v1/customers/LONGSTMT/statement.pdf?upTo=2026-11-30')).body);
    expect(pages.length).toBeGreaterThan(1);
    for (const [i, page] of pages.entries()) {
      expect(page).toContain('Outstanding');
      expect(page).toContain(`Page ${i + 1} of ${pages.length}`);
    }
    for (let i = 1; i <= 70; i++) expect(lines).toContain(`L-${i}`);
    expect(json.currentBalance).toBe('84.70');
    expect(inOrder(lines, ['Balance', '84.70 EUR', 'Aged balance'])).toBe(true);
    expect(json.aging.days1to30).toBe('84.70');
  });

  it('shows an empty statement, and answers 404 for an unknown or another entity’s customer', async () => {
    await c.put('/v1/customers/NOTHING', { name: 'Nothing Open', creditTerms: { days: 30 } });
    const { lines } = extractPdfText((await c.get('/v1/customers/NOTHING/statement.pdf?upTo=2026-11-30')).body);
    expect(lines).toContain('Nothing is open.');
    expect(lines.some((l) => l.startsWith('Please pay'))).toBe(false);
    for (const r of [
      await other.get('/v1/customers/ACME/statement.pdf'),
      await c.get('/v1/customers/NOBODY/statement.pdf'),
    ]) {
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('NOT_FOUND');
    }
    const bad = await c.get('/v1/customers/ACME/statement.pdf?upTo=2026-13-01');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('query.upTo');
  });
});

describe('the VAT summary of an item document', () => {
  async function summary(transactionId: number) {
    const r = await c.get(`/v1/transactions/${transactionId}/pdf`);
    expect(r.status).toBe(200);
    return extractPdfText(r.body as Buffer).lines;
  }

  it('shows the breakdown computed per document, as posted', async () => {
    expect((await c.put('/v1/settings', { taxCalculation: 'perDocument' })).status).toBe(200);
    try {
      const line = { description: 'Scarf', quantity: '1', unitPrice: '1.02', glAccountCode: '4000', taxCode: 'STD' };
      const draft = await c.post('/v1/sales/invoices', {
        customerCode: 'ACME',
        date: '2026-11-05',
        externalReference: 'ITEM-PDF-1',
        lines: [line, line, line, { ...line, description: 'Booklet', unitPrice: '5', taxCode: 'RED' }],
      });
      expect(draft.status, JSON.stringify(draft.body)).toBe(201);
      const posted = await c.post(`/v1/sales/invoices/${draft.body.draftId}/post`, {});
      expect(posted.status, JSON.stringify(posted.body)).toBe(201);
      // 3 × 1.02 = 3.06 at 21 % rounded once: 0.64 (three lines rounded alone would be 0.63).
      expect(posted.body.vatBreakdown).toEqual([
        { taxCode: 'RED', taxRate: '0.06', netAmount: '5.00', taxAmount: '0.30' },
        { taxCode: 'STD', taxRate: '0.21', netAmount: '3.06', taxAmount: '0.64' },
      ]);
      const lines = await summary(posted.body.transactionId);
      expect(inOrder(lines, ['VAT summary', '6%', '5.00', '0.30', '21%', '3.06', '0.64', 'Total EUR', '9.00'])).toBe(
        true,
      );
    } finally {
      expect((await c.put('/v1/settings', { taxCalculation: 'perLine' })).status).toBe(200);
    }
  });

  it('reads the stored breakdown, never the lines summed again', async () => {
    // A document whose stored breakdown splits the VAT differently from its lines: the PDF must show
    // what was posted (transaction_tax_breakdown), which a summary recomputed from the lines would not.
    const inv = await postInvoice(c, 'ACME', '0', {
      invoiceDate: '2026-11-06',
      externalReference: 'STORED-1',
      lines: [
        { glAccountCode: '4000', taxCode: 'STD', description: 'Season ticket', netAmount: '300.01' },
        { glAccountCode: '4000', taxCode: 'RED', description: 'Programme', netAmount: '50.00' },
      ],
    });
    await t.db.query(
      `INSERT INTO transaction_tax_breakdown (transaction_id, entity_id, tax_code, tax_rate, net, tax)
       VALUES ($1, $2, 'STD', 0.21, 30001, 6301), ($1, $2, 'RED', 0.06, 5000, 299)`,
      [inv.transactionId, c.entityId],
    );
    const lines = await summary(inv.transactionId);
    expect(inOrder(lines, ['VAT summary', '6%', '50.00', '2.99', '21%', '300.01', '63.01'])).toBe(true);
    expect(inOrder(lines, ['Net total', '350.01', 'VAT total', '66.00', 'Total EUR', '416.01'])).toBe(true);
  });
});
