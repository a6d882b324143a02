import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { postInvoice, seedCustomer } from './helpers/ledger.ts';
import { definePipeline } from './helpers/sync.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';
import { parkRecords } from '../src/sync/exceptions.ts';
import { documentsPerHour } from '../src/sync/activity.ts';
import { receivablesAging } from '../src/ledger/reports/receivables.ts';
import { formatMoney, localeOf } from '../src/web/format.ts';

/*
 * The dashboard's pages over HTTP (the browser tests in test/browser drive them in Chromium): who may
 * see them, what they show, and that nothing in them needs an inline script or style.
 */

let t: TestApp;
let owner: Client;
let anna: Browser;
let pipelineId: string;

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 12 });
  owner = await t.entity('WEBT', 'EUR');
  const user = await addUser(t, owner, 'anna@example.com', 'accountant');
  anna = await signIn(t, user.email, user.password);
  pipelineId = (await definePipeline(t.db, 'WEBT', { name: 'recs', source: { type: 'records' } })).id;
  const old = new Date(Date.now() - 10 * 86_400_000);
  await parkRecords(t.db, pipelineId, owner.entityId, null, [
    {
      kind: 'invoice',
      sourceId: 'A-1',
      reasonCode: 'CUSTOMER_NOT_SYNCED',
      message: 'no customer C9',
      payload: {},
      needs: { kind: 'customer', sourceId: 'C9' },
    },
    { kind: 'invoice', sourceId: 'A-2', reasonCode: 'AMOUNT_INVALID', message: 'bad <b>amount</b>', payload: {} },
    // It names its customer too, but the source said it has none: someone must restore it there.
    {
      kind: 'invoice',
      sourceId: 'A-3',
      reasonCode: 'SOURCE_CUSTOMER_NOT_FOUND',
      message: 'the source has no customer G1',
      payload: {},
      needs: { kind: 'customer', sourceId: 'G1' },
    },
  ]);
  await t.db.query(`UPDATE exceptions SET created_at = $1 WHERE source_id = 'A-1'`, [old]);
});
afterAll(async () => t.close());

const page = (path: string, headers: Record<string, string> = {}) => anna.request('GET', path, undefined, headers);
const html = (r: { body: unknown }) => String(r.body);

describe('format', () => {
  it('takes the best locale the browser names, and amounts digit for digit', () => {
    expect(localeOf('xx-YY;q=0.9, de-DE;q=0.8, fr;q=0.95')).toBe('fr');
    expect(localeOf('')).toBe('en-GB');
    expect(localeOf('*')).toBe('en-GB');
    // Beyond a double's 15–17 significant digits: a float would round these.
    expect(formatMoney('12345678901234567.89', 'EUR', 'de-DE').replace(/\s/g, ' ')).toBe('12.345.678.901.234.567,89 €');
    expect(formatMoney('-1.235', 'KWD', 'en-GB').replace(/\s/g, ' ')).toBe('-KWD 1.235');
    expect(formatMoney('1234', 'JPY', 'en-US')).toBe('¥1,234');
  });
});

