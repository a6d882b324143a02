import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ExcelJS from 'exceljs';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { postInvoice, postReceipt } from './helpers/ledger.ts';
import { type FormPart, multipart, multipartParts, type UploadFile } from './helpers/uploads.ts';
import { makePng } from './helpers/images.ts';
import { sniffAttachment, zipEntryNames } from '../src/domain/file-types.ts';

let t: TestApp;
let c: Client;
let other: Client;
let invoiceId: number;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('ATT', 'EUR', { standardTaxRate: '0.21' });
  other = await t.entity('ATTOTHER', 'EUR');
  expect((await c.put('/v1/customers/ACME', { name: 'Acme', creditTerms: { days: 30 } })).status).toBe(201);
  expect((await other.put('/v1/customers/ACME', { name: 'Other Acme', creditTerms: { days: 30 } })).status).toBe(201);
  expect((await c.put('/v1/tax-codes/RED', { name: 'Reduced', rate: '0.06', glAccountCode: '2200' })).status).toBe(201);
  invoiceId = (await postInvoice(c, 'ACME', '100.00')).transactionId;
});
afterAll(async () => t.close());

async function send(
  client: Client,
  path: string,
  file?: UploadFile,
  fields: Record<string, string> = {},
  headers = {},
) {
  const body = multipart(fields, file);
  const res = await t.app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': body.contentType, authorization: `Bearer ${client.token}`, ...headers },
    payload: body.payload,
  });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

async function download(client: Client, path: string) {
  const res = await t.app.inject({ method: 'GET', url: path, headers: { authorization: `Bearer ${client.token}` } });
  return { status: res.statusCode, bytes: res.rawPayload, headers: res.headers, body: res.body };
}

