import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY } from '../src/api/security-headers.ts';
import { PAGE } from '../src/ledger/pdf-layout.ts';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import {
  HOSTILE,
  HOSTILE_CUSTOMER,
  HOSTILE_INVOICE,
  HOSTILE_ITEM,
  HOSTILE_SOURCE_IDS,
  type HostileData,
  LONG_CUSTOMER,
  LONG_INVOICE,
  PWN,
  storeHostileText,
} from './helpers/hostile-text.ts';
import { extractPdfText, placedText } from './helpers/pdf-text.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';

/*
 * Hostile text stored and shown safely (issue #14): script tags, attribute break-outs, javascript:
 * URLs, RTL overrides, control characters, SQL and values as long as the schema allows, in every
 * text field a user or a source can set. The API returns them as stored; the PDFs render them as
 * text (control characters as spaces, glyphs outside WinAnsi as "?"), wrapping descriptions in
 * full and shrinking then cutting one-line fields with "…", never past the margins; the dashboard's
 * HTML carries them escaped. test/browser/hostile-text.test.ts checks the pages in Chromium.
 */

let t: TestApp;
let owner: Client;
let anna: Browser;
let data: HostileData;

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 12 });
  owner = await t.entity('HOSTILE', 'EUR', { standardTaxRate: '0.21' });
  data = await storeHostileText(
    (method, path, body) => t.request(method, path, body, { authorization: `Bearer ${owner.token}` }),
    t.db,
    t.sync,
    'HOSTILE',
  );
  const user = await addUser(t, owner, 'anna@example.com', 'accountant');
  anna = await signIn(t, user.email, user.password);
});
afterAll(async () => t.close());

describe('the API', () => {
  it('returns every hostile value byte for byte, as JSON', async () => {
    const customer = await owner.get(`/v1/customers/${HOSTILE_CUSTOMER.code}`);
    expect(customer.headers['content-type']).toMatch(/^application\/json/);
    expect(customer.headers['x-content-type-options']).toBe('nosniff');
    expect(customer.body).toMatchObject(HOSTILE_CUSTOMER.body);
    expect((await owner.get(`/v1/customers/${LONG_CUSTOMER.code}`)).body).toMatchObject(LONG_CUSTOMER.body);

    const invoice = await owner.get(`/v1/transactions/${data.invoiceId}`);
    expect(invoice.status).toBe(200);
    expect(invoice.body.externalReference).toBe(HOSTILE_INVOICE.externalReference);
    expect(invoice.body.description).toBe(HOSTILE_INVOICE.description);
    expect(JSON.stringify(invoice.body)).toContain(JSON.stringify(HOSTILE_INVOICE.lines[0]!.description));
    const long = await owner.get(`/v1/transactions/${data.longInvoiceId}`);
    expect(long.body.description).toBe(LONG_INVOICE.description);

    expect((await owner.get(`/v1/items/${HOSTILE_ITEM.code}`)).body.description).toBe(HOSTILE_ITEM.description);
    const itemInvoice = JSON.stringify((await owner.get(`/v1/transactions/${data.itemInvoiceId}`)).body);
    expect(itemInvoice).toContain(JSON.stringify(HOSTILE_ITEM.description));

    const exceptions = await owner.get('/v1/exceptions?pipeline=hostile');
    expect(exceptions.status).toBe(200);
    const bySource = new Map<string, any>(exceptions.body.items.map((x: any) => [x.sourceId, x]));
    expect(bySource.get(HOSTILE_SOURCE_IDS.unknownCustomer)?.message).toContain(HOSTILE.script);
    expect(bySource.get(HOSTILE_SOURCE_IDS.unreadable)).toMatchObject({
      message: `Row ${HOSTILE.rtl} is not valid: amount ${HOSTILE.img}`,
      field: HOSTILE.svg,
    });
  });
});

/** What the PDF at `path` says, after checking it is a whole PDF with no text past its margins. */
async function pdfAt(path: string) {
  const r = await owner.get(path);
  expect(r.status, path).toBe(200);
  expect(r.headers['content-type']).toBe('application/pdf');
  const pdf = r.body as Buffer;
  expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
  expect(pdf.toString('latin1').trimEnd().endsWith('%%EOF')).toBe(true);
  const placed = await placedText(pdf);
  expect(placed.length).toBeGreaterThan(10);
  const outside = placed.filter(
    (p) => p.x < PAGE.margin - 0.5 || p.x + p.width > PAGE.width - PAGE.margin + 0.5 || p.y < 10 || p.y > PAGE.height,
  );
  expect(
    outside.map((p) => `${p.text.slice(0, 40)} at x=${p.x} width=${p.width.toFixed(1)} y=${p.y}`),
    `text past the margins of ${path}`,
  ).toEqual([]);
  return { ...extractPdfText(pdf), placed };
}

