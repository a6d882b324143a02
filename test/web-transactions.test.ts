import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { postInvoice, postReceipt, seedCustomer } from './helpers/ledger.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';
import { listAudit, recordAudit } from '../src/ledger/audit.ts';
import { listTransactions } from '../src/ledger/reports/transaction-list.ts';
import { TransactionsQuery, loadTransactions } from '../src/web/pages/transactions.tsx';
import { AuditQuery, auditDiff, loadAudit } from '../src/web/pages/audit.tsx';

/*
 * The Transactions and Audit log pages over HTTP and their loaders: each search field narrows, keyset
 * paging yields every row once, another entity's transaction is not found, what a source wrote is
 * escaped, and the audit log shows before and after without secrets.
 */

let t: TestApp;
let owner: Client;
let other: Client;
let viewer: Browser;
let otherInvoice: number;
const XSS = '<img src=x onerror=alert(1)>';
const ids: { id: number; customer: string; date: string; ref: string; type: string; number: number }[] = [];

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 12 });
  owner = await t.entity('WTX', 'EUR');
  other = await t.entity('WTXO', 'EUR');
  await seedCustomer(t.db, owner.entityId, 'C1');
  await seedCustomer(t.db, owner.entityId, 'C2');
  await seedCustomer(t.db, other.entityId, 'C1');
  const user = await addUser(t, owner, 'vera@example.com', 'viewer');
  viewer = await signIn(t, user.email, user.password);
  // 60 invoices over two customers and three months, then two receipts: more than one page (50).
  for (let i = 1; i <= 60; i++) {
    const customer = i % 3 === 0 ? 'C2' : 'C1';
    const date = `2026-${String(8 + (i % 3)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}`;
    const ref = i === 7 ? XSS : `Ord-${String(i).padStart(3, '0')}`;
    const r = await postInvoice(owner, customer, `${i}.00`, { invoiceDate: date, externalReference: ref });
    ids.push({ id: r.transactionId, customer, date, ref, type: 'SI', number: r.number });
  }
  for (const customer of ['C1', 'C2']) {
    const r = await postReceipt(owner, customer, '5.00', { checkReference: `PAY-${customer}` });
    ids.push({
      id: r.transactionId,
      customer,
      date: '2026-11-05',
      ref: `PAY-${customer}`,
      type: 'SR',
      number: r.number,
    });
  }
  otherInvoice = (await postInvoice(other, 'C1', '9.00', { externalReference: 'SECRET-OTHER-REF' })).transactionId;
}, 120_000);
afterAll(async () => t.close());

const page = (path: string) => viewer.request('GET', path);
const html = (r: { body: unknown }) => String(r.body);
const load = (query: Record<string, string>) => loadTransactions(t.db, owner.entityId, TransactionsQuery.parse(query));

/** The pager's links of a rendered list page: Newest, Previous and Older, null when absent. */
function pagerLinks(text: string): { newest: string | null; previous: string | null; older: string | null } {
  const nav = text.match(/<nav class="pager"[\s\S]*?<\/nav>/)?.[0] ?? '';
  const href = (re: RegExp) => nav.match(re)?.[1]?.replaceAll('&amp;', '&') ?? null;
  return {
    newest: href(/<a href="([^"]*)">↑ Newest<\/a>/),
    previous: href(/<a href="([^"]*)" rel="prev">/),
    older: href(/<a href="([^"]*)" rel="next">/),
  };
}

/** The rows of a rendered list page, as the links (transactions) or entry ids (audit) they show. */
const rowsOf = (text: string) =>
  [...text.matchAll(/<td data-label="Document"><a href="(\/transactions\/\d+)">|<dt>Entry<\/dt><dd>(\d+)<\/dd>/g)].map(
    (m) => m[1] ?? m[2] ?? '',
  );

/** Every id of a search, following the keyset cursor to the last page. */
async function allPages(query: Record<string, string>): Promise<number[]> {
  const seen: number[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < 10; pages++) {
    const data = await load({ ...query, ...(after ? { after } : {}) });
    seen.push(...data.items.map((i) => i.transactionId));
    if (data.nextCursor === null) return seen;
    after = String(data.nextCursor);
  }
  throw new Error('paging did not end');
}