describe('pages', () => {
  it('sends a visitor without a session to sign in, and back', async () => {
    const r = await t.request('GET', '/exceptions?reason=AMOUNT_INVALID');
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/sign-in?next=%2Fexceptions%3Freason%3DAMOUNT_INVALID');
    const htmx = await t.request('GET', '/runs/00000000-0000-0000-0000-000000000000/progress', undefined, {
      'hx-request': 'true',
      'hx-current-url': 'http://x/runs',
    });
    expect(htmx.status).toBe(401);
    expect(htmx.headers['hx-redirect']).toBe('/sign-in?next=%2Fruns');
    // A bearer token is for scripts: pages want the browser session.
    expect((await owner.get('/')).status).toBe(303);
    const signInPage = await t.request('GET', '/sign-in?next=//evil.example/');
    expect(html(signInPage)).toContain('data-next="/"');
  });

  it('serves every page without an inline script or style, under the strict CSP', async () => {
    for (const path of [
      '/',
      '/runs',
      '/exceptions',
      '/exceptions?status=all',
      '/customers',
      '/aged-debtors',
      '/sign-in',
      '/sign-in/set-password',
    ]) {
      const r = path.startsWith('/sign-in') ? await t.request('GET', path) : await page(path);
      expect(r.status, path).toBe(200);
      expect(String(r.headers['content-security-policy'])).toContain("script-src 'self'");
      const text = html(r);
      expect(text, path).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(text, path).not.toMatch(/\sstyle=/);
      expect(text, path).not.toMatch(/\son[a-z]+=/);
    }
    const css = await t.request('GET', '/assets/pico.min.css');
    expect(css.status).toBe(200);
    expect(String(css.headers['content-type'])).toContain('text/css');
    expect((await t.request('GET', '/assets/../package.json')).status).toBe(404);
  });

  it('filters exceptions by reason and age, and escapes what the source sent', async () => {
    const byReason = html(await page('/exceptions?reason=AMOUNT_INVALID'));
    expect(byReason).toContain('A-2');
    expect(byReason).not.toContain('A-1');
    expect(byReason).toContain('bad &lt;b>amount&lt;/b>');
    const old = html(await page('/exceptions?age=older'));
    expect(old).toContain('A-1');
    expect(old).not.toContain('A-2');
    const young = html(await page('/exceptions?age=day'));
    expect(young).toContain('A-2');
    expect(young).not.toContain('A-1');
    // Who acts: A-1 goes by itself once its customer is booked; wait for a person.
    const itself = html(await page('/exceptions?needs=itself'));
    expect(itself).toContain('A-1');
    expect(itself).not.toContain('A-2');
    expect(itself).not.toContain('A-3');
    expect(itself).toContain('<span class="badge badge-itself">Goes by itself</span>');
    const person = html(await page('/exceptions?needs=person'));
    expect(person).not.toContain('A-1');
    expect(person).toContain('A-2');
    expect(person).toContain('A-3');
    expect(person).not.toContain('badge-itself');
    expect(person).toContain('<option value="person" selected');
    // The bulk retry keeps the filter, to show the same list afterwards.
    expect(person).toContain('name="filter.needs" value="person"');
    // The overview says how many of the three wait for a person, linked to them.
    const overview = html(await page('/'));
    expect(overview).toContain('<a href="/exceptions?needs=person">2 need a person</a>');
    expect(overview).toContain('1 will go by itself once what it needs is booked.');
    // A filter value that is not one of the choices is ignored, never a failure.
    expect((await page('/exceptions?age=forever&page=-3&status=x&needs=nobody')).status).toBe(200);
    const unknown = await page('/exceptions?pipeline=nope');
    expect(unknown.status).toBe(404);
    expect(html(unknown)).toContain('No pipeline named nope');
    expect((await page('/exceptions/abc')).status).toBe(404);
    expect((await page('/exceptions/999999')).status).toBe(404);
  });

  it('resolves with a note only with the CSRF token, and refuses an empty note', async () => {
    const { rows } = await t.db.query<{ id: string }>(`SELECT id FROM exceptions WHERE source_id = 'A-2'`);
    const id = rows[0]!.id;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const noToken = await t.request('POST', `/exceptions/${id}/resolve`, 'note=done', { cookie: anna.cookie, ...form });
    expect(noToken.status).toBe(403);
    expect(html(noToken)).toContain('CSRF_TOKEN_INVALID');
    const empty = await anna.request('POST', `/exceptions/${id}/resolve`, `note=%20&_csrf=${anna.csrfToken}`, form);
    expect(empty.status).toBe(400);
    expect(empty.headers['hx-retarget']).toBeUndefined();
    const done = await anna.request('POST', `/exceptions/${id}/resolve`, `note=booked+by+hand&_csrf=x`, {
      ...form,
      'hx-request': 'true',
    });
    expect(done.status).toBe(200);
    expect(html(done)).toContain('Resolved.');
    const { rows: after } = await t.db.query<{ status: string; note: string; resolved_by: string }>(
      `SELECT status, note, resolved_by FROM exceptions WHERE id = $1`,
      [id],
    );
    expect(after[0]).toMatchObject({ status: 'resolved', note: 'booked by hand' });
    expect(after[0]!.resolved_by).toMatch(/^user:/);
  });

  it('offers no retry for a document the source changed after it was booked: it is resolved once the correction is booked', async () => {
    await parkRecords(t.db, pipelineId, owner.entityId, null, [
      {
        kind: 'invoice',
        sourceId: 'A-9',
        reasonCode: 'INVOICE_ALREADY_POSTED_CHANGED',
        message: 'Booked (target id 7), and the source has changed it since (gross EUR 121.00 → EUR 133.10)',
        field: 'lines',
        payload: { received: { sourceId: 'A-9' } },
      },
    ]);
    const { rows } = await t.db.query<{ id: string }>(`SELECT id FROM exceptions WHERE source_id = 'A-9'`);
    const detail = html(await page(`/exceptions/${rows[0]!.id}`));
    expect(detail).not.toContain('Retry now');
    expect(detail).toContain('Nothing to retry: the document is booked and never changes.');
    expect(detail).toContain('name="note"');
    await t.db.query(`UPDATE exceptions SET status = 'resolved', resolved_at = now() WHERE id = $1`, [rows[0]!.id]);
  });
});