describe('the PDFs', () => {
  it('show hostile text as text: control characters as spaces, glyphs outside the font as "?"', async () => {
    const { lines, text } = await pdfAt(`/v1/transactions/${data.invoiceId}/pdf`);
    // The description wraps in full; what it says, control characters turned into spaces.
    // Wrapped lines keep their trailing space: compare with runs of white space as one.
    const flat = text.replace(/\s+/g, ' ');
    expect(flat).toContain(`${HOSTILE.script} bell esc [31m del Zoë ?gnp.exe? Lódz`);
    expect(flat).toContain(`${HOSTILE.sql} ${HOSTILE.jsUrl}`);
    expect(lines).toContain(`Payment reference: ${HOSTILE.img}`);
    expect(lines.some((l) => l.startsWith(`Acme ${HOSTILE.img}`))).toBe(true);
    expect(lines).toContain(HOSTILE.script);
    expect(lines.some((l) => l.includes(HOSTILE.sql))).toBe(true);
  });

  it('wrap long descriptions in full and cut long one-line fields with "…", inside the margins', async () => {
    const { lines, placed } = await pdfAt(`/v1/transactions/${data.longInvoiceId}/pdf`);
    // Descriptions without a space are broken over lines, every character kept.
    expect(lines.filter((l) => /^D+$/.test(l)).join('')).toBe(LONG_INVOICE.description);
    expect(lines.filter((l) => /^L+$/.test(l)).join('')).toBe(LONG_INVOICE.lines[0]!.description);
    // Names and address lines are made smaller (down to 6 points), then cut, visibly.
    const line = (re: RegExp) => placed.find((p) => re.test(p.text));
    for (const [re, whole] of [
      [/^W+…$/, false],
      [/^S+…$/, false],
      [/^P{20} C+…$/, false],
      [/^K{100}$/, true],
    ] as const) {
      expect(line(re), String(re)).toBeDefined();
      expect(line(re)!.size).toBeGreaterThanOrEqual(6);
      if (!whole) expect(line(re)!.size).toBe(6);
    }
    expect(lines).toContain(`Payment reference: ${LONG_INVOICE.externalReference}`);
  });

  it('render an item invoice and the statements of both customers', async () => {
    const item = await pdfAt(`/v1/transactions/${data.itemInvoiceId}/pdf`);
    expect(item.text.replace(/\s+/g, ' ')).toContain(HOSTILE_ITEM.description);
    const statement = await pdfAt(`/v1/customers/${HOSTILE_CUSTOMER.code}/statement.pdf`);
    expect(statement.lines.some((l) => l.startsWith(`Acme ${HOSTILE.img}`))).toBe(true);
    expect(statement.text).toContain(HOSTILE.script);
    const long = await pdfAt(`/v1/customers/${LONG_CUSTOMER.code}/statement.pdf`);
    expect(long.lines.some((l) => /^W+…$/.test(l))).toBe(true);
  });
});

describe('the dashboard', () => {
  const pages = () => [
    '/customers',
    `/customers/${HOSTILE_CUSTOMER.code}`,
    `/customers/${LONG_CUSTOMER.code}`,
    '/transactions',
    `/transactions/${data.invoiceId}`,
    `/transactions/${data.itemInvoiceId}`,
    '/exceptions',
    ...data.exceptionIds.map((id) => `/exceptions/${id}`),
    '/runs',
    `/runs/${data.runId}`,
  ];

  it('sends every page with a CSP that forbids inline script', async () => {
    expect(CONTENT_SECURITY_POLICY).toMatch(/script-src 'self'(;|$)/);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval/);
    for (const path of pages()) {
      const r = await anna.request('GET', path);
      expect(r.status, path).toBe(200);
      expect(r.headers['content-security-policy'], path).toBe(CONTENT_SECURITY_POLICY);
    }
  });

  it('escapes the hostile values: none of them is markup in the HTML', async () => {
    const seen = new Set<string>();
    for (const path of pages()) {
      const html = String((await anna.request('GET', path)).body);
      // The payloads as markup: a script element, an element with an event handler, a javascript: link.
      expect(html, path).not.toContain(`<script>${PWN}`);
      expect(html, path).not.toMatch(/<(img|svg)[^>]*\son(error|load)=/i);
      expect(html, path).not.toMatch(/(href|src|action)\s*=\s*["']?\s*javascript:/i);
      expect(html, path).not.toMatch(/<(b|i)>/);
      // preact escapes & < and " in text and attributes; a lone > is harmless and stays.
      for (const [name, value] of Object.entries({ script: '&lt;script>', img: '&quot;>&lt;img src=x' }))
        if (html.includes(value)) seen.add(name);
    }
    // And they are shown (escaped), not dropped.
    expect([...seen].sort()).toEqual(['img', 'script']);
  });
});