async function attachmentCount(): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM attachments`);
  return Number(rows[0]!.n);
}

/** A real workbook, written by exceljs. */
async function xlsxFile(): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  wb.addWorksheet('Jobs').addRow(['Job', 'Amount']);
  return Buffer.from(await wb.xlsx.writeBuffer());
}

const PDF = Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
const CSV = Buffer.from('job,hours,amount\r\nSéance 1,2,50.00\r\nSéance 2,3,75.00\r\n');

describe('file types by content', () => {
  it('tells PDF, XLSX and CSV apart, and nothing else passes', async () => {
    const xlsx = await xlsxFile();
    expect(sniffAttachment(PDF)).toBe('pdf');
    expect(sniffAttachment(xlsx)).toBe('xlsx');
    expect(zipEntryNames(xlsx)).toEqual(expect.arrayContaining(['[Content_Types].xml', 'xl/workbook.xml']));
    expect(sniffAttachment(CSV)).toBe('csv');
    expect(sniffAttachment(makePng(2, 2))).toBeNull();
    expect(sniffAttachment(Buffer.from('a,b\n1,\u0000\n'))).toBeNull();
    expect(sniffAttachment(Buffer.from([0x61, 0x2c, 0xc3, 0x28]))).toBeNull(); // invalid UTF-8
    expect(sniffAttachment(Buffer.from('MZ\x90\x00\x03', 'latin1'))).toBeNull();
    expect(sniffAttachment(xlsx.subarray(0, 100))).toBeNull(); // a truncated zip
    expect(sniffAttachment(Buffer.alloc(0))).toBeNull();
  });
});

describe('transaction attachments', () => {
  it('round-trips CSV, XLSX and PDF byte for byte, lists them and audits each', async () => {
    const xlsx = await xlsxFile();
    const files: [UploadFile, string][] = [
      [{ name: 'jobs.csv', content: CSV }, 'text/csv'],
      [
        { name: 'Jobs November.XLSX', content: xlsx, type: 'application/octet-stream' },
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      ],
      [{ name: 'signed-order.pdf', content: PDF, type: 'application/pdf' }, 'application/pdf'],
    ];
    const ids: number[] = [];
    for (const [file, type] of files) {
      const r = await send(c, `/v1/transactions/${invoiceId}/attachments`, file);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const bytes = file.content as Buffer;
      expect(r.body).toMatchObject({
        fileName: file.name,
        contentType: type,
        kind: 'upload',
        size: bytes.length,
        sha256: sha(bytes),
        createdBy: expect.stringMatching(/^credential:/),
      });
      ids.push(r.body.attachmentId);
      const got = await download(c, `/v1/transactions/${invoiceId}/attachments/${r.body.attachmentId}`);
      expect(got.status).toBe(200);
      expect(got.headers['content-type']).toBe(type);
      expect(got.headers['content-disposition']).toBe(
        `attachment; filename="${file.name}"; filename*=UTF-8''${encodeURIComponent(file.name)}`,
      );
      expect(got.headers['x-content-sha256']).toBe(sha(bytes));
      expect(got.bytes.equals(bytes)).toBe(true);
    }
    const list = await c.get(`/v1/transactions/${invoiceId}/attachments`);
    expect(list.status).toBe(200);
    expect(list.body.attachments.map((a: { attachmentId: number }) => a.attachmentId)).toEqual(ids);
    expect(list.body.attachments[0]).not.toHaveProperty('content');
    const audit = await t.db.query<{ object_id: string; after: { attachmentId: number } }>(
      `SELECT object_id, after FROM audit_log WHERE entity_id = $1 AND action = 'attachment.added' ORDER BY id`,
      [c.entityId],
    );
    expect(audit.rows.map((r) => r.after.attachmentId)).toEqual(ids);
    expect(audit.rows.every((r) => r.object_id === String(invoiceId))).toBe(true);
  });

  it('keeps a non-ASCII file name, and sends an ASCII fallback', async () => {
    const r = await send(c, `/v1/transactions/${invoiceId}/attachments`, { name: 'Überblick €.csv', content: CSV });
    expect(r.status).toBe(201);
    expect(r.body.fileName).toBe('Überblick €.csv');
    const got = await download(c, `/v1/transactions/${invoiceId}/attachments/${r.body.attachmentId}`);
    expect(got.headers['content-disposition']).toBe(
      `attachment; filename="_berblick _.csv"; filename*=UTF-8''${encodeURIComponent('Überblick €.csv')}`,
    );
  });

  it('refuses the wrong type, a renamed file, a file too large or none, and stores nothing', async () => {
    const before = await attachmentCount();
    const auditBefore = (await t.db.query(`SELECT id FROM audit_log`)).rows.length;
    const xlsx = await xlsxFile();
    const cases: [UploadFile | undefined, number, string, string][] = [
      [{ name: 'logo.png', content: makePng(2, 2) }, 415, 'ATTACHMENT_TYPE_NOT_ALLOWED', 'file'],
      [{ name: 'logo.csv', content: makePng(2, 2) }, 415, 'ATTACHMENT_TYPE_NOT_ALLOWED', 'file'],
      [{ name: 'notes.txt', content: CSV }, 415, 'ATTACHMENT_TYPE_NOT_ALLOWED', 'file'],
      [
        { name: 'binary.csv', content: Buffer.from('a,b\n\u0000\u0001,2\n') },
        415,
        'ATTACHMENT_TYPE_NOT_ALLOWED',
        'file',
      ],
      [
        { name: 'latin1.csv', content: Buffer.from('caf\xe9,1\n', 'latin1') },
        415,
        'ATTACHMENT_TYPE_NOT_ALLOWED',
        'file',
      ],
      [{ name: 'order.csv', content: PDF }, 422, 'ATTACHMENT_TYPE_MISMATCH', 'file'],
      [{ name: 'order.pdf', content: xlsx }, 422, 'ATTACHMENT_TYPE_MISMATCH', 'file'],
      [{ name: 'jobs.xlsx', content: CSV }, 422, 'ATTACHMENT_TYPE_MISMATCH', 'file'],
      [{ name: 'empty.csv', content: Buffer.alloc(0) }, 400, 'VALIDATION_ERROR', 'file'],
      [{ name: 'huge.csv', content: Buffer.alloc(10 * 1024 * 1024 + 1, 'a') }, 413, 'ATTACHMENT_TOO_LARGE', 'file'],
      [undefined, 400, 'VALIDATION_ERROR', 'file'],
    ];
    for (const [file, status, code, field] of cases) {
      const r = await send(c, `/v1/transactions/${invoiceId}/attachments`, file);
      expect(r.status, file?.name).toBe(status);
      expect(r.body.error.code, file?.name).toBe(code);
      expect(r.body.error.details[0].field, file?.name).toBe(field);
    }
    // Exactly 10 MB is taken.
    const max = Buffer.alloc(10 * 1024 * 1024, 'b');
    const ok = await send(c, `/v1/transactions/${invoiceId}/attachments`, { name: 'max.csv', content: max });
    expect(ok.status).toBe(201);
    expect(ok.body.size).toBe(10 * 1024 * 1024);
    expect(await attachmentCount()).toBe(before + 1);
    expect((await t.db.query(`SELECT id FROM audit_log`)).rows.length).toBe(auditBefore + 1);

    const extra = await send(
      c,
      `/v1/transactions/${invoiceId}/attachments`,
      { name: 'a.csv', content: CSV },
      { note: 'x' },
    );
    expect(extra.status).toBe(400);
    expect(extra.body.error.details[0].field).toBe('note');
    const json = await c.post(`/v1/transactions/${invoiceId}/attachments`, { file: 'x' });
    expect(json.status).toBe(415);
    expect(json.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(await attachmentCount()).toBe(before + 1);
  });

  it('refuses two files, or the field `file` twice, with 400 naming the field, and stores nothing', async () => {
    const before = await attachmentCount();
    const a = { name: 'a.csv', content: CSV };
    const forms: [string, FormPart[], string][] = [
      [
        'two files',
        [
          { name: 'file', file: a },
          { name: 'file', file: { name: 'b.csv', content: CSV } },
        ],
        'file',
      ],
      [
        'a second file elsewhere',
        [
          { name: 'file', file: a },
          { name: 'extra', file: a },
        ],
        'extra',
      ],
      [
        'file as text, then as a file',
        [
          { name: 'file', value: 'x' },
          { name: 'file', file: a },
        ],
        'file',
      ],
    ];
    for (const [name, parts, field] of forms) {
      const body = multipartParts(parts);
      const res = await t.app.inject({
        method: 'POST',
        url: `/v1/transactions/${invoiceId}/attachments`,
        headers: { 'content-type': body.contentType, authorization: `Bearer ${c.token}` },
        payload: body.payload,
      });
      const error = res.json().error;
      expect({ name, status: res.statusCode, code: error?.code, field: error?.details?.[0]?.field }).toEqual({
        name,
        status: 400,
        code: 'VALIDATION_ERROR',
        field,
      });
    }
    expect(await attachmentCount()).toBe(before);
  });

  it('is NOT_FOUND for another entity, and never lets one entity attach to another’s transaction', async () => {
    const r = await send(c, `/v1/transactions/${invoiceId}/attachments`, { name: 'mine.csv', content: CSV });
    expect(r.status).toBe(201);
    const before = await attachmentCount();
    const checks = [
      await other.get(`/v1/transactions/${invoiceId}/attachments`),
      await other.get(`/v1/transactions/${invoiceId}/attachments/${r.body.attachmentId}`),
      await send(other, `/v1/transactions/${invoiceId}/attachments`, { name: 'theirs.csv', content: CSV }),
      await other.post(`/v1/transactions/${invoiceId}/attachments/breakdown`, undefined),
      await c.get(`/v1/transactions/987654321/attachments`),
    ];
    for (const x of checks) {
      expect(x.status).toBe(404);
      expect(x.body.error.code).toBe('NOT_FOUND');
    }
    // An attachment id of another transaction (or customer) of the same entity is not found either.
    const second = (await postInvoice(c, 'ACME', '1.00')).transactionId;
    const wrongOwner = await c.get(`/v1/transactions/${second}/attachments/${r.body.attachmentId}`);
    expect(wrongOwner.status).toBe(404);
    const viaCustomer = await c.get(`/v1/customers/ACME/attachments/${r.body.attachmentId}`);
    expect(viaCustomer.status).toBe(404);
    expect(await attachmentCount()).toBe(before);
  });

  it('replays an upload with the same Idempotency-Key instead of storing it twice', async () => {
    const before = await attachmentCount();
    const file = { name: 'retry.csv', content: CSV };
    const key = { 'idempotency-key': 'att-retry-1' };
    const a = await send(c, `/v1/transactions/${invoiceId}/attachments`, file, {}, key);
    const b = await send(c, `/v1/transactions/${invoiceId}/attachments`, file, {}, key);
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.body).toEqual(a.body);
    expect(await attachmentCount()).toBe(before + 1);
  });

  it('never deletes or changes an attachment, even by SQL, nor files one under another entity', async () => {
    await expect(t.db.query(`DELETE FROM attachments`)).rejects.toThrow();
    await expect(t.db.query(`UPDATE attachments SET file_name = 'x.csv'`)).rejects.toThrow();
    await expect(
      t.db.query(
        `INSERT INTO attachments (entity_id, transaction_id, file_name, content_type, size, sha256, content, created_by)
         VALUES ($1, $2, 'x.csv', 'text/csv', 1, repeat('0', 64), decode('YQ==', 'base64'), 'test')`,
        [other.entityId, invoiceId],
      ),
    ).rejects.toThrow(/not in entity/);
  });
});

describe('customer attachments', () => {
  it('attach, list and download, isolated per entity (the same code elsewhere is another customer)', async () => {
    const r = await send(c, '/v1/customers/ACME/attachments', { name: 'contract.pdf', content: PDF });
    expect(r.status).toBe(201);
    const list = await c.get('/v1/customers/ACME/attachments');
    expect(list.body.attachments).toEqual([r.body]);
    const got = await download(c, `/v1/customers/ACME/attachments/${r.body.attachmentId}`);
    expect(got.bytes.equals(PDF)).toBe(true);
    expect(got.headers['content-type']).toBe('application/pdf');
    expect((await other.get('/v1/customers/ACME/attachments')).body.attachments).toEqual([]);
    const foreign = await other.get(`/v1/customers/ACME/attachments/${r.body.attachmentId}`);
    expect(foreign.status).toBe(404);
    const unknown = await send(c, '/v1/customers/NOBODY/attachments', { name: 'x.csv', content: CSV });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');
  });
});

describe('invoice breakdown as XLSX', () => {
  it('writes the lines, totals and VAT per rate exactly, attaches it once, and answers it again', async () => {
    const inv = await postInvoice(c, 'ACME', '0', {
      externalReference: 'BREAK-1',
      lines: [
        { glAccountCode: '4000', taxCode: 'STD', description: 'Job 1', netAmount: '33.33' },
        { glAccountCode: '4000', taxCode: 'STD', description: 'Job 2', netAmount: '33.33' },
        { glAccountCode: '4000', taxCode: 'STD', description: 'Job 3', netAmount: '33.34' },
        { glAccountCode: '4000', taxCode: 'RED', description: 'Booklet', netAmount: '0.15' },
      ],
    });
    const tx = (await c.get(`/v1/transactions/${inv.transactionId}`)).body;
    const first = await c.post(`/v1/transactions/${inv.transactionId}/attachments/breakdown`, undefined);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toMatchObject({
      kind: 'breakdown',
      fileName: `invoice-${inv.number}-breakdown.xlsx`,
      contentType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    });
    const again = await c.post(`/v1/transactions/${inv.transactionId}/attachments/breakdown`, undefined);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    const list = (await c.get(`/v1/transactions/${inv.transactionId}/attachments`)).body.attachments;
    expect(list).toEqual([first.body]);

    const file = await download(c, `/v1/transactions/${inv.transactionId}/attachments/${first.body.attachmentId}`);
    expect(sha(file.bytes)).toBe(first.body.sha256);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(new Uint8Array(file.bytes).buffer);
    const ws = wb.getWorksheet('Breakdown')!;
    const rows: unknown[][] = [];
    ws.eachRow((row) => rows.push((row.values as unknown[]).slice(1)));
    const at = (label: string) => rows.findIndex((r) => r[0] === label || r[1] === label);
    expect(rows[0]![0]).toBe(`Invoice ${inv.number} - breakdown`);
    expect(rows[at('Reference')]![1]).toBe('BREAK-1');
    const header = at('Description');
    expect(rows[header]).toEqual(['Line', 'Description', 'Quantity', 'Unit price', 'Net', 'VAT rate', 'VAT', 'Gross']);
    const lines = rows.slice(header + 1, header + 5);
    expect(lines.map((l) => [l[1], l[4], l[5], l[6], l[7]])).toEqual([
      ['Job 1', 33.33, '21%', 7, 40.33],
      ['Job 2', 33.33, '21%', 7, 40.33],
      ['Job 3', 33.34, '21%', 7, 40.34],
      ['Booklet', 0.15, '6%', 0.01, 0.16],
    ]);
    // Totals as posted, to the cent: summing the cells in cents gives them too.
    const total = rows[at('Total')]!;
    const cents = (v: unknown) => Math.round(Number(v) * 100);
    expect([total[4], total[6], total[7]]).toEqual([100.15, 21.01, 121.16]);
    expect(String(total[7])).toBe(tx.grossAmount ?? inv.grossAmount);
    expect(lines.reduce((s, l) => s + cents(l[7]), 0)).toBe(cents(total[7]));
    expect(lines.reduce((s, l) => s + cents(l[6]), 0)).toBe(cents(total[6]));
    const vat = at('VAT per rate');
    expect(rows.slice(vat + 1, vat + 3).map((r) => [r[4], r[5], r[6]])).toEqual([
      [0.15, '6%', 0.01],
      [100, '21%', 21],
    ]);
  });

  it("shows the quantity and unit price of an item invoice's lines, and leaves them empty on amount lines", async () => {
    const draft = await c.post('/v1/sales/invoices', {
      customerCode: 'ACME',
      date: '2026-11-05',
      externalReference: 'BREAK-ITEMS',
      lines: [
        { description: 'Cable', quantity: '2.5', unitPrice: '1.2345', glAccountCode: '4000', taxCode: 'STD' },
        { description: 'Call-out', quantity: '1', unitPrice: '40', glAccountCode: '4000', taxCode: 'STD' },
      ],
    });
    expect(draft.status, JSON.stringify(draft.body)).toBe(201);
    const posted = await c.post(`/v1/sales/invoices/${draft.body.draftId}/post`, undefined);
    expect(posted.status, JSON.stringify(posted.body)).toBe(201);
    const r = await c.post(`/v1/transactions/${posted.body.transactionId}/attachments/breakdown`, undefined);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    const file = await download(c, `/v1/transactions/${posted.body.transactionId}/attachments/${r.body.attachmentId}`);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(new Uint8Array(file.bytes).buffer);
    const rows: unknown[][] = [];
    wb.getWorksheet('Breakdown')!.eachRow((row) => rows.push((row.values as unknown[]).slice(1)));
    const header = rows.findIndex((row) => row[1] === 'Description');
    // 2.5 × 1.2345 = 3.08625 → 3.09; the amount-entered invoice above has no quantities.
    expect(rows.slice(header + 1, header + 3).map((l) => [l[1], l[2], l[3], l[4]])).toEqual([
      ['Cable', 2.5, 1.2345, 3.09],
      ['Call-out', 1, 40, 40],
    ]);
  });

  it('breaks down a credit note; refuses a receipt with its own code and stores nothing', async () => {
    const inv = await postInvoice(c, 'ACME', '10.00');
    const cn = await c.post('/v1/sales/credit-notes', {
      fromInvoiceTransactionId: inv.transactionId,
      creditNoteDate: '2026-11-10',
    });
    expect(cn.status).toBe(201);
    const r = await c.post(`/v1/transactions/${cn.body.transactionId}/attachments/breakdown`, undefined);
    expect(r.status).toBe(201);
    expect(r.body.fileName).toBe(`credit-note-${cn.body.number}-breakdown.xlsx`);
    const before = await attachmentCount();
    const rc = await postReceipt(c, 'ACME', '1.00');
    const refused = await c.post(`/v1/transactions/${rc.transactionId}/attachments/breakdown`, undefined);
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('TRANSACTION_HAS_NO_LINES');
    expect(refused.body.error.details[0].field).toBe('params.id');
    expect(await attachmentCount()).toBe(before);
  });
});