describe('transactions search', () => {
  it('narrows by each field, newest first', async () => {
    const inv = ids.find((i) => i.ref === 'Ord-010')!;
    const byNumber = await load({ number: String(inv.number) });
    expect(byNumber.items.map((i) => i.number)).toSatisfy(
      (n: number[]) => n.length >= 1 && n.every((x) => x === inv.number),
    );
    expect(byNumber.items.map((i) => i.transactionId)).toContain(inv.id);

    // The start of a reference, in any case; `_` is literal, not a wildcard.
    const byRef = await load({ reference: 'ord-01' });
    expect(byRef.items.map((i) => i.externalReference).sort()).toEqual(
      ids
        .filter((i) => i.ref.startsWith('Ord-01'))
        .map((i) => i.ref)
        .sort(),
    );
    expect((await load({ reference: 'Ord_01' })).items).toEqual([]);

    const c2 = await allPages({ customer: 'c2' });
    expect(c2.sort()).toEqual(
      ids
        .filter((i) => i.customer === 'C2')
        .map((i) => i.id)
        .sort(),
    );

    const receipts = await load({ type: 'SR' });
    expect(receipts.items.map((i) => i.transactionId).sort()).toEqual(
      ids
        .filter((i) => i.type === 'SR')
        .map((i) => i.id)
        .sort(),
    );

    const september = await allPages({ from: '2026-09-01', to: '2026-09-30' });
    expect(september.sort()).toEqual(
      ids
        .filter((i) => i.date.startsWith('2026-09'))
        .map((i) => i.id)
        .sort(),
    );

    const combined = await load({ customer: 'C1', from: '2026-10-01', to: '2026-10-31', type: 'SI' });
    expect(combined.items.map((i) => i.transactionId).sort()).toEqual(
      ids
        .filter((i) => i.customer === 'C1' && i.date.startsWith('2026-10'))
        .map((i) => i.id)
        .sort(),
    );
    expect(combined.items.length).toBeGreaterThan(0);
  });

  it('pages through every transaction exactly once, newest first, by keyset', async () => {
    const first = await load({});
    expect(first.items).toHaveLength(50);
    const last = first.items.at(-1)!;
    expect(first.nextCursor).toBe(`${last.transactionDate}_${last.transactionId}`);
    const seen = await allPages({});
    expect(new Set(seen).size).toBe(ids.length);
    // Newest document date first, then the newest posted (the two receipts share a date).
    const expected = [...ids].sort((a, b) => b.date.localeCompare(a.date) || b.id - a.id).map((i) => i.id);
    expect(seen).toEqual(expected);
    expect(seen).not.toContain(otherInvoice);
    // A filtered search pages the same way.
    const c1 = await allPages({ customer: 'C1' });
    expect(new Set(c1).size).toBe(c1.length);
    expect(c1.sort()).toEqual(
      ids
        .filter((i) => i.customer === 'C1')
        .map((i) => i.id)
        .sort(),
    );
  });

  it('the API pages the same way with after/order and says the next cursor', async () => {
    const a = await owner.get('/v1/transactions?order=desc&pageSize=40');
    expect(a.status).toBe(200);
    expect(a.body.total).toBe(ids.length);
    const b = await owner.get(`/v1/transactions?order=desc&pageSize=40&after=${a.body.nextCursor}`);
    expect(b.body.nextCursor).toBeNull();
    const both = [...a.body.items, ...b.body.items].map((i: { transactionId: number }) => i.transactionId);
    expect(new Set(both).size).toBe(ids.length);
    const byNumber = await owner.get(`/v1/transactions?number=${ids[0]!.number}&type=SI&referenceStartsWith=ORD`);
    expect(byNumber.body.items.map((i: { transactionId: number }) => i.transactionId)).toEqual([ids[0]!.id]);
    expect((await owner.get('/v1/transactions?after=abc')).status).toBe(400);
    // The ledger's date order with its (date, id) cursor, as the dashboard pages.
    const byDate = await listTransactions(t.db, owner.entityId, {
      order: 'dateDesc',
      after: ids[1]!.id,
      afterDate: ids[1]!.date,
      page: 1,
      pageSize: 500,
      count: false,
    });
    expect(byDate.total).toBeNull();
    expect(
      byDate.items.every(
        (i) => i.transactionDate < ids[1]!.date || (i.transactionDate === ids[1]!.date && i.transactionId < ids[1]!.id),
      ),
    ).toBe(true);
    expect(byDate.items.length).toBe(ids.filter((i) => i.date < ids[1]!.date).length);
  });

  it('renders the list with readable types, links, right-aligned amounts, and an empty state', async () => {
    const r = await page('/transactions?customer=C2&type=SR');
    expect(r.status).toBe(200);
    const text = html(r);
    expect(text).toContain('<option value="SR" selected>Sales receipt (SR)</option>');
    expect(text).toMatch(/href="\/transactions\/\d+">Sales receipt \d+<\/a>/);
    expect(text).toContain('href="/customers/C2"');
    // A receipt takes off what the customer owes: negative, as on the customer's page.
    expect(text).toMatch(/<td data-label="Amount" class="num">-€5\.00<\/td>/);
    const none = html(await page('/transactions?reference=NOTHING-LIKE-THIS'));
    expect(none).toContain('No transaction matches this search');
    // A value that cannot be one of the choices is set aside and said so, a reversed range too; never a 500.
    const bad = await page('/transactions?number=abc&type=ZZ&from=2026-13-01&after=2026-02-31_5');
    expect(bad.status).toBe(200);
    for (const said of [
      '“abc” is not a document number',
      '“ZZ” is not one of the ledger’s',
      '“2026-13-01” is not a date',
    ])
      expect(html(bad)).toContain(said);
    expect(html(bad)).toContain('the newest page is shown');
    expect((await page('/transactions?after=x_1%27%3B')).status).toBe(200);
    expect(html(await page('/transactions?from=2026-10-01&to=2026-09-01'))).toContain('is after the');
  });

  it('pages to older transactions and back to the newest, keeping the search', async () => {
    const first = html(await page('/transactions?type=SI'));
    const firstRows = rowsOf(first);
    expect(firstRows).toHaveLength(50);
    expect(pagerLinks(first)).toMatchObject({ newest: null, previous: null });
    const older = pagerLinks(first).older!;
    expect(older).toMatch(/^\/transactions\?type=SI&after=\d{4}-\d{2}-\d{2}_\d+&back=-$/);

    const second = html(await page(older));
    const secondRows = rowsOf(second);
    expect(secondRows).toHaveLength(10);
    expect(secondRows.some((r) => firstRows.includes(r))).toBe(false);
    // The page before is the newest: one link back, not two to the same place.
    const links = pagerLinks(second);
    expect(links).toEqual({ newest: '/transactions?type=SI', previous: null, older: null });
    expect(rowsOf(html(await page(links.newest!)))).toEqual(firstRows);
  });

  it('escapes a reference a source wrote, in the list and the detail', async () => {
    const xss = ids.find((i) => i.ref === XSS)!;
    for (const path of ['/transactions?reference=%3Cimg', `/transactions/${xss.id}`]) {
      const text = html(await page(path));
      expect(text, path).toContain('&lt;img src=x onerror=alert(1)>');
      expect(text, path).not.toContain(XSS);
    }
  });
});