describe('overview data', () => {
  it('ages receivables per currency and counts documents per hour, empty hours included', async () => {
    await seedCustomer(t.db, owner.entityId, 'C1', { creditDays: 0 });
    await postInvoice(owner, 'C1', '100.00', { invoiceDate: '2026-11-01' });
    await postInvoice(owner, 'C1', '10.00', { invoiceDate: '2026-06-01' });
    const [eur] = await receivablesAging(t.db, owner.entityId, '2026-11-15');
    expect(eur).toMatchObject({ currency: 'EUR', balance: 13310n, customers: 1 });
    expect(eur!.aging).toMatchObject({ current: 0n, days1to30: 12100n, over120: 1210n });

    // The aged debtors page: the same figures, by customer and in total, as at the date asked.
    const aged = html(await page('/aged-debtors?at=2026-11-15'));
    expect(aged).toContain('href="/customers/C1">C1</a>');
    expect(aged.match(/€133\.10/g)).toHaveLength(2); // the customer's balance and the EUR total
    expect(aged.match(/€121\.00/g)).toHaveLength(2); // 1–30 days
    expect(aged.match(/€12\.10/g)).toHaveLength(2); // over 120 days
    expect(aged).toContain('value="2026-11-15"');
    // The basis asked for is kept in the form (the API's tests hold the figures on each basis).
    const byDate = html(await page('/aged-debtors?at=2026-11-15&basis=transactionDate'));
    expect(byDate).toContain('<option value="transactionDate" selected');
    // Before anything was posted, nobody owes anything; a date that is not one is today's report.
    expect(html(await page('/aged-debtors?at=2026-01-01'))).toContain('No customer has anything open');
    const bad = await page('/aged-debtors?at=2026-02-30&basis=nonsense&page=-1');
    expect(bad.status).toBe(200);
    expect(html(bad)).toContain('<option value="dueDate" selected');

    const now = new Date('2026-12-02T14:20:00Z');
    await t.db.query(
      `INSERT INTO runs (pipeline_id, entity_id, trigger, status, counts, created_by, created_at, finished_at)
       VALUES ($1, $2, 'manual', 'succeeded', '{"createdInvoices": 5, "createdReceipts": 2, "createdCustomers": 9}', 'test', $3, $3)`,
      [pipelineId, owner.entityId, new Date('2026-12-02T12:30:00Z')],
    );
    const hours = await documentsPerHour(t.db, owner.entityId, now);
    expect(hours).toHaveLength(24);
    expect(hours.at(-1)!.hour).toBe('2026-12-02T14:00:00.000Z');
    expect(hours.find((h) => h.hour === '2026-12-02T12:00:00.000Z')!.documents).toBe(7);
    expect(hours.reduce((s, h) => s + h.documents, 0)).toBe(7);
  });
});
