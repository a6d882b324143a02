import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type MyobSimulator, startMyobSimulator } from './simulator.ts';

/*
 * The simulated MYOB answers as MYOB documents it: errors as `{"Errors": [{Name, Message,
 * AdditionalDetails, ErrorCode, Severity}]}`, 401 without a valid bearer token or the company
 * file's credentials, 403 RateLimitError past the API key's second or day, 201 with a Location
 * for a write, OData `$filter` on lists; duplicates and contract violations recorded.
 */

const CLIENT = { clientId: 'sim-api-key', clientSecret: 'sim-secret-0123456789' };
const FILE = '11111111-2222-4333-8444-555555555555';
const CF = Buffer.from('Administrator:pw').toString('base64');
let sim: MyobSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

type Answer = { status: number; headers: http.IncomingHttpHeaders; body: unknown };

function call(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : null });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function start(limits = { perSecond: 3, perDay: 1000 }) {
  sim = await startMyobSimulator({
    ...CLIENT,
    companyFiles: { [FILE]: { credentials: { user: 'Administrator', password: 'pw' } } },
    limits,
  });
  const refresh = sim.issueRefreshToken();
  const form = new URLSearchParams({
    ...{ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret },
    grant_type: 'refresh_token',
    refresh_token: refresh,
  });
  const t = await call('POST', sim.tokenUrl, { 'content-type': 'application/x-www-form-urlencoded' }, form.toString());
  const token = String((t.body as { access_token: string }).access_token);
  const headers = {
    authorization: `Bearer ${token}`,
    'x-myobapi-key': CLIENT.clientId,
    'x-myobapi-version': 'v2',
    'x-myobapi-cftoken': CF,
  };
  return { s: sim, refresh, token, answer: t, headers, at: (p: string) => `${sim!.baseUrl}/${FILE}/${p}` };
}