describe('transaction detail', () => {
  it('shows the header, journal, allocations, attachments and the PDF inline', async () => {
    const receipt = ids.find((i) => i.ref === 'PAY-C1')!;
    const inv = ids.find((i) => i.ref === 'Ord-001')!;
    const alloc = await owner.post('/v1/allocations', {
      transactionId1: inv.id,
      transactionId2: receipt.id,
      amount: '1.21',
      date: '2026-11-05',
      reference: 'ALLOC-T',
    });
    expect(alloc.status, JSON.stringify(alloc.body)).toBe(201);
    const r = await page(`/transactions/${inv.id}`);
    expect(r.status).toBe(200);
    const text = html(r);
    expect(text).toContain(`Sales invoice ${inv.number}`);
    expect(text).toContain('href="/customers/C1"');
    expect(text).toContain('Customer C1 (C1)');
    expect(text).toContain('Ord-001');
    // Journal: the debtors control debit, the sales and VAT credits (1.00 net, 0.21 VAT).
    expect(text).toMatch(/1100 <small class="muted">Debtors control<\/small>[\s\S]*?€1\.21/);
    expect(text).toMatch(/4000 <small class="muted">Sales<\/small>[\s\S]*?€1\.00/);
    expect(text).toContain(
      `<iframe class="pdf" src="/v1/transactions/${inv.id}/pdf" title="Sales invoice ${inv.number} as PDF">`,
    );
    expect(text).toMatch(new RegExp(`href="/transactions/${receipt.id}">Sales receipt ${receipt.number}</a>`));
    expect(text).toContain('ALLOC-T');
    expect(text).toMatch(/<dt>Outstanding<\/dt><dd>€0\.00<\/dd>/);
    expect(text).toContain('No files attached');
    // The PDF answers to the session cookie and may be framed by this origin only.
    const pdf = await page(`/v1/transactions/${inv.id}/pdf`);
    expect(pdf.status).toBe(200);
    expect(String(pdf.headers['content-type'])).toContain('application/pdf');
    expect(String(pdf.headers['content-security-policy'])).toContain("frame-ancestors 'self'");
    expect(String(r.headers['content-security-policy'])).toContain("frame-src 'self'");
    expect(text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(text).not.toMatch(/\sstyle=/);
  });

  it('lists attachments with their size and a download link', async () => {
    const inv = ids.find((i) => i.ref === 'Ord-002')!;
    const boundary = 'XBOUNDARY';
    const body = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="order <1>.csv"\r\nContent-Type: text/csv\r\n\r\na,b\r\n1,2\r\n--${boundary}--\r\n`,
    );
    const up = await t.app.inject({
      method: 'POST',
      url: `/v1/transactions/${inv.id}/attachments`,
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: body,
    });
    expect(up.statusCode, up.body).toBe(201);
    const id = (JSON.parse(up.body) as { attachmentId: number }).attachmentId;
    const text = html(await page(`/transactions/${inv.id}`));
    expect(text).toContain(`href="/v1/transactions/${inv.id}/attachments/${id}"`);
    expect(text).toContain('order &lt;1>.csv');
    expect(text).toMatch(/8 byte/);
    const file = await page(`/v1/transactions/${inv.id}/attachments/${id}`);
    expect(file.status).toBe(200);
  });

  it("answers another entity's transaction with 404 and nothing of it", async () => {
    for (const path of [`/transactions/${otherInvoice}`, `/v1/transactions/${otherInvoice}/pdf`]) {
      const r = await page(path);
      expect(r.status, path).toBe(404);
      expect(html(r), path).not.toContain('SECRET-OTHER-REF');
    }
    expect((await page('/transactions/99999999999999999999')).status).toBe(404);
    expect((await page('/transactions/abc')).status).toBe(404);
  });

  it("links a customer's open items to their transaction", async () => {
    const inv = ids.find((i) => i.ref === 'Ord-004')!;
    const text = html(await page('/customers/C1'));
    expect(text).toContain(`href="/transactions/${inv.id}"`);
  });
});

describe('audit log', () => {
  it('shows before and after of a change, the changed fields marked, and no secret', async () => {
    const created = await owner.put('/v1/customers/AUD1', { name: 'Old Name Ltd' });
    expect(created.status).toBeLessThan(300);
    const read = await owner.get('/v1/customers/AUD1');
    const updated = await owner.put('/v1/customers/AUD1', {
      name: 'New <b>Name</b> Ltd',
      rowVersion: read.body.rowVersion,
    });
    expect(updated.status).toBe(200);
    await recordAudit(t.db, {
      entityId: owner.entityId,
      actor: 'cli',
      action: 'test.secret',
      objectType: 'connection',
      objectId: 'x',
      before: { clientSecret: 'hunter2-before', label: 'a' },
      after: { clientSecret: 'hunter2-after', label: 'b', nested: { apiKey: 'k-123456' } },
    });

    const r = await page('/audit?action=customer.updated&objectId=AUD1');
    expect(r.status).toBe(200);
    const text = html(r);
    expect(text).toContain('<details>');
    expect(text).toMatch(
      /<tr class="changed"><th scope="row"><span class="field-name">name<\/span><span class="change-mark"> changed<\/span><\/th><td data-label="Before"><del>Old Name Ltd<\/del><\/td><td data-label="After"><ins>New &lt;b>Name&lt;\/b> Ltd<\/ins><\/td><\/tr>/,
    );
    expect(text).not.toContain('customer.created');

    const secret = html(await page('/audit?action=test.secret'));
    expect(secret).toContain('[secret]');
    expect(secret).not.toContain('hunter2');
    expect(secret).not.toContain('k-123456');
    expect(secret).toMatch(/label<\/span><span class="change-mark"> changed/);
    expect(auditDiff({ a: 1, b: { c: 2 } }, { a: 1, b: { c: 3 } })).toEqual([
      { field: 'a', before: 1, after: 1, changed: false },
      { field: 'b.c', before: 2, after: 3, changed: true },
    ]);
  });

  it('searches by actor e-mail, object, request id and date, and pages every entry once', async () => {
    const all = await listAudit(t.db, { entityId: owner.entityId, page: 1, pageSize: 500 });
    expect(all.total).toBeGreaterThan(50);
    const seen: number[] = [];
    let before: string | undefined;
    for (let i = 0; i < 20; i++) {
      const data = await loadAudit(t.db, owner.entityId, AuditQuery.parse(before ? { before } : {}));
      seen.push(...data.items.map((e) => e.id));
      if (data.nextCursor === null) break;
      before = String(data.nextCursor);
    }
    expect(seen).toEqual(all.items.map((e) => e.id));
    expect(new Set(seen).size).toBe(all.total);

    const withRequest = all.items.find((e) => e.requestId)!;
    const byRequest = await loadAudit(t.db, owner.entityId, AuditQuery.parse({ requestId: withRequest.requestId }));
    expect(byRequest.items.map((e) => e.id)).toEqual([withRequest.id]);

    const signIns = await loadAudit(t.db, owner.entityId, AuditQuery.parse({ actor: 'vera@example.com' }));
    expect(signIns.items.length).toBeGreaterThan(0);
    expect(signIns.items.every((e) => e.actorLabel === 'vera@example.com')).toBe(true);
    expect(html(await page('/audit?actor=nobody@example.com'))).toContain('No user of this entity has the e-mail');

    const today = new Date().toISOString().slice(0, 10);
    expect(
      (await loadAudit(t.db, owner.entityId, AuditQuery.parse({ from: today, objectType: 'customer' }))).items.length,
    ).toBeGreaterThan(0);
    expect((await loadAudit(t.db, owner.entityId, AuditQuery.parse({ to: '2000-01-01' }))).items).toEqual([]);
    // The other entity's entries are not this entity's.
    const theirs = await listAudit(t.db, { entityId: other.entityId, page: 1, pageSize: 500 });
    expect(seen.some((id) => theirs.items.some((e) => e.id === id))).toBe(false);
  });

  it('goes back page by page with Previous, and to the newest, keeping the search', async () => {
    for (let i = 0; i < 120; i++)
      await recordAudit(t.db, { entityId: owner.entityId, actor: 'cli', action: 'test.paging', objectId: String(i) });
    const pages: string[][] = [];
    const urls: string[] = [];
    let url: string | null = '/audit?action=test.paging';
    while (url) {
      const text = html(await page(url));
      urls.push(url);
      pages.push(rowsOf(text));
      url = pagerLinks(text).older;
    }
    expect(pages.map((p) => p.length)).toEqual([50, 50, 20]);
    expect(new Set(pages.flat()).size).toBe(120);

    const third = pagerLinks(html(await page(urls[2]!)));
    expect(third.newest).toBe('/audit?action=test.paging');
    expect(third.previous).toMatch(/^\/audit\?action=test\.paging&before=\d+&back=-$/);
    const second = html(await page(third.previous!));
    expect(rowsOf(second)).toEqual(pages[1]);
    // From the second page, the page before is the newest: Newest only.
    expect(pagerLinks(second).previous).toBeNull();
    expect(rowsOf(html(await page(pagerLinks(second).newest!)))).toEqual(pages[0]);
    expect(rowsOf(html(await page(third.newest!)))).toEqual(pages[0]);
    // A page opened without its trail (a bookmark) offers Newest only; a forged trail is ignored.
    const bookmarked = pagerLinks(html(await page(urls[2]!.replace(/&back=[^&]*/, ''))));
    expect(bookmarked).toMatchObject({ newest: '/audit?action=test.paging', previous: null });
    const forged = await page(`${urls[2]!.replace(/&back=[^&]*/, '')}&back=-,abc`);
    expect(forged.status).toBe(200);
    expect(pagerLinks(html(forged)).previous).toBeNull();
  });

  it('serves both pages to a viewer under the strict CSP, in the navigation', async () => {
    for (const path of ['/transactions', '/audit', `/transactions/${ids[0]!.id}`]) {
      const r = await page(path);
      expect(r.status, path).toBe(200);
      const text = html(r);
      expect(text, path).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(text, path).not.toMatch(/<[^>]*\son[a-z]+=/i);
      expect(text, path).toContain('<a href="/transactions"');
      expect(text, path).toContain('<a href="/audit"');
    }
  });
});

describe("a receipt's fee and a journal's reversal on the transaction pages", () => {
  it('shows the fee and its journal both ways, and reverses the journal for accountants only', async () => {
    const books = await t.entity('WTXF', 'EUR');
    await seedCustomer(t.db, books.entityId, 'C1');
    const receipt = (await postReceipt(books, 'C1', '100.00', { checkReference: 'PAY-9' })).transactionId;
    const keyed = await books.post('/v1/journals', {
      date: '2026-11-06',
      reference: 'PAY-9',
      description: 'Stripe fee',
      lines: [
        { glAccountCode: '7700', debit: '1.50' },
        { glAccountCode: '1200', credit: '1.50' },
      ],
    });
    const journal = Number(keyed.body.transactionId);
    expect((await books.put(`/v1/transactions/${receipt}/fee`, { journalId: journal })).status).toBe(200);
    const accountant = await signIn(t, ...(await credentials(addUser(t, books, 'anna@example.com', 'accountant'))));
    const looker = await signIn(t, ...(await credentials(addUser(t, books, 'luke@example.com', 'viewer'))));

    const receiptPage = html(await looker.request('GET', `/transactions/${receipt}`));
    expect(receiptPage).toMatch(
      new RegExp(
        `<dt>Payment provider’s fee</dt><dd><a href="/transactions/${journal}">General journal \\d+</a> €1\\.50<small class="muted"> keyed by hand</small>`,
      ),
    );
    const journalPage = html(await looker.request('GET', `/transactions/${journal}`));
    expect(journalPage).toMatch(
      new RegExp(`<dt>Fee of</dt><dd><a href="/transactions/${receipt}">Receipt \\d+ \\(PAY-9\\)</a>`),
    );
    // A viewer gets no button, and is refused all the same.
    expect(journalPage).not.toContain('Reverse journal');
    const form = { 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true' };
    const refused = await looker.request('POST', `/transactions/${journal}/reverse`, 'date=2026-11-20', form);
    expect([refused.status, html(refused)]).toEqual([403, expect.stringContaining('FORBIDDEN_ROLE')]);

    const offered = html(await accountant.request('GET', `/transactions/${journal}`));
    expect(offered).toContain(`hx-post="/transactions/${journal}/reverse"`);
    expect(offered).toContain('Its receipt is left without one: if the payment had a fee, key the right one');
    const early = await accountant.request('POST', `/transactions/${journal}/reverse`, 'date=2026-11-01', form);
    expect([early.status, html(early)]).toEqual([422, expect.stringContaining('JOURNAL_REVERSAL_DATE_BEFORE_JOURNAL')]);
    // A day the calendar does not have is refused, saying why.
    const noSuchDay = await accountant.request('POST', `/transactions/${journal}/reverse`, 'date=2026-11-31', form);
    expect([noSuchDay.status, html(noSuchDay)]).toEqual([400, expect.stringContaining('November 2026 has 30 days')]);
    const done = await accountant.request('POST', `/transactions/${journal}/reverse`, 'date=2026-11-20', form);
    expect(done.status, html(done)).toBe(200);
    const reversal = Number(String(done.headers['hx-redirect']).match(/^\/transactions\/(\d+)$/)?.[1]);
    expect(reversal).toBeGreaterThan(journal);

    const reversalPage = html(await looker.request('GET', `/transactions/${reversal}`));
    expect(reversalPage).toContain(`<dt>Reverses</dt><dd><a href="/transactions/${journal}">`);
    const reversedPage = html(await accountant.request('GET', `/transactions/${journal}`));
    expect(reversedPage).toContain(`<dt>Reversed by</dt><dd><a href="/transactions/${reversal}">`);
    expect(reversedPage).not.toContain('Reverse journal');
    expect(html(await looker.request('GET', `/transactions/${receipt}`))).toContain(
      '<dt>Payment provider’s fee</dt><dd>—</dd>',
    );
    const audit = await listAudit(t.db, { entityId: books.entityId, page: 1, pageSize: 50 });
    expect(audit.items.filter((e) => e.action === 'journal.reversed').map((e) => [e.actor, e.after])).toEqual([
      [expect.stringMatching(/^user:/), { reversal, date: '2026-11-20', feeOfReceipt: receipt }],
    ]);
  });
});

async function credentials(user: Promise<{ email: string; password: string }>): Promise<[string, string]> {
  const u = await user;
  return [u.email, u.password];
}
