import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileNameProblem } from '../src/api/uploads.ts';
import { type Client, type TestApp, createTestApp } from './helpers/app.ts';
import { postInvoice } from './helpers/ledger.ts';

/*
 * Attack review, finding 7: a file name that holds a control character or a bidirectional control
 * (U+202E before "fdp.exe" shows it as "exe.pdf") is refused, naming the character; and a file
 * name with a line feed, which the form parser drops unread, gets that same refusal instead of
 * "the form has no file".
 */

let t: TestApp;
let c: Client;
let invoiceId: number;

beforeAll(async () => {
  t = await createTestApp();
  c = await t.entity('ATTNAME', 'EUR', { standardTaxRate: '0.21' });
  expect((await c.put('/v1/customers/ACME', { name: 'Acme', creditTerms: { days: 30 } })).status).toBe(201);
  invoiceId = (await postInvoice(c, 'ACME', '100.00')).transactionId;
});
afterAll(async () => t.close());

const PDF = Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');

/** A form of one file part whose Content-Disposition parameters are written as given (`filename*=UTF-8''…`). */
function form(disposition: string, content: Buffer = PDF): { payload: Buffer; contentType: string } {
  const boundary = '----ledgerlinkNames7b';
  return {
    payload: Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; ${disposition}\r\nContent-Type: application/pdf\r\n\r\n`,
        'latin1',
      ),
      content,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

async function send(path: string, body: { payload: Buffer; contentType: string }) {
  const res = await t.app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': body.contentType, authorization: `Bearer ${c.token}` },
    payload: body.payload,
  });
  return { status: res.statusCode, body: res.json() };
}

async function attachments(): Promise<number> {
  const { rows } = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM attachments`);
  return Number(rows[0]!.n);
}

describe('file names with control or bidirectional characters', () => {
  it.each([
    [
      'a right-to-left override (the reproduction)',
      `name="file"; filename*=UTF-8''%E2%80%AEfdp.exe%22%3B.pdf`,
      'U+202E RIGHT-TO-LEFT OVERRIDE, a bidirectional control',
    ],
    [
      'a line feed, encoded (the reproduction)',
      `name="file"; filename*=UTF-8''a%0Ab.pdf`,
      'U+000A LINE FEED, a control character',
    ],
    [
      'a carriage return, encoded',
      `name="file"; filename*=UTF-8''a%0db.pdf`,
      'U+000D CARRIAGE RETURN, a control character',
    ],
    [
      'a bare line feed in the quoted name',
      `name="file"; filename="a\nb.pdf"`,
      'U+000A LINE FEED, a control character',
    ],
    ['a tab', `name="file"; filename="a\tb.pdf"`, 'U+0009 CHARACTER TABULATION, a control character'],
    ['NUL', `name="file"; filename*=UTF-8''a%00b.pdf`, 'U+0000 NULL, a control character'],
    ['a C1 control', `name="file"; filename*=UTF-8''a%C2%85b.pdf`, 'U+0085, a control character'],
    [
      'a first strong isolate',
      `name="file"; filename*=UTF-8''report%E2%81%A8.pdf`,
      'U+2068 FIRST STRONG ISOLATE, a bidirectional control',
    ],
    [
      'a right-to-left mark',
      `name="file"; filename*=UTF-8''%E2%80%8Freport.pdf`,
      'U+200F RIGHT-TO-LEFT MARK, a bidirectional control',
    ],
    ['a line separator', `name="file"; filename*=UTF-8''a%E2%80%A8b.pdf`, 'U+2028 LINE SEPARATOR, a line break'],
  ])(
    'refuses %s: 400 VALIDATION_ERROR naming the file field and the character; nothing stored',
    async (_what, disposition, said) => {
      const before = await attachments();
      const r = await send(`/v1/transactions/${invoiceId}/attachments`, form(disposition));
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_ERROR');
      expect(r.body.error.details).toEqual([
        { field: 'file', message: expect.stringContaining(`the file name holds ${said}`) },
      ]);
      expect(r.body.error.message).toMatch(/^file: the file name holds .*: rename the file without it$/);
      expect(await attachments()).toBe(before);
    },
  );

  it('refuses them on a customer attachment and on an import too (every upload reads its form the same way)', async () => {
    const imported = await send('/v1/imports', form(`name="file"; filename*=UTF-8''%E2%80%AEvsc.csv`));
    expect(imported.status).toBe(400);
    expect(imported.body.error.details).toEqual([{ field: 'file', message: expect.stringContaining('U+202E') }]);
    const bidi = `name="file"; filename*=UTF-8''%E2%80%AEvsc.pdf`;
    const customer = await send('/v1/customers/ACME/attachments', form(bidi));
    expect(customer.status).toBe(400);
    expect(customer.body.error.details[0].message).toContain('U+202E');
    const lf = await send('/v1/customers/ACME/attachments', form(`name="file"; filename*=UTF-8''a%0Ab.pdf`));
    expect(lf.status).toBe(400);
    expect(lf.body.error.details[0]).toEqual({ field: 'file', message: expect.stringContaining('U+000A LINE FEED') });
  });

  it('says which field name holds a line break, when it is the field name', async () => {
    const r = await send(`/v1/transactions/${invoiceId}/attachments`, form(`name="fi\nle"; filename="a.pdf"`));
    expect(r.status).toBe(400);
    expect(r.body.error.details).toEqual([
      { field: 'form', message: expect.stringContaining('a field name holds U+000A LINE FEED') },
    ]);
  });

  it('keeps names that are only unusual: accents, symbols, right-to-left script, quotes, spaces', async () => {
    for (const name of ['Überblick €.pdf', 'تقرير.pdf', 'order "7".pdf', 'a  b.pdf']) {
      const r = await send(
        `/v1/transactions/${invoiceId}/attachments`,
        form(`name="file"; filename*=UTF-8''${encodeURIComponent(name)}`),
      );
      expect(r.status, name).toBe(201);
    }
  });

  it('describes the character of a refused name, and nothing for a plain one', () => {
    expect(fileNameProblem('\u202efdp.exe;.pdf')).toBe(
      'the file name holds U+202E RIGHT-TO-LEFT OVERRIDE, a bidirectional control, which makes a name display other ' +
        'than it reads: rename the file without it',
    );
    expect(fileNameProblem('a\u007fb.csv')).toBe(
      'the file name holds U+007F DELETE, a control character: rename the file without it',
    );
    expect(fileNameProblem('jobs November.xlsx')).toBeNull();
  });
});
