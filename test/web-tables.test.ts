import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { postInvoice, postReceipt, seedCustomer } from './helpers/ledger.ts';
import { extractPdfText } from './helpers/pdf-text.ts';
import { customerRecord, definePipeline, invoiceRecord } from './helpers/sync.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';
import { recordAudit } from '../src/ledger/audit.ts';
import { addRunRecords, createRun } from '../src/sync/runs.ts';
import { customerStatement } from '../src/ledger/reports/statement.ts';
import { TransactionsQuery, loadTransactions } from '../src/web/pages/transactions.tsx';

/*
 * The dashboard's lists, filters and tables as an accountant read them (the layout itself is
 * measured in Chromium by test/browser/tables.test.ts): a filter that cannot be used is said, never
 * dropped; credits are negative on every page; a credit is never overdue; one set of six aging
 * buckets everywhere, a credit bucket drawn to scale; the audit log's values readable; a run's
 * records linked to what they became; the favicon; the navigation; a PDF named by its number.
 */

let t: TestApp;
let owner: Client;
let anna: Browser;
const ids: Record<string, number> = {};
const numbers: Record<string, number> = {};

/** A date `days` before today (UTC), as the pages' "today" is. */
const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
const TODAY = daysAgo(0);

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 12 });
  owner = await t.entity('TBL', 'EUR', { standardTaxRate: '0.21' });
  const user = await addUser(t, owner, 'anna@example.com', 'accountant');
  anna = await signIn(t, user.email, user.password);
  await seedCustomer(t.db, owner.entityId, 'C002', { creditDays: 30 });
  await seedCustomer(t.db, owner.entityId, 'C003', { creditDays: 30 });
  // Due 100 days ago: 91–120 days overdue, a bucket the overview used to fold into "over 90".
  const old = await postInvoice(owner, 'C002', '200.00', { invoiceDate: daysAgo(130), externalReference: 'SI-OLD' });
  ids.invoice = old.transactionId;
  numbers.invoice = old.number;
  // Six days old and open: a credit note CN-B1 of 242.00 and 50.00 received on account.
  const note = await owner.post('/v1/sales/credit-notes', {
    customerCode: 'C002',
    creditNoteDate: daysAgo(6),
    externalReference: 'CN-B1',
    lines: [{ glAccountCode: '4000', taxCode: 'STD', netAmount: '200.00', taxRate: '0.21' }],
  });
  expect(note.status, JSON.stringify(note.body)).toBe(201);
  ids.creditNote = note.body.transactionId;
  numbers.creditNote = note.body.number;
  const paid = await postReceipt(owner, 'C002', '50.00', { paymentDate: daysAgo(6), checkReference: 'ON-ACCOUNT' });
  ids.receipt = paid.transactionId;
  numbers.receipt = paid.number;
  await postInvoice(owner, 'C003', '10.00', { invoiceDate: daysAgo(3), externalReference: 'SI-C003' });
}, 120_000);
afterAll(async () => t.close());

