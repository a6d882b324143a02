import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createTestApp, type Client, type TestApp } from './helpers/app.ts';
import { definePipeline } from './helpers/sync.ts';
import { syncServer, upload } from './helpers/uploads.ts';
import { addUser, signIn, type Browser } from './helpers/users.ts';

/*
 * The exceptions pages' answers to changes: no retry offered where a retry can only be refused (a
 * row of a file that could not be read holds no record), what to do said in the dashboard's words
 * with commands as code; a refusal replaces the notice before it, at the field it is about.
 */

let t: TestApp;
let app: FastifyInstance;
let club: Client;
let anna: Browser;
let unreadable: number; // IMPORT_ROW_INVALID: no record to send again
let parked: number[]; // waiting for a customer: retried, parked again

const FORM = { 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true' };
const html = (r: { body: unknown }) => String(r.body);
const form = (fields: [string, string][]) => new URLSearchParams(fields).toString();
const stored = async (id: number) =>
  (
    await t.db.query<{ status: string; attempts: number }>('SELECT status, attempts FROM exceptions WHERE id = $1', [
      id,
    ])
  ).rows[0]!;

beforeAll(async () => {
  t = await createTestApp({ passwordScryptLogN: 12 });
  app = await syncServer(t);
  club = await t.entity('EXW', 'EUR', { standardTaxRate: '0.21' });
  await definePipeline(t.db, 'EXW', { name: 'files', source: { type: 'file' } });
  const csv = [
    'invoice_reference,customer_id,invoice_date,currency,description,line_description,net_amount,vat_rate',
    'BAD-1,C-1,06/11/2026,EUR,Cap,Cap,10.00,0.21',
    'NEEDS-1,C-404,2026-11-06,EUR,Socks,Socks,5.00,0.21',
    'NEEDS-2,C-405,2026-11-06,EUR,Shirt,Shirt,6.00,0.21',
    '',
  ].join('\n');
  const imported = await upload(app, club.token, { pipeline: 'files' }, { name: 'club.csv', content: csv });
  expect(imported.status, JSON.stringify(imported.body)).toBe(200);
  const list = (await club.get('/v1/exceptions?status=open')).body.items as { id: number; reasonCode: string }[];
  unreadable = list.find((x) => x.reasonCode === 'IMPORT_ROW_INVALID')!.id;
  parked = list.filter((x) => x.reasonCode !== 'IMPORT_ROW_INVALID').map((x) => x.id);
  expect(parked).toHaveLength(2);
  const a = await addUser(t, club, 'anna@example.com', 'accountant');
  anna = await signIn(t, a.email, a.password);
});
afterAll(async () => {
  if (app !== t.app) await app.close();
  await t.close();
});

describe('exceptions that cannot be retried', () => {
  it('offers no retry for a row of a file that could not be read, and says what to do, commands as code', async () => {
    const page = html(await anna.request('GET', `/exceptions/${unreadable}`));
    expect(page).not.toContain('Retry now');
    expect(page).toContain(
      'Nothing to retry: this is line 2 of the file <code>club.csv</code>, which could not be read',
    );
    expect(page).toContain('<code>ledgerlink import FILE --pipeline files</code>');
    expect(page).toContain('<code>POST /v1/imports</code>');
    expect(page).not.toContain('`');
    // It can still be resolved with a note.
    expect(page).toContain('Resolve it with a note');

    const list = html(await anna.request('GET', '/exceptions'));
    expect(list).not.toContain(`id="select-${unreadable}"`);
    for (const id of parked) expect(list).toContain(`id="select-${id}"`);
    expect(list).toContain('<strong>Cannot be retried:</strong> correct the file and import it again.');
  });

  it('asked anyway (an old page), says so in its panel in the same words, not the API’s', async () => {
    const r = await anna.request('POST', `/exceptions/${unreadable}/retry`, '', FORM);
    expect(r.status).toBe(400);
    expect(r.headers['hx-retarget']).toBeUndefined();
    const panel = html(r);
    expect(panel).toMatch(/^<div id="exception-panel">/);
    expect(panel).toContain('<code>ledgerlink import FILE --pipeline files</code>');
    expect(panel).not.toContain('`');
    expect(panel).not.toContain('holds no record to send again');

    const bulk = await anna.request(
      'POST',
      '/exceptions/retry',
      form([
        ['id', String(unreadable)],
        ['id', String(parked[0])],
      ]),
      FORM,
    );
    expect(bulk.status).toBe(200);
    const results = html(bulk);
    expect(results).toContain('Retried 2: 0 went through, 2 still open.');
    expect(results).toMatch(
      new RegExp(`Exception ${unreadable}</a>: Nothing to retry: this is line 2 of the file <code>club.csv</code>`),
    );
    expect(results).toContain(`Exception ${parked[0]}</a>: parked again`);
    expect(results).not.toContain('`');
    // Nothing was run for it: still one attempt.
    expect((await stored(unreadable)).attempts).toBe(1);
  });
});

describe('a refusal replaces the notice before it, where it is about', () => {
  it('an empty note is said at the note, and the panel no longer shows the retry before it', async () => {
    const retried = html(await anna.request('POST', `/exceptions/${parked[1]}/retry`, '', FORM));
    expect(retried).toContain('Retried, but the record was parked again');
    const r = await anna.request('POST', `/exceptions/${parked[1]}/resolve`, form([['note', '   ']]), FORM);
    expect(r.status).toBe(400);
    expect(r.headers['hx-retarget']).toBeUndefined();
    const panel = html(r);
    expect(panel).toMatch(/^<div id="exception-panel">/);
    expect(panel).not.toContain('parked again');
    const note = /<textarea[^>]*id="resolve-note"[^>]*>/.exec(panel)?.[0] ?? '';
    expect(note).toContain('aria-invalid="true"');
    expect(note).toContain('aria-describedby="resolve-note-error"');
    expect(panel).toMatch(
      /id="resolve-note-error" class="field-error">Write a note saying why it is resolved \(for example, how it was booked\)<\/small>/,
    );
    expect((await stored(parked[1]!)).status).toBe('open');
  });

  it('a bulk retry with nothing selected is said in the list, in place of the results before it', async () => {
    const none = await anna.request('POST', '/exceptions/retry', form([['filter.status', 'open']]), FORM);
    expect(none.status).toBe(400);
    expect(none.headers['hx-retarget']).toBeUndefined();
    expect(html(none)).toMatch(/^<div id="exceptions-region">/);
    expect(html(none)).toContain('Select at least one exception to retry.');
    expect(html(none)).not.toContain('Retried');
    const again = html(await anna.request('POST', '/exceptions/retry', form([['id', String(parked[0])]]), FORM));
    expect(again).toContain('Retried 1: 0 went through, 1 still open.');
    expect(again).not.toContain('Select at least one');
  });
});

describe('a filter of the exceptions list that cannot be used', () => {
  const notice = (page: string) =>
    /<div class="notice notice-warning filter-problems"[\s\S]*?<\/div>/.exec(page)?.[0] ?? '';
  const listed = (page: string) => [...page.matchAll(/href="\/exceptions\/(\d+)">#/g)].map((m) => Number(m[1]));
  const open = async () => listed(html(await anna.request('GET', '/exceptions')));

  it('is said at its field and above the list, which is the list without it, never a silent other one', async () => {
    const all = await open();
    expect(all.sort()).toEqual([unreadable, ...parked].sort());
    for (const [query, field, said] of [
      [
        'status=closed',
        'status',
        'Status: “closed” is not a status (open, resolved or all); open exceptions are shown.',
      ],
      ['age=year', 'age', 'Age: “year” is not an age (day, week, older or month); exceptions of any age are shown.'],
      ['needs=bob', 'needs', 'Who acts: “bob” is not person or itself; exceptions are shown whoever acts.'],
      [
        'reason=customer_not_found',
        'reason',
        'Reason: “customer_not_found” is not a reason code (such as CUSTOMER_NOT_FOUND); exceptions of every reason are shown.',
      ],
      ['page=0', 'page', 'Page: “0” is not a page number; the first page is shown.'],
    ] as const) {
      const r = await anna.request('GET', `/exceptions?${query}`);
      expect(r.status, query).toBe(200);
      const page = html(r);
      expect(notice(page), query).toContain(said);
      if (field !== 'page') {
        expect(page, query).toMatch(
          new RegExp(`name="${field}"[^>]*aria-invalid="true" aria-describedby="${field}-problem"`),
        );
      }
      expect(listed(page).sort(), query).toEqual(all.sort());
    }
    // A good filter beside a bad one still narrows by the good one.
    const mixed = html(await anna.request('GET', '/exceptions?reason=IMPORT_ROW_INVALID&age=year'));
    expect(notice(mixed)).toContain('“year” is not an age');
    expect(listed(mixed)).toEqual([unreadable]);
    // A pipeline name holding a NUL matches nothing, and says so; one the entity does not have is refused.
    const nul = html(await anna.request('GET', '/exceptions?pipeline=fi%00les'));
    expect(notice(nul)).toContain(
      'holds a character no stored text has (a NUL or a broken one); nothing can match it.',
    );
    expect(listed(nul)).toEqual([]);
    const missing = await anna.request('GET', '/exceptions?pipeline=nope');
    expect(missing.status).toBe(404);
    expect(html(missing)).toContain('PIPELINE_NOT_FOUND');
    // Good filters: no notice.
    expect(notice(html(await anna.request('GET', '/exceptions?pipeline=files&status=all&needs=person')))).toBe('');
  });
});
