import { afterEach, describe, expect, it } from 'vitest';
import { type FreshBooksSimulator, startFreshBooksSimulator } from './simulator.ts';

/*
 * The simulated FreshBooks answers as FreshBooks documents it: errors as
 * `{"response": {"errors": [{"errno", "field", "message"}]}}` with the HTTP status, 401 (errno
 * 1003) without a valid Bearer token, 404 (errno 1012) for what does not exist, 429 past the
 * account's minute, single-use refresh tokens, the businesses of the identity, and duplicates and
 * contract violations recorded.
 */

const CLIENT = { clientId: 'fb-sim-client', clientSecret: 'fb-sim-secret-0123456789' };
const ACC = 'xZ12ab';
let sim: FreshBooksSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function call(method: string, url: string, o: { token?: string; body?: string; form?: string } = {}) {
  const res = await fetch(url, {
    method,
    headers: {
      ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(o.form !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    body: o.body ?? o.form,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const grant = (refresh: string) =>
  new URLSearchParams({
    ...{ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret },
    grant_type: 'refresh_token',
    refresh_token: refresh,
  }).toString();

async function start(limits = { perMinute: 1000, minuteMs: 60_000 }) {
  sim = await startFreshBooksSimulator({ ...CLIENT, accounts: { [ACC]: { name: 'Sim Ltd' } }, limits });
  const refresh = sim.issueRefreshToken();
  const t = await call('POST', sim.tokenUrl, { form: grant(refresh) });
  return { s: sim, refresh, token: String(t.body.access_token), answer: t };
}

describe('simulated FreshBooks', () => {
  it('token endpoint: 12-hour Bearer tokens, a new refresh token each time, each refresh token used once', async () => {
    const { s, refresh, answer } = await start();
    expect(answer).toMatchObject({ status: 200, body: { token_type: 'Bearer', expires_in: 43200 } });
    const next = String(answer.body.refresh_token);
    expect(next).not.toBe(refresh);
    expect(await call('POST', s.tokenUrl, { form: grant(refresh) })).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
    expect((await call('POST', s.tokenUrl, { form: grant(next) })).status).toBe(200);
    const exchange = new URLSearchParams({
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
      grant_type: 'authorization_code',
      code: s.issueCode(),
    });
    expect((await call('POST', s.tokenUrl, { form: exchange.toString() })).status).toBe(200);
  });

  it('refuses a missing token (401, errno 1003) and what does not exist (404, errno 1012); names the businesses at /users/me', async () => {
    const { s, token } = await start();
    const base = `${s.baseUrl}/accounting/account/${ACC}`;
    expect(await call('GET', `${base}/invoices/invoices`)).toMatchObject({
      status: 401,
      body: { response: { errors: [{ errno: 1003 }] } },
    });
    expect(await call('GET', `${base}/invoices/invoices/42`, { token })).toEqual({
      status: 404,
      body: { response: { errors: [{ errno: 1012, field: 'invoiceid', message: 'Invoice not found.' }] } },
    });
    expect(await call('GET', `${s.baseUrl}/auth/api/v1/users/me`, { token })).toMatchObject({
      status: 200,
      body: { response: { business_memberships: [{ business: { name: 'Sim Ltd', account_id: ACC } }] } },
    });
  });

  it('answers 429 in FreshBooks’ error body past the account’s minute', async () => {
    const { s, token } = await start({ perMinute: 2, minuteMs: 200 });
    const list = () => call('GET', `${s.baseUrl}/accounting/account/${ACC}/users/clients`, { token });
    expect((await list()).status).toBe(200);
    expect((await list()).status).toBe(200);
    expect(await list()).toMatchObject({ status: 429, body: { response: { errors: [{ errno: 429 }] } } });
    await new Promise((r) => setTimeout(r, 250));
    expect((await list()).status).toBe(200);
    expect(s.stats.rateRefused).toBe(1);
  });

  it('numbers invoices as drafts, takes payments only once sent, records a client’s duplicates by reference and requests outside the contract', async () => {
    const { s, token } = await start();
    const base = `${s.baseUrl}/accounting/account/${ACC}`;
    const client = await call('POST', `${base}/users/clients`, {
      token,
      body: '{"client":{"organization":"Ann","colour":"red"}}',
    });
    const id = (client.body.response as { result: { client: { id: number } } }).result.client.id;
    const body = `{"invoice":{"customerid":${id},"create_date":"2026-11-02","po_number":"R-1","currency_code":"EUR","lines":[{"name":"x","qty":1,"unit_cost":{"amount":10,"code":"EUR"}}]}}`;
    const first = await call('POST', `${base}/invoices/invoices`, { token, body });
    const inv = (
      first.body.response as { result: { invoice: { id: number; invoice_number: string; v3_status: string } } }
    ).result.invoice;
    expect(inv).toMatchObject({ invoice_number: '0000001', v3_status: 'draft' });
    const pay = `{"payment":{"invoiceid":${inv.id},"amount":{"amount":"5.00","code":"EUR"},"date":"2026-11-03","type":"Cash"}}`;
    expect(await call('POST', `${base}/payments/payments`, { token, body: pay })).toMatchObject({ status: 400 });
    await call('PUT', `${base}/invoices/invoices/${inv.id}`, {
      token,
      body: '{"invoice":{"action_mark_as_sent":true}}',
    });
    expect((await call('POST', `${base}/payments/payments`, { token, body: pay })).status).toBe(200);
    expect(s.account(ACC).invoices.get(String(inv.id))!.outstanding).toBe(500n);
    await call('POST', `${base}/invoices/invoices`, { token, body });
    // Another client's invoice under the same reference is its own, not a duplicate.
    const other = await call('POST', `${base}/users/clients`, { token, body: '{"client":{"organization":"Bob"}}' });
    const bob = (other.body.response as { result: { client: { id: number } } }).result.client.id;
    const theirs = await call('POST', `${base}/invoices/invoices`, {
      token,
      body: `{"invoice":{"customerid":${bob},"create_date":"2026-11-02","po_number":"R-1","currency_code":"EUR","lines":[{"name":"x","qty":1,"unit_cost":{"amount":"10.00","code":"EUR"}}]}}`,
    });
    expect(theirs.status).toBe(200);
    expect(s.duplicates(ACC)).toEqual([`${ACC} invoice R-1 of client ${id}`]);
    expect(s.violations).toEqual([
      { route: 'POST /users/clients', problems: ['client.colour: not a field of this endpoint'] },
      {
        route: 'POST /invoices/invoices',
        problems: ['invoice.lines[0].unit_cost: not a money object with a decimal string amount'],
      },
      {
        route: 'POST /invoices/invoices',
        problems: ['invoice.lines[0].unit_cost: not a money object with a decimal string amount'],
      },
    ]);
  });

  it('keeps expenses in categories, refusing a deleted category and a missing staff member; a fee booked twice is a duplicate', async () => {
    const { s, token } = await start();
    const base = `${s.baseUrl}/accounting/account/${ACC}`;
    const categories = (
      (await call('GET', `${base}/expenses/categories`, { token })).body.response as {
        result: { categories: { categoryid: number; category: string; parentid: number | null; is_cogs: boolean }[] };
      }
    ).result.categories;
    const bankFees = categories.find((c) => c.category === 'Bank Fees')!;
    const other = categories.find((c) => c.category === 'Other Expenses')!;
    expect(bankFees.parentid).toBe(other.categoryid);
    const expense = (fields: string) =>
      call('POST', `${base}/expenses/expenses`, {
        token,
        body: `{"expense":{"date":"2026-11-05","amount":{"amount":"2.50","code":"EUR"},"notes":"fee\\nledgerlink-ref: P-1"${fields}}}`,
      });
    expect(await expense(`,"categoryid":${bankFees.categoryid}`)).toMatchObject({
      status: 400,
      body: { response: { errors: [{ errno: 1001, field: 'staffid' }] } },
    });
    expect(await expense(`,"categoryid":999999,"staffid":1`)).toMatchObject({
      status: 400,
      body: { response: { errors: [{ errno: 2001, field: 'categoryid' }] } },
    });
    const made = await expense(`,"categoryid":${bankFees.categoryid},"staffid":1`);
    expect(made.body.response).toMatchObject({ result: { expense: { amount: { amount: '2.50', code: 'EUR' } } } });
    const listed = (
      (
        await call('GET', `${base}/expenses/expenses?search[date_min]=2026-11-05&search[date_max]=2026-11-06`, {
          token,
        })
      ).body.response as { result: { expenses: unknown[] } }
    ).result.expenses;
    expect(listed).toHaveLength(1);
    expect(s.duplicates(ACC)).toEqual([]);
    await expense(`,"categoryid":${bankFees.categoryid},"staffid":1`);
    expect(s.duplicates(ACC)).toEqual([`${ACC} expense P-1 (fee | ledgerlink-ref: P-1)`]);
    // The expense without its staff member broke the contract (the SDK's Expense requires staffId).
    expect(s.violations).toEqual([{ route: 'POST /expenses/expenses', problems: ['expense.staffid: required'] }]);
  });
});