const page = async (path: string) => {
  const r = await anna.request('GET', path);
  expect(r.status, path).toBe(200);
  return String(r.body);
};
/** The rendered row of a table whose cells include `marker`. */
const rowWith = (html: string, marker: string) =>
  [...html.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((m) => m[1]!).find((row) => row.includes(marker)) ?? '';
const cell = (row: string, label: string) =>
  new RegExp(`<td data-label="${label}"[^>]*>([\\s\\S]*?)</td>`).exec(row)?.[1] ?? null;
/** The filter problems said above a list (the notice), one per field. */
const notice = (html: string) =>
  /<div class="notice notice-warning filter-problems"[\s\S]*?<\/div>/.exec(html)?.[0] ?? '';

describe('a filter that cannot be used is said, never dropped in silence', () => {
  it('transactions: a number, type or date that is not one is said at its field and above the list', async () => {
    const all = await loadTransactions(t.db, owner.entityId, TransactionsQuery.parse({}));
    for (const [query, field, said] of [
      ['number=-5', 'number', 'Number: “-5” is not a document number (a whole number from 1)'],
      ['number=1.5', 'number', 'Number: “1.5” is not a document number'],
      ['type=ZZ', 'type', 'Type: “ZZ” is not one of the ledger’s transaction types'],
      ['from=2026-02-30', 'from', 'Date from: “2026-02-30” is not a date (February 2026 has 28 days)'],
      ['from=30/11/2026', 'from', 'Date from: “30/11/2026” is not a date written YYYY-MM-DD'],
      ['to=1800-01-01', 'to', 'Date to: “1800-01-01” is outside the dates the ledger keeps (1900-01-01 to 2999-12-31)'],
    ] as const) {
      const html = await page(`/transactions?${query}`);
      // Said above the list, and what is shown instead…
      expect(notice(html), query).toContain(said);
      expect(notice(html), query).toContain('the transactions are shown without this filter');
      // …and at the field, which is marked invalid and described by it.
      expect(html, query).toMatch(
        new RegExp(`name="${field}"[^>]*aria-invalid="true" aria-describedby="${field}-problem"`),
      );
      expect(html, query).toContain(`<small class="field-error" id="${field}-problem">${said}`);
      // The list shown is what the notice says: every transaction, not a silent other search.
      const data = await loadTransactions(
        t.db,
        owner.entityId,
        TransactionsQuery.parse(Object.fromEntries(new URLSearchParams(query))),
      );
      expect(data.items.map((i) => i.transactionId)).toEqual(all.items.map((i) => i.transactionId));
      expect(data.problems.map((p) => p.field)).toEqual([field]);
    }
    // A good search beside a bad one still narrows by the good one.
    const mixed = await page('/transactions?customer=C003&number=abc');
    expect(notice(mixed)).toContain('“abc” is not a document number');
    expect(mixed).toContain('href="/customers/C003"');
    expect(mixed).not.toContain('href="/customers/C002"');
    // A customer code longer than any can match nothing, and says so rather than list everyone.
    const long = await page(`/transactions?customer=${'X'.repeat(60)}`);
    expect(notice(long)).toContain(
      'is longer than any customer code (at most 50 characters); no transaction can match',
    );
    expect(long).not.toContain('href="/customers/C002"');
    // A page link that was not made by the list: the newest page, said.
    expect(notice(await page('/transactions?after=2026-02-31_5'))).toContain('the newest page is shown');
    // A good search has no notice at all.
    expect(notice(await page('/transactions?customer=C002&from=2020-01-01'))).toBe('');
  });

  it('aged debtors: a date that is not one shows today’s report and says so', async () => {
    for (const [at, said] of [
      ['2026-02-30', 'As at: “2026-02-30” is not a date (February 2026 has 28 days)'],
      ['1800-01-01', 'As at: “1800-01-01” is outside the dates the ledger keeps'],
      ['abc', 'As at: “abc” is not a date written YYYY-MM-DD'],
    ]) {
      const html = await page(`/aged-debtors?at=${at}`);
      expect(notice(html), at).toContain(said);
      expect(notice(html), at).toContain('the report is as at today instead');
      expect(html, at).toMatch(/name="at" value="[^"]*" aria-invalid="true" aria-describedby="at-problem"/);
      // And it is today's report, which the field and the heading show.
      expect(html, at).toContain(`value="${TODAY}"`);
    }
    const basis = await page('/aged-debtors?basis=ZZ');
    expect(notice(basis)).toContain(
      'Age from: “ZZ” is not a basis (dueDate or transactionDate); it is aged on due dates instead',
    );
    expect(notice(await page(`/aged-debtors?at=${TODAY}`))).toBe('');
  });

  it('customers: a search longer than any code or name finds nothing, said; a bad page is the first, said', async () => {
    expect(await page('/customers')).toContain('href="/customers/C002"');
    const html = await page(`/customers?search=${'a'.repeat(3000)}`);
    expect(notice(html)).toContain(
      'Code or name: the search is 3000 characters, longer than any customer’s code or name (at most 200); no customer can match.',
    );
    expect(html).not.toContain('href="/customers/C002"');
    // The 3,000 characters are not echoed back whole.
    expect(html).not.toContain('a'.repeat(100));
    const paged = await page('/customers?page=abc');
    expect(notice(paged)).toContain('Page: “abc” is not a page number; the first page is shown.');
    expect(paged).toContain('href="/customers/C002"');
  });

  it('a search holding a NUL finds nothing and says why, never a server error', async () => {
    for (const path of [
      '/customers?search=a%00b',
      '/transactions?reference=a%00b',
      '/transactions?customer=C002%00',
      '/audit?action=a%00b',
      '/runs?pipeline=a%00b',
    ]) {
      const html = await page(path);
      expect(notice(html), path).toContain(
        'holds a character no stored text has (a NUL or a broken one); nothing can match it.',
      );
    }
    expect(await page('/customers?search=C002%00')).not.toContain('href="/customers/C002"');
    expect(await page('/transactions?customer=C002%00')).not.toContain('href="/customers/C002"');
  });

  it('audit log and runs: a date or status that is not one is said', async () => {
    const audit = await page('/audit?from=2026-02-30');
    expect(notice(audit)).toContain(
      'From: “2026-02-30” is not a date (February 2026 has 28 days); the entries are shown without this filter.',
    );
    expect(audit).toMatch(/name="from" value aria-invalid="true" aria-describedby="from-problem"/);
    const runs = await page('/runs?status=ZZ');
    expect(notice(runs)).toContain('Status: “ZZ” is not a run status; runs of every status are shown.');
  });
});

describe('credits read the same on every page', () => {
  it('shows a credit note and a receipt on account negative on /transactions, as on the customer page and aged debtors', async () => {
    const list = await page('/transactions?customer=C002');
    const note = rowWith(list, `>Sales credit note ${numbers.creditNote}</a>`);
    expect(cell(note, 'Amount')).toBe('-€242.00');
    expect(cell(note, 'Outstanding')).toBe('-€242.00');
    const receipt = rowWith(list, `>Sales receipt ${numbers.receipt}</a>`);
    expect(cell(receipt, 'Amount')).toBe('-€50.00');
    expect(cell(receipt, 'Outstanding')).toBe('-€50.00');
    const invoice = rowWith(list, `>Sales invoice ${numbers.invoice}</a>`);
    expect(cell(invoice, 'Outstanding')).toBe('€242.00');
    expect(list).toContain('credits (credit notes, receipts) are negative');

    const customer = await page('/customers/C002');
    const onCustomer = rowWith(customer, `/transactions/${ids.creditNote}"`);
    expect(cell(onCustomer, 'Amount')).toBe('-€242.00');
    expect(cell(onCustomer, 'Outstanding')).toBe('-€242.00');
    // Balance 242.00 − 242.00 − 50.00, the same on aged debtors.
    expect(customer).toContain('-€50.00');
    const aged = await page(`/aged-debtors?at=${TODAY}`);
    expect(cell(rowWith(aged, 'href="/customers/C002"'), 'Balance')).toContain('-€50.00');

    const detail = await page(`/transactions/${ids.creditNote}`);
    expect(detail).toMatch(
      /<dt>Outstanding<\/dt><dd>-€242\.00<small class="muted"> in the customer’s credit<\/small><\/dd>/,
    );
  });
});

describe('a credit is never overdue', () => {
  it('gives a credit note and a receipt no days overdue in the statement, its JSON, its PDF and the customer page', async () => {
    const statement = await customerStatement(t.db, owner.entityId, 'C002', TODAY, 'dueDate');
    const days = Object.fromEntries(statement.openItems.map((i) => [i.transactionId, i.daysOverdue]));
    expect(days).toEqual({ [ids.invoice!]: 100, [ids.creditNote!]: 0, [ids.receipt!]: 0 });
    // Still aged from their own date: six days old, in 1–30.
    expect(statement.aging.days1to30).toBe('-292.00');
    const json = await owner.get(`/v1/customers/C002/statement?upTo=${TODAY}`);
    expect(json.body.openItems.map((i: { daysOverdue: number }) => i.daysOverdue)).toEqual(
      statement.openItems.map((i) => i.daysOverdue),
    );

    const customer = await page('/customers/C002');
    expect(cell(rowWith(customer, `/transactions/${ids.creditNote}"`), 'Days overdue')).toBe('—');
    expect(cell(rowWith(customer, `/transactions/${ids.invoice}"`), 'Days overdue')).toBe('100');

    const pdf = await owner.get(`/v1/customers/C002/statement.pdf?upTo=${TODAY}`);
    expect(pdf.status).toBe(200);
    const { lines } = extractPdfText(pdf.body as Buffer);
    // Each row ends with its days: the invoice 100, the credit note and the receipt "-", never 6.
    const after = (marker: string) => lines[lines.indexOf(marker) + 4];
    expect(lines.slice(lines.indexOf('SI-OLD'), lines.indexOf('SI-OLD') + 5)).toContain('100');
    expect(after('CN-B1')).toBe('-');
    expect(after('ON-ACCOUNT')).toBe('-');
    expect(lines).not.toContain('6');
  });
});

describe('one set of aging buckets, credits drawn to scale', () => {
  it('shows current, 1–30, 31–60, 61–90, 91–120 and over 120 days on the overview, the customer page and aged debtors', async () => {
    const six = ['Current', '1–30 days', '31–60 days', '61–90 days', '91–120 days', 'Over 120 days'];
    for (const path of ['/', '/customers/C002']) {
      const html = await page(path);
      const table = /<details class="chart-data">[\s\S]*?<\/details>/.exec(html)?.[0] ?? '';
      expect(
        [...table.matchAll(/<th scope="row">([^<]*)<\/th>/g)].map((m) => m[1]),
        path,
      ).toEqual(six);
      expect(html, path).not.toContain('Over 90');
    }
    const customer = await page('/customers/C002');
    const numbers = /<details class="chart-data">[\s\S]*?<\/details>/.exec(customer)![0];
    expect(numbers).toContain('<th scope="row">91–120 days</th><td class="num">€242.00</td>');
    expect(numbers).toContain('<th scope="row">1–30 days</th><td class="num">-€292.00</td>');
    const aged = await page(`/aged-debtors?at=${TODAY}`);
    expect([...aged.matchAll(/<th scope="col" class="num">([^<]*)<\/th>/g)].map((m) => m[1]).slice(2, 8)).toEqual([
      'Current',
      '1–30',
      '31–60',
      '61–90',
      '91–120',
      'Over 120',
    ]);
  });

  it('draws a credit bucket below the zero line, to scale, not as a hairline', async () => {
    const html = await page('/customers/C002');
    const svg = /<figure class="chart aging-chart"[\s\S]*?<\/svg>/.exec(html)![0];
    const zero = Number(/<line class="chart-axis" x1="0" y1="([\d.]+)"/.exec(svg)![1]);
    const bars = [
      ...svg.matchAll(
        /<rect class="(chart-bar(?: negative)?)" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"/g,
      ),
    ].map((m) => ({ negative: m[1]!.includes('negative'), y: Number(m[2]), height: Number(m[3]) }));
    const credit = bars.find((b) => b.negative)!;
    const owed = bars.find((b) => !b.negative && b.height > 0)!;
    // 292.00 below the line, 242.00 above it, in proportion to the 116 units of the chart's height.
    expect(credit.y).toBeCloseTo(zero, 1);
    expect(owed.y + owed.height).toBeCloseTo(zero, 1);
    expect(credit.height).toBeCloseTo((292 / 534) * 116, 0);
    expect(owed.height).toBeCloseTo((242 / 534) * 116, 0);
    expect(html).toContain('Bars below the line are credits');
  });
});

describe('the audit log’s before and after', () => {
  it('shows lists as lists, long ones folded under their count, times as the dashboard writes them, and names whole', async () => {
    await recordAudit(t.db, {
      entityId: owner.entityId,
      actor: 'cli',
      action: 'test.readable',
      objectType: 'exception',
      objectId: '7',
      before: {
        status: 'open',
        tags: ['north', 'south'],
        resolvedAt: null,
        updatedAt: '2026-11-20T10:15:00.000Z',
        creditTerms: { endOfMonth: false },
        lines: [{ account: '4000', amount: '1.00' }],
      },
      after: {
        status: 'resolved',
        tags: ['north', 'south', 'east', 'west', 'up', 'down', 'centre'],
        resolvedAt: '2026-11-21T08:00:00Z',
        updatedAt: '2026-11-21T08:00:00Z',
        creditTerms: { endOfMonth: true },
        lines: [{ account: '4000', amount: '2.00', apiKey: 'k-999-secret' }],
      },
    });
    const html = await page('/audit?action=test.readable');
    expect(html).toContain('<ul class="audit-list"><li>north</li><li>south</li></ul>');
    expect(html).toContain(
      '<details class="audit-more"><summary>7 items</summary><ul class="audit-list"><li>north</li>',
    );
    expect(html).toContain('<time datetime="2026-11-20T10:15:00.000Z">20 Nov 2026, 10:15 UTC</time>');
    expect(html).toContain('<time datetime="2026-11-21T08:00:00Z">21 Nov 2026, 08:00 UTC</time>');
    // A dotted name may wrap after its dot, never inside a word.
    expect(html).toContain('<span class="field-name">creditTerms.<wbr/>endOfMonth</span>');
    // An object in a list, field by field; a secret in it hidden too.
    expect(html).toContain('<dt>amount</dt><dd>2.00</dd>');
    expect(html).toContain('<dt>apiKey</dt><dd>[secret]</dd>');
    expect(html).not.toContain('k-999-secret');
    // No raw JSON of a list.
    expect(html).not.toContain('[&quot;north');
    expect(html).not.toContain('["north');
  });
});

describe("a run's records", () => {
  it('shows what each record was booked as, linked, its exception when parked, and the imported file', async () => {
    const pipeline = await definePipeline(t.db, 'TBL', { name: 'recs', source: { type: 'records' } });
    const runId = await t.sync.processRecords(
      pipeline,
      'import',
      'test',
      [customerRecord('K1'), invoiceRecord('I-1', 'K1'), invoiceRecord('I-2', 'K9')].map((record) => ({ record })),
      { fileName: 'november-sales.csv' },
    );
    const { rows: booked } = await t.db.query<{ target_id: string }>(
      `SELECT target_id FROM sync_map WHERE pipeline_id = $1 AND kind = 'invoice' AND source_id = 'I-1'`,
      [pipeline.id],
    );
    const invoiceId = Number(booked[0]!.target_id);
    const { rows: heads } = await t.db.query<{ number: string }>('SELECT number FROM transactions WHERE id = $1', [
      invoiceId,
    ]);
    const { rows: parked } = await t.db.query<{ id: string }>(
      `SELECT id FROM exceptions WHERE pipeline_id = $1 AND source_id = 'I-2' AND status = 'open'`,
      [pipeline.id],
    );
    expect(parked).toHaveLength(1);

    const html = await page(`/runs/${runId}`);
    expect(html).toContain('<dt>File</dt><dd>november-sales.csv</dd>');
    const invoice = rowWith(html, '<code>I-1</code>');
    expect(cell(invoice, 'Booked as')).toBe(
      `<a href="/transactions/${invoiceId}">Sales invoice ${heads[0]!.number}</a>`,
    );
    const customer = rowWith(html, '<code>K1</code>');
    expect(cell(customer, 'Booked as')).toMatch(/^<a href="\/customers\/[^"]+">[^<]+<\/a>$/);
    const held = rowWith(html, '<code>I-2</code>');
    expect(cell(held, 'Outcome')).toContain(`<a href="/exceptions/${parked[0]!.id}">Exception ${parked[0]!.id}</a>`);
    expect(cell(held, 'Booked as')).toBe('—');
  });
});

describe("a run's records on a platform target", () => {
  it("shows the target's own id as it is, named as that target's, never as a ledger document", async () => {
    const hook = await definePipeline(t.db, 'TBL', {
      name: 'to-erp',
      source: { type: 'records' },
      target: {
        type: 'webhook',
        url: 'https://erp.example/documents',
        lookupUrl: 'https://erp.example/lookup/{kind}/{reference}',
        secret: 's'.repeat(32),
      },
    });
    const runId = (await createRun(t.db, {
      pipelineId: hook.id,
      entityId: owner.entityId,
      trigger: 'manual',
      createdBy: 'test',
    }))!;
    // The same digits as a ledger invoice's id: on another target they are that target's id, not the invoice.
    await addRunRecords(t.db, runId, [
      { kind: 'invoice', sourceId: 'I-9', outcome: 'created', targetId: String(ids.invoice) },
    ]);
    const html = await page(`/runs/${runId}`);
    expect(cell(rowWith(html, '<code>I-9</code>'), 'Booked as')).toBe(
      `<code>${ids.invoice}</code><small class="muted"> id in webhook</small>`,
    );
  });
});

describe('favicon, navigation and file names', () => {
  it('serves a favicon to anyone, cached for long', async () => {
    const r = await t.request('GET', '/favicon.ico');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('image/x-icon');
    expect(r.headers['cache-control']).toBe('public, max-age=31536000');
    const body = r.body as Buffer;
    // An ICO of one 32 × 32 image of 32-bit pixels, whose size is what the file holds.
    expect([...body.subarray(0, 8)]).toEqual([0, 0, 1, 0, 1, 0, 32, 32]);
    expect(body.readUInt16LE(12)).toBe(32);
    expect(body.readUInt32LE(14) + body.readUInt32LE(18)).toBe(body.length);
  });

  it('lists Aged debtors in the navigation, and names the section shown on the folded menu', async () => {
    const html = await page('/aged-debtors');
    expect(html).toContain('<a href="/aged-debtors" aria-current="page">Aged debtors</a>');
    expect(html).toMatch(
      /<details class="nav-menu"><summary>Menu<span class="nav-current">: Aged debtors<\/span><\/summary>/,
    );
    expect(await page('/customers')).toContain('<a href="/aged-debtors">Aged debtors</a>');
  });

  it('folds the transactions search under a summary of what it searches', async () => {
    const html = await page('/transactions?customer=C002&type=SN');
    expect(html).toContain(
      '<details class="search-panel"><summary>Search<span class="active-filters">: customer C002 · Sales credit note</span></summary>',
    );
    // A field with a problem keeps the form open.
    expect(await page('/transactions?from=2026-02-30')).toContain('<details class="search-panel" open>');
  });

  it("names a document's PDF after its number, not the internal id", async () => {
    const name = async (id: number) =>
      String((await owner.get(`/v1/transactions/${id}/pdf`)).headers['content-disposition']);
    expect(await name(ids.invoice!)).toBe(`inline; filename="Invoice-${numbers.invoice}.pdf"`);
    expect(await name(ids.creditNote!)).toBe(`inline; filename="Credit-note-${numbers.creditNote}.pdf"`);
    expect(await name(ids.receipt!)).toBe(`inline; filename="Receipt-${numbers.receipt}.pdf"`);
  });
});