describe('simulated MYOB', () => {
  it('the token endpoint: 1200 s access tokens and a new refresh token; the spent one is refused (invalid_grant)', async () => {
    const { s, refresh, answer } = await start();
    expect(answer).toMatchObject({ status: 200, body: { token_type: 'bearer', expires_in: '1200' } });
    const next = (answer.body as { refresh_token: string }).refresh_token;
    expect(next).not.toBe(refresh);
    const again = new URLSearchParams({
      ...{ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret },
      grant_type: 'refresh_token',
      refresh_token: refresh,
    });
    expect(await call('POST', s.tokenUrl, {}, again.toString())).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant' },
    });
  });

  it('refuses a missing token (401), a missing API key (403) and wrong company file credentials (401), in MYOB’s body', async () => {
    const { headers, at } = await start();
    expect(await call('GET', at('Contact/Customer'), { ...headers, authorization: 'Bearer nope' })).toMatchObject({
      status: 401,
      body: { Errors: [{ Name: 'OAuthTokenIsInvalid', Severity: 'Error' }] },
    });
    expect(await call('GET', at('Contact/Customer'), { ...headers, 'x-myobapi-key': '' })).toMatchObject({
      status: 403,
      body: { Errors: [{ Name: 'DeveloperInactive', Message: 'API key is missing or inactive' }] },
    });
    expect(await call('GET', at('Contact/Customer'), { ...headers, 'x-myobapi-cftoken': 'eDp5' })).toMatchObject({
      status: 401,
      body: { Errors: [{ Name: 'InvalidCredentials', AdditionalDetails: 'Header: x-myobapi-cftoken' }] },
    });
  });

  it('answers 403 RateLimitError past the key’s calls a second', async () => {
    const { s, headers, at } = await start({ perSecond: 2, perDay: 1000 });
    const list = () => call('GET', at('GeneralLedger/TaxCode'), headers);
    expect((await list()).status).toBe(200);
    expect((await list()).status).toBe(200);
    expect(await list()).toMatchObject({
      status: 403,
      body: { Errors: [{ Name: 'RateLimitError', AdditionalDetails: 'Header: x-myobapi-key' }] },
    });
    expect(s.stats.rateRefused).toBe(1);
  });

  it('answers a write 201 with its Location, numbers sales 00000001, filters lists, records duplicates and violations', async () => {
    const { s, headers, at } = await start({ perSecond: 100, perDay: 1000 });
    const json = { ...headers, 'content-type': 'application/json' };
    const tax = (await call('GET', at('GeneralLedger/TaxCode'), headers)).body as {
      Items: { UID: string; Code: string }[];
    };
    const gst = tax.Items.find((t) => t.Code === 'GST')!.UID;
    const accounts = (await call('GET', at("GeneralLedger/Account?$filter=DisplayID eq '4-1000'"), headers)).body as {
      Items: { UID: string }[];
    };
    expect(accounts.Items).toHaveLength(1);
    const card = await call(
      'POST',
      at('Contact/Customer'),
      json,
      JSON.stringify({
        CompanyName: 'Ann',
        IsIndividual: false,
        DisplayID: 'ANN',
        SellingDetails: { TaxCode: { UID: gst }, FreightTaxCode: { UID: gst } },
        Colour: 'red',
      }),
    );
    expect(card.status).toBe(201);
    const customer = /([0-9a-f-]{36})$/.exec(String(card.headers.location))![1]!;
    const sale = `{"Date":"2026-11-02T00:00:00","Customer":{"UID":"${customer}"},"CustomerPurchaseOrderNumber":"R-1","Lines":[{"Type":"Transaction","Total":"10.00","Account":{"UID":"${accounts.Items[0]!.UID}"},"TaxCode":{"UID":"${gst}"}}]}`;
    const first = await call('POST', at('Sale/Invoice/Service'), json, sale);
    expect(first.status).toBe(201);
    const read = await call('GET', String(first.headers.location), headers);
    expect(read.body).toMatchObject({
      Number: '00000001',
      TotalAmount: 11,
      BalanceDueAmount: 11,
      CustomerPurchaseOrderNumber: 'R-1',
    });
    await call('POST', at('Sale/Invoice/Service'), json, sale);
    const found = (await call('GET', at("Sale/Invoice/Service?$filter=CustomerPurchaseOrderNumber eq 'r-1'"), headers))
      .body as { Items: unknown[] };
    expect(found.Items).toHaveLength(2);
    expect(s.duplicates(FILE)).toEqual([`${FILE} sale R-1 of customer ${customer}`]);
    expect(s.violations).toEqual([
      { route: 'POST Contact/Customer', problems: ['Colour: not a field of this endpoint'] },
      { route: 'POST Sale/Invoice/Service', problems: ['Lines[0].Total: not a JSON number'] },
      { route: 'POST Sale/Invoice/Service', problems: ['Lines[0].Total: not a JSON number'] },
    ]);
  });

  it('refuses a sale before the financial year and an unknown customer in MYOB’s words', async () => {
    const { s, headers, at } = await start({ perSecond: 100, perDay: 1000 });
    s.file(FILE).financialYearStart = '2026-07-01';
    const json = { ...headers, 'content-type': 'application/json' };
    const body = (date: string, customer: string) =>
      `{"Date":"${date}T00:00:00","Customer":{"UID":"${customer}"},"Lines":[{"Type":"Transaction","Total":1}]}`;
    expect(await call('POST', at('Sale/Invoice/Service'), json, body('2026-11-02', FILE))).toMatchObject({
      status: 400,
      body: { Errors: [{ Name: 'NotFound', ErrorCode: 150 }] },
    });
    const card = await call('POST', at('Contact/Customer'), json, '{"CompanyName":"Bo","IsIndividual":false}');
    const customer = /([0-9a-f-]{36})$/.exec(String(card.headers.location))![1]!;
    expect(await call('POST', at('Sale/Invoice/Service'), json, body('2026-01-02', customer))).toMatchObject({
      status: 400,
      body: { Errors: [{ Name: 'DatePriorToBeginningOfFinancialYear', ErrorCode: 25008 }] },
    });
  });

  it('keeps spend money out of a bank account, refusing another pay-from account, a header line and a line without a tax code; a fee spent twice is a duplicate', async () => {
    const { s, headers, at } = await start({ perSecond: 100, perDay: 1000 });
    const json = { ...headers, 'content-type': 'application/json' };
    const accounts = (await call('GET', at('GeneralLedger/Account'), headers)).body as {
      Items: {
        UID: string;
        DisplayID: string;
        Classification: string;
        Type: string;
        TaxCode: { Code: string } | null;
      }[];
    };
    const account = (id: string) => accounts.Items.find((a) => a.DisplayID === id)!;
    // The default chart's Bank Fees: an expense, its default tax code FRE.
    expect(account('6-1100')).toMatchObject({ Classification: 'Expense', Type: 'Expense', TaxCode: { Code: 'FRE' } });
    expect(account('1-1110')).toMatchObject({ Classification: 'Asset', Type: 'Bank', TaxCode: null });
    const fre = (
      (await call('GET', at("GeneralLedger/TaxCode?$filter=Code eq 'FRE'"), headers)).body as {
        Items: { UID: string }[];
      }
    ).Items[0]!.UID;
    const spend = (from: string, line: Record<string, unknown>) =>
      call(
        'POST',
        at('Banking/SpendMoneyTxn'),
        json,
        `{"PayFrom":"Account","Account":{"UID":"${account(from).UID}"},"Date":"2026-11-20T00:00:00","IsTaxInclusive":true,"Memo":"P-1","Lines":[${JSON.stringify(line).replace('"AMOUNT"', '2.5')}]}`,
      );
    const line = { Account: { UID: account('6-1100').UID }, TaxCode: { UID: fre }, Amount: 'AMOUNT', Memo: 'fee' };
    const made = await spend('1-1110', line);
    expect(made.status).toBe(201);
    expect((await call('GET', String(made.headers.location), headers)).body).toMatchObject({
      PaymentNumber: '00000001',
      PayFrom: 'Account',
      Account: { DisplayID: '1-1110' },
      AmountPaid: 2.5,
      TotalTax: 0,
      Memo: 'P-1',
      Lines: [{ Account: { DisplayID: '6-1100' }, Amount: 2.5, Memo: 'fee' }],
    });
    expect(await spend('6-1100', line)).toMatchObject({
      status: 400,
      body: { Errors: [{ Name: 'ValidationError', Message: expect.stringMatching(/bank or credit card/) }] },
    });
    expect(await spend('1-1110', { ...line, TaxCode: undefined })).toMatchObject({
      status: 400,
      body: { Errors: [{ Name: 'Required', Message: 'TaxCode is required', ErrorCode: 100 }] },
    });
    const listed = (await call('GET', at("Banking/SpendMoneyTxn?$filter=Memo eq 'P-1'"), headers)).body as {
      Items: unknown[];
    };
    expect(listed.Items).toHaveLength(1);
    expect(s.duplicates(FILE)).toEqual([]);
    // The same memo with another line memo (another customer's fee) is none; the same twice is one.
    expect((await spend('1-1110', { ...line, Memo: 'other' })).status).toBe(201);
    expect(s.duplicates(FILE)).toEqual([]);
    expect((await spend('1-1110', line)).status).toBe(201);
    expect(s.duplicates(FILE)).toEqual([`${FILE} spend money P-1 (fee)`]);
    expect(s.violations).toEqual([]);
  });
});
