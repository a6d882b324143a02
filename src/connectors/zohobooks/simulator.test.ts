import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type ZohoBooksSimulator, startZohoBooksSimulator } from './simulator.ts';

/*
 * The simulated Zoho Books answers as Zoho documents it: errors as `{"code", "message"}` with the
 * HTTP status, 429 past the organisation's minute or day, 401 (code 57) without a valid
 * `Zoho-oauthtoken`, tokens from Zoho Accounts, duplicates and contract violations recorded.
 */

const CLIENT = { clientId: '1000.SIMTEST', clientSecret: 'sim-secret-0123456789' };
const ORG = '10234695';
let sim: ZohoBooksSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

function call(
  method: string,
  url: string,
  o: { token?: string; body?: string; type?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        headers: {
          ...(o.token ? { authorization: `Zoho-oauthtoken ${o.token}` } : {}),
          ...(o.body !== undefined ? { 'content-type': o.type ?? 'application/json' } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

async function start(limits = { perMinute: 3, perDay: 5, minuteMs: 60_000 }) {
  sim = await startZohoBooksSimulator({ ...CLIENT, organisations: { [ORG]: {} }, limits });
  const refresh = sim.issueRefreshToken();
  const form = new URLSearchParams({
    ...{ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret },
    grant_type: 'refresh_token',
    refresh_token: refresh,
  });
  const t = await call('POST', `${sim.tokenUrl}?${form.toString()}`);
  return { s: sim, refresh, token: String(t.body.access_token), answer: t };
}

describe('simulated Zoho Books', () => {
  it('Zoho Accounts: an access token of 3600 s for the refresh token; invalid_code once revoked', async () => {
    const { s, refresh, answer } = await start();
    expect(answer).toMatchObject({ status: 200, body: { token_type: 'Bearer', expires_in: 3600 } });
    s.revoke(refresh);
    const form = new URLSearchParams({
      client_id: CLIENT.clientId,
      client_secret: CLIENT.clientSecret,
      grant_type: 'refresh_token',
      refresh_token: refresh,
    });
    expect(await call('POST', `${s.tokenUrl}?${form.toString()}`)).toEqual({
      status: 200,
      body: { error: 'invalid_code' },
    });
  });

  it('refuses a missing token (401, code 57) and an unknown organisation, in Zoho’s body', async () => {
    const { s, token } = await start();
    expect(await call('GET', `${s.baseUrl}/invoices?organization_id=${ORG}`)).toEqual({
      status: 401,
      body: { code: 57, message: 'You are not authorized to perform this operation' },
    });
    const other = await call('GET', `${s.baseUrl}/invoices?organization_id=1`, { token });
    expect(other.status).toBe(400);
    expect(other.body.code).toEqual(expect.any(Number));
    expect(await call('GET', `${s.baseUrl}/invoices/42?organization_id=${ORG}`, { token })).toEqual({
      status: 404,
      body: { code: 1002, message: 'Invoice does not exist.' },
    });
  });

  it('answers 429 in Zoho’s body past the minute’s and the day’s limits, without Retry-After', async () => {
    const { s, token } = await start({ perMinute: 2, perDay: 3, minuteMs: 200 });
    const list = () => call('GET', `${s.baseUrl}/contacts?organization_id=${ORG}`, { token });
    expect((await list()).status).toBe(200);
    expect((await list()).status).toBe(200);
    const minute = await list();
    expect(minute).toMatchObject({
      status: 429,
      body: { code: 45, message: expect.stringMatching(/too many requests/) },
    });
    await new Promise((r) => setTimeout(r, 250));
    expect((await list()).status).toBe(200);
    await new Promise((r) => setTimeout(r, 250));
    expect(await list()).toMatchObject({ status: 429, body: { message: expect.stringMatching(/for a day/) } });
    expect(s.stats.rateRefused).toBe(2);
  });

  it('numbers invoices INV-000001 as drafts, records a customer’s duplicates by reference and requests outside the contract', async () => {
    const { s, token } = await start({ perMinute: 100, perDay: 100, minuteMs: 60_000 });
    const contact = await call('POST', `${s.baseUrl}/contacts?organization_id=${ORG}`, {
      token,
      body: '{"contact_name":"Ann","colour":"red"}',
    });
    expect(contact.status).toBe(201);
    const id = (contact.body.contact as { contact_id: string }).contact_id;
    const body = `{"customer_id":"${id}","reference_number":"R-1","date":"2026-11-02","line_items":[{"name":"x","rate":"10.00","quantity":1}]}`;
    const first = await call('POST', `${s.baseUrl}/invoices?organization_id=${ORG}`, { token, body });
    expect(first.body).toMatchObject({
      code: 0,
      invoice: { invoice_number: 'INV-000001', status: 'draft', total: 10 },
    });
    await call('POST', `${s.baseUrl}/invoices?organization_id=${ORG}`, { token, body });
    // Another customer's invoice under the same reference is its own, not a duplicate.
    const other = await call('POST', `${s.baseUrl}/contacts?organization_id=${ORG}`, {
      token,
      body: '{"contact_name":"Bob"}',
    });
    const bob = (other.body.contact as { contact_id: string }).contact_id;
    const theirs = await call('POST', `${s.baseUrl}/invoices?organization_id=${ORG}`, {
      token,
      body: `{"customer_id":"${bob}","reference_number":"R-1","date":"2026-11-02","line_items":[{"name":"x","rate":10.00,"quantity":1}]}`,
    });
    expect(theirs.status).toBe(201);
    expect(s.duplicates(ORG)).toEqual([`${ORG} invoice R-1 of ${id}`]);
    expect(s.violations).toEqual([
      { route: 'POST /contacts', problems: ['colour: not a field of this endpoint'] },
      { route: 'POST /invoices', problems: ['line_items[0].rate: not a JSON number'] },
      { route: 'POST /invoices', problems: ['line_items[0].rate: not a JSON number'] },
    ]);
  });

  it('refunds a payment’s unused amount: unused goes down, more than unused is refused in Zoho’s body, a lost answer is committed', async () => {
    const { s, token } = await start({ perMinute: 100, perDay: 100, minuteMs: 60_000 });
    const at = (path: string) => `${s.baseUrl}${path}?organization_id=${ORG}`;
    const contact = await call('POST', at('/contacts'), { token, body: '{"contact_name":"Ann"}' });
    const customer = (contact.body.contact as { contact_id: string }).contact_id;
    const paid = await call('POST', at('/customerpayments'), {
      token,
      body: `{"customer_id":"${customer}","amount":100.00,"date":"2026-11-02","reference_number":"P-1","invoices":[]}`,
    });
    const payment = (paid.body.payment as { payment_id: string }).payment_id;
    const refund = (ref: string, amount: string) =>
      call('POST', at(`/customerpayments/${payment}/refunds`), {
        token,
        body: `{"date":"2026-11-09","refund_mode":"banktransfer","reference_number":"${ref}","amount":${amount},"from_account_id":"9"}`,
      });
    const unused = async () =>
      ((await call('GET', at(`/customerpayments/${payment}`), { token })).body.payment as { unused_amount: number })
        .unused_amount;

    const first = await refund('RF-1', '30.00');
    expect(first).toMatchObject({
      status: 201,
      body: { code: 0, payment_refund: { payment_id: payment, reference_number: 'RF-1', amount: 30 } },
    });
    expect(await unused()).toBe(70);
    expect(await refund('RF-2', '70.01')).toEqual({
      status: 400,
      body: { code: 24020, message: 'The amount to be refunded is more than the unused amount of the payment.' },
    });
    expect(await unused()).toBe(70);

    s.dropNext(1, (r) => r.route.endsWith('/refunds'));
    await expect(refund('RF-3', '25.50')).rejects.toThrow();
    expect(await unused()).toBe(44.5);
    const listed = await call('GET', at(`/customerpayments/${payment}/refunds`), { token });
    expect((listed.body.payment_refunds as { reference_number: string }[]).map((r) => r.reference_number)).toEqual([
      'RF-1',
      'RF-3',
    ]);
    // Sent twice under one reference: the simulator tells.
    await refund('RF-3', '1.00');
    expect(s.duplicates(ORG)).toEqual([`${ORG} refund RF-3 of ${customer}`]);
    // No field outside the contract; a refund without the account it is paid from is refused.
    const bare = await call('POST', at(`/customerpayments/${payment}/refunds`), {
      token,
      body: '{"date":"2026-11-09","amount":1.00}',
    });
    expect(bare.status).toBe(400);
    expect(s.violations).toEqual([
      { route: `POST /customerpayments/${payment}/refunds`, problems: ['from_account_id: required'] },
    ]);
  });
});
