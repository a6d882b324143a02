import { afterAll, describe, expect, it } from 'vitest';
import { type XeroSimulator, type XeroSimulatorOptions, startXeroSimulator } from '../src/connectors/xero/simulator.ts';

/*
 * The simulated Xero itself behaves as Xero does where the connector's tests rely on it: limits
 * answered with 429 and its headers, validation errors inside a 200, Idempotency-Key replays, the
 * tenant header, its error body. Spoken to with plain fetch, not through the connector.
 */

const sims: XeroSimulator[] = [];
afterAll(async () => {
  for (const s of sims) await s.close();
});

async function start(o: XeroSimulatorOptions = {}) {
  const s = await startXeroSimulator(o);
  sims.push(s);
  return s;
}

function call(s: XeroSimulator, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  return fetch(`${s.url}${path}`, {
    method,
    headers: {
      authorization: 'Bearer token',
      'xero-tenant-id': s.tenantId,
      'content-type': 'application/json',
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

describe('simulated Xero', () => {
  it('answers 429 with Retry-After and X-Rate-Limit-Problem past the minute limit, remaining headers on every answer', async () => {
    const s = await start({ limits: { perMinute: 3, minuteMs: 60_000 } });
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await call(s, 'GET', '/TaxRates'));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(answers.map((a) => a.headers.get('x-minlimit-remaining'))).toEqual(['2', '1', '0', '0']);
    expect(answers[0]!.headers.get('x-daylimit-remaining')).toBe('4999');
    expect(answers[0]!.headers.get('x-appminlimit-remaining')).toBe('9999');
    expect(answers[3]!.headers.get('x-rate-limit-problem')).toBe('minute');
    expect(Number(answers[3]!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(s.stats.rateLimitedBy.minute).toBe(1);
  });

  it('refuses a sixth call in flight (concurrent) and records the most in flight', async () => {
    const s = await start({ limits: { concurrent: 2 }, latencyMs: 100 });
    const statuses = await Promise.all(
      [...Array(4).keys()].map(() => call(s, 'GET', '/Accounts').then((a) => a.status)),
    );
    expect(statuses.filter((x) => x === 429)).toHaveLength(2);
    expect(s.maxConcurrency()).toBe(2);
    expect(s.stats.rateLimitedBy.concurrent).toBe(2);
  });

  it('requires xero-tenant-id and a bearer token', async () => {
    const s = await start();
    expect((await call(s, 'GET', '/Contacts', undefined, { 'xero-tenant-id': 'nope' })).status).toBe(403);
    expect((await call(s, 'GET', '/Contacts', undefined, { authorization: '' })).status).toBe(401);
  });

  it('with summarizeErrors=false, a 200 holds each element’s ValidationErrors; Idempotency-Key replays the first answer', async () => {
    const s = await start();
    const contacts = {
      Contacts: [
        { Name: 'Acme', ContactNumber: 'A1' },
        { Name: 'Acme', ContactNumber: 'A2' },
      ],
    };
    const first = await call(s, 'PUT', '/Contacts?summarizeErrors=false', contacts, { 'Idempotency-Key': 'k-1' });
    expect(first.status).toBe(200);
    const body = (await first.json()) as {
      Contacts: { HasErrors?: boolean; ValidationErrors?: { Message: string }[] }[];
    };
    expect(body.Contacts[0]!.HasErrors).toBeUndefined();
    expect(body.Contacts[1]!.HasErrors).toBe(true);
    expect(body.Contacts[1]!.ValidationErrors![0]!.Message).toMatch(/already assigned to another contact/);
    const again = await call(s, 'PUT', '/Contacts?summarizeErrors=false', contacts, { 'Idempotency-Key': 'k-1' });
    expect(await again.json()).toEqual(body);
    expect(s.tenant().contacts.size).toBe(1);
    expect(s.stats.replays).toBe(1);
  });

  it('answers a refused request in Xero’s error format, and filters lists with where', async () => {
    const s = await start();
    const bad = await call(s, 'PUT', '/Invoices', { Invoices: [{ Type: 'ACCREC', LineItems: [] }] });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({
      ErrorNumber: 10,
      Type: 'ValidationException',
      Elements: [
        {
          ValidationErrors: [
            { Message: expect.stringMatching(/Contact/) as unknown },
            { Message: expect.stringMatching(/line item/) as unknown },
          ],
        },
      ],
    });
    await call(s, 'PUT', '/Contacts?summarizeErrors=false', {
      Contacts: [
        { Name: 'B', ContactNumber: 'N"1' },
        { Name: 'C', ContactNumber: 'N2' },
      ],
    });
    const found = (await (
      await call(s, 'GET', `/Contacts?where=${encodeURIComponent('(ContactNumber=="N\\"1" OR ContactNumber=="X")')}`)
    ).json()) as {
      Contacts: { Name: string }[];
    };
    expect(found.Contacts.map((c) => c.Name)).toEqual(['B']);
    expect((await call(s, 'GET', `/Contacts?where=${encodeURIComponent('Name.Contains("B")')}`)).status).toBe(400);
  });
});
